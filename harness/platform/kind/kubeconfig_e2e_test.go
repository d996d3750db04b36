package kind

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kind/pkg/cluster"

	"github.com/cutover/cutover/internal/testsupport"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
	"github.com/cutover/cutover/harness/platform/kubeconfig"
)

// TestKubeconfigEndToEnd runs the kubeconfig platform against a cluster
// reached only through a kubeconfig file and an explicitly named context:
// it deploys the test service in a namespace of its own, kills a pod,
// restarts the Deployment under steady load (no request may fail), scales
// it, and checks that Close deletes the namespace.
//
// The cluster is a kind cluster the test creates (a control plane and a
// worker, from the node image `make kind-image` builds), used through its
// own kubeconfig and context "kind-NAME" exactly as a user's cluster
// would be; the Service is a NodePort the cluster maps to a loopback
// address. It lives in this package, not in kubeconfig's, so that it runs
// in the same `go test` process as the other kind tests and never creates
// a second cluster beside theirs on a small machine.
//
// On the cluster it created, the test then deploys through the kind
// target with the cluster reused (scenario aws.kind_cluster) and a target
// address other than the cluster's own mapping: the front door forwards
// that address to the mapping, and Close leaves the cluster in place.
//
// CUTOVER_TEST_KUBE_CONTEXT (with CUTOVER_TEST_IMAGE, an image of
// internal/testsupport's service the cluster can pull, and optionally
// CUTOVER_TEST_KUBECONFIG and CUTOVER_TEST_ENDPOINT) runs the same test
// against a cluster of your own instead, through a LoadBalancer Service.
func TestKubeconfigEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a kind cluster (minutes); skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	opts := kubeconfig.Options{
		Kubeconfig: os.Getenv("CUTOVER_TEST_KUBECONFIG"),
		Context:    os.Getenv("CUTOVER_TEST_KUBE_CONTEXT"),
		Endpoint:   os.Getenv("CUTOVER_TEST_ENDPOINT"),
		Manifest: kube.Manifest{
			Readiness:        kube.Probe{Period: time.Second, FailureThreshold: 1},
			TerminationGrace: 10 * time.Second,
			PreStopSleep:     2 * time.Second,
		},
	}
	image := os.Getenv("CUTOVER_TEST_IMAGE")
	var log testsupport.SyncBuffer
	reused := func(*testing.T) {}
	if opts.Context == "" {
		cli := dockerOrSkip(t)
		nodeImage := nodeImageOrSkip(t, cli)
		image = testsupport.ServiceImage(t, cli)
		name := clusterName("kubeconfig")
		addr := loopbackAddr(t)
		kc, err := New(Options{ClusterName: name, NodeImage: nodeImage, Addr: addr, LogDir: t.TempDir(), Log: &log})
		require.NoError(t, err)
		defer func() {
			require.NoError(t, kc.Close(context.Background()))
		}()
		_, err = kc.Up(ctx)
		require.NoError(t, err)
		require.NoError(t, kc.Load(ctx, image))
		opts.Kubeconfig, opts.Context, opts.Endpoint = kc.KubeconfigPath(), "kind-"+name, addr
		opts.ServiceType = corev1.ServiceTypeNodePort
		reused = func(t *testing.T) { requireReusedClusterFrontDoor(ctx, t, name, image) }
	} else if image == "" {
		t.Fatal("CUTOVER_TEST_KUBE_CONTEXT is set but CUTOVER_TEST_IMAGE is not: name an image of the test service the cluster can pull")
	}
	opts.Log = &log
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", log.String())
		}
	}()

	p, err := kubeconfig.New(opts)
	require.NoError(t, err)
	closed := false
	defer func() {
		if !closed {
			_ = p.Close(context.Background())
		}
	}()
	spec := platform.ServiceSpec{Name: "testsvc", Image: image, Env: map[string]string{"READY_DELAY": "2s", "SHUTDOWN_DELAY": "1s"}}
	require.NoError(t, p.Deploy(ctx, spec, 2))
	require.Len(t, p.Replicas(), 2)
	ns := p.Namespace()
	require.True(t, strings.HasPrefix(ns, "cutover-"), "a namespace of its own, not %q", ns)

	get := func() error { return getTestService(p.Endpoint()) }
	require.NoError(t, get(), "the service answers through %s", p.Endpoint())

	// Pod delete: the killed pod is replaced.
	requireKillReplaced(ctx, t, p, &log)

	// A rolling restart under steady load fails no request.
	l := startLoad(get)
	require.NoError(t, p.Restart(ctx, ""))
	l.Stop(t, "the rolling restart")
	require.Contains(t, log.String(), "RollingRestart")

	require.NoError(t, p.Scale(ctx, 3))
	require.Len(t, p.Replicas(), 3)

	closed = true
	require.NoError(t, p.Close(ctx))
	_, err = p.Client().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "namespace %s deleted, got %v", ns, err)

	t.Run("kind target reusing the cluster", reused)
}

// requireReusedClusterFrontDoor deploys image through the kind target
// into the existing cluster name, with a target address on another
// loopback address than the cluster's port mapping: it must answer on
// that address, and Close must leave the cluster.
func requireReusedClusterFrontDoor(ctx context.Context, t *testing.T, name, image string) {
	l, err := net.Listen("tcp", "127.0.0.4:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	var log testsupport.SyncBuffer
	p, err := New(Options{ClusterName: name, Reuse: true, Addr: addr, Log: &log})
	require.NoError(t, err)
	closed := false
	defer func() {
		if !closed {
			_ = p.Close(context.Background())
		}
		if t.Failed() {
			t.Logf("log:\n%s", log.String())
		}
	}()
	require.NoError(t, p.Deploy(ctx, platform.ServiceSpec{Name: "testsvc", Image: image}, 1))
	require.Equal(t, addr, p.Endpoint())
	mapped := p.Kube().Endpoint()
	require.NotEqual(t, addr, mapped, "the cluster maps its node port elsewhere")
	require.Contains(t, log.String(), "FrontDoor")
	require.NoError(t, getTestService(addr), "the service answers through the front door %s", addr)

	closed = true
	require.NoError(t, p.Close(ctx))
	clusters, err := cluster.NewProvider(cluster.ProviderWithDocker()).List()
	require.NoError(t, err)
	require.Contains(t, clusters, name, "a reused cluster is not ours to delete")
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "the front door closed with the platform")
}
