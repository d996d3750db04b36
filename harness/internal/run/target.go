package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/kind"
	"github.com/cutover/cutover/harness/platform/kubeconfig"
	"github.com/cutover/cutover/harness/platform/local"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/stack/docker"
	"github.com/cutover/cutover/internal/proc"
)

// newTarget makes the destination platform the scenario (or --target)
// names, listening on the target's loopback address and the shared port.
func (r *rehearsal) newTarget(ctx context.Context, log io.Writer, runner proc.Runner) (platform.Platform, error) {
	addr := netip.AddrPortFrom(targetAddr, uint16(r.port)).String()
	switch r.p.scn.Target {
	case "local":
		return local.New(local.Options{
			Addr:   addr,
			Egress: targetEgress.String(),
			Runner: runner,
			// Probes as an ALB health check tuned for a cutover: fast
			// enough that a replica joins within seconds.
			Readiness:           local.Probe{Period: time.Second, Timeout: time.Second, FailureThreshold: 2},
			Liveness:            local.Probe{Period: 2 * time.Second, Timeout: time.Second, FailureThreshold: 3},
			TerminationGrace:    25 * time.Second,
			DeregistrationDelay: 5 * time.Second,
			Log:                 log,
		})
	case "kind":
		if _, ok := r.stack.(*docker.Stack); !ok && r.p.scn.Service.Image == "" {
			return nil, errors.New("target kind runs the service image in Kubernetes pods: use --infra docker (which builds it) or name an image in service.image")
		}
		// Pods reach the stack, the target's fault links and the partner
		// through the platform's relay on the kind network's gateway,
		// leaving from the target's egress address as local replicas do.
		return kind.New(kind.Options{
			ClusterName: r.p.scn.AWS.KindCluster,
			Reuse:       r.p.scn.AWS.KindCluster != "",
			Addr:        addr,
			Keep:        r.p.scn.AWS.KeepCluster,
			Egress:      targetEgress.String(),
			LogDir:      r.folder.Path(report.TargetLogsDir),
			Log:         log,
		})
	case "kubeconfig":
		// The stack is relayed from aws.stack_host; the target's address
		// forwards to the Service, as a load balancer in front of the
		// cluster would.
		a := r.p.scn.AWS
		return kubeconfig.New(kubeconfig.Options{
			Kubeconfig:  a.Kubeconfig,
			Context:     a.KubeContext,
			StackHost:   a.StackHost,
			Egress:      targetEgress.String(),
			Addr:        addr,
			Endpoint:    a.Endpoint,
			ServiceType: corev1.ServiceType(a.ServiceType),
			Log:         log,
		})
	}
	return nil, fmt.Errorf("unknown target %q", r.p.scn.Target)
}
