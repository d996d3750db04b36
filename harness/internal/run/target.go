package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

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
		if _, ok := r.stack.(*docker.Stack); !ok {
			return nil, errors.New("target kind runs the service image in Kubernetes pods: use --infra docker (the image comes from its build, and pods reach the stack on the kind network)")
		}
		return kind.New(kind.Options{
			ClusterName: r.p.scn.AWS.KindCluster,
			Reuse:       r.p.scn.AWS.KindCluster != "",
			Addr:        addr,
			Keep:        r.p.scn.AWS.KeepCluster,
			LogDir:      r.folder.Path(report.TargetLogsDir),
			Log:         log,
		})
	case "kubeconfig":
		return kubeconfig.New(kubeconfig.Options{
			Kubeconfig: r.p.scn.AWS.Kubeconfig,
			Context:    r.p.scn.AWS.KubeContext,
			Log:        log,
		})
	}
	return nil, fmt.Errorf("unknown target %q", r.p.scn.Target)
}
