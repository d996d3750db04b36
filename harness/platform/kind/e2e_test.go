package kind

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kind/pkg/cluster"

	"github.com/cutover/cutover/internal/testsupport"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
)

// nodeImageOrSkip returns the node image the tests use (DefaultNodeImage,
// or CUTOVER_KIND_NODE_IMAGE) or skips when the local engine lacks it.
func nodeImageOrSkip(t testing.TB, cli *client.Client) string {
	t.Helper()
	image := os.Getenv("CUTOVER_KIND_NODE_IMAGE")
	if image == "" {
		image = DefaultNodeImage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		t.Skipf("kind node image %s is not in the local Docker engine (`make kind-image` builds it): %v", image, err)
	}
	return image
}

// clusterName is a name for a test's kind cluster; tests delete only
// clusters of this prefix they created.
func clusterName(kind string) string {
	return fmt.Sprintf("cutover-kindtest-%s-%d", kind, time.Now().UnixNano()%1000000)
}

// loopbackAddr is a free address on 127.0.0.3 for the extraPortMapping.
func loopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.3:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// load sends GETs through check every 20 ms until stopped (at most 20000)
// and counts what failed.
type load struct {
	sent, failed atomic.Int64
	stop         chan struct{}
	wg           sync.WaitGroup
	mu           sync.Mutex
	errs         []string
}

func startLoad(check func() error) *load {
	l := &load{stop: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for range 20000 {
			select {
			case <-l.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			l.sent.Add(1)
			if err := check(); err != nil {
				l.failed.Add(1)
				l.mu.Lock()
				if len(l.errs) < 5 {
					l.errs = append(l.errs, err.Error())
				}
				l.mu.Unlock()
			}
		}
	}()
	return l
}

func (l *load) Stop(t *testing.T, during string) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	require.Positive(t, l.sent.Load())
	require.Zero(t, l.failed.Load(), "failed %d of %d requests during %s: %v", l.failed.Load(), l.sent.Load(), during, l.errs)
	t.Logf("%s: %d requests, none failed", during, l.sent.Load())
}

// getTestService GETs / of the test service at endpoint and checks it
// answered from its pod's port.
func getTestService(endpoint string) error {
	resp, err := http.Get("http://" + endpoint + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "port=8080") {
		return fmt.Errorf("status %d: %q", resp.StatusCode, b)
	}
	return nil
}

// requireKillReplaced deletes the first of p's two pods and requires two
// others up within two minutes, with the kill in the log.
func requireKillReplaced(ctx context.Context, t *testing.T, p interface {
	platform.ReplicaKiller
	Replicas() []platform.Replica
}, log *testsupport.SyncBuffer) {
	t.Helper()
	victim := p.Replicas()[0].Name
	require.NoError(t, p.KillReplica(ctx, victim))
	require.Eventually(t, func() bool {
		up := 0
		for _, r := range p.Replicas() {
			if r.State == platform.Up && r.Name != victim {
				up++
			}
		}
		return up == 2
	}, 2*time.Minute, time.Second, "two replicas up besides %s", victim)
	require.Contains(t, log.String(), "pod/"+victim+": Kill")
}

// TestKindEndToEnd creates a kind cluster of the default shape (a control
// plane and a worker) from the node image `make kind-image` builds, loads
// an image of the test service into it, deploys it, and runs every
// Kubernetes fault with traffic through the extraPortMapping: pod delete,
// rolling restart, scale, node drain (the PodDisruptionBudget honoured),
// cordon and uncordon. Each fault leaves its evidence in the event log.
func TestKindEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a kind cluster (minutes); skipped with -short")
	}
	cli := dockerOrSkip(t)
	nodeImage := nodeImageOrSkip(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	image := testsupport.ServiceImage(t, cli)

	var log testsupport.SyncBuffer
	name := clusterName("e2e")
	p, err := New(Options{
		ClusterName: name,
		NodeImage:   nodeImage,
		Addr:        loopbackAddr(t),
		LogDir:      t.TempDir(),
		Log:         &log,
		Manifest: kube.Manifest{
			Namespace:        "cutover-e2e",
			Readiness:        kube.Probe{Period: time.Second, FailureThreshold: 1},
			TerminationGrace: 10 * time.Second,
			PreStopSleep:     2 * time.Second,
		},
	})
	require.NoError(t, err)
	closed := false
	defer func() {
		if !closed {
			_ = p.Close(context.Background())
		}
		if t.Failed() {
			t.Logf("event log:\n%s", log.String())
		}
	}()

	spec := platform.ServiceSpec{Name: "testsvc", Image: image, Env: map[string]string{"READY_DELAY": "2s", "SHUTDOWN_DELAY": "1s"}}
	require.NoError(t, p.Deploy(ctx, spec, 2))
	require.Len(t, p.Replicas(), 2)
	cs := p.Kube().Client()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 2, "a control plane and a worker")
	for _, n := range nodes.Items {
		require.True(t, kube.NodeReady(&n), "node %s Ready", n.Name)
		require.False(t, n.Spec.Unschedulable)
	}
	// The cluster's DNS serves: CoreDNS, built with the plugins a kind
	// cluster uses (images/kind/coredns), turns ready only once its
	// kubernetes plugin has synced with the API server.
	require.Eventually(t, func() bool {
		d, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
		return err == nil && d.Status.Replicas > 0 && d.Status.AvailableReplicas == d.Status.Replicas
	}, 3*time.Minute, 2*time.Second, "CoreDNS available")
	get := func() error { return getTestService(p.Endpoint()) }
	require.NoError(t, get())

	requireKillReplaced(ctx, t, p, &log)

	// A rolling restart under steady load fails no request.
	l := startLoad(get)
	require.NoError(t, p.Restart(ctx, ""))
	l.Stop(t, "the rolling restart")
	require.Contains(t, log.String(), "RollingRestart")

	// Scale up, then drain the node running most pods: its pods are
	// evicted through the PodDisruptionBudget (one at a time) and
	// rescheduled on the other node, and no request fails meanwhile.
	require.NoError(t, p.Scale(ctx, 3))
	require.Len(t, p.Replicas(), 3)
	before := podNodes(ctx, t, p)
	l = startLoad(get)
	node, err := p.DrainNode(ctx, "")
	require.NoError(t, err)
	l.Stop(t, "the node drain")
	after := podNodes(ctx, t, p)
	require.Len(t, after, 3)
	evicted := 0
	for pod, n := range before {
		if n == node {
			evicted++
			require.Contains(t, log.String(), "pod/"+pod+": Evicted: evicted from node "+node)
		}
	}
	require.Positive(t, evicted, "the drained node ran pods: %v", before)
	for pod, n := range after {
		require.NotEqual(t, node, n, "pod %s rescheduled off the drained node", pod)
	}
	if evicted > 1 {
		// maxUnavailable 1: the second eviction waits for a replacement.
		require.Contains(t, log.String(), "Warning EvictionBlocked")
	}
	require.True(t, unschedulable(ctx, t, p, node), "a drained node stays cordoned")
	require.NoError(t, p.Uncordon(ctx, node))
	require.False(t, unschedulable(ctx, t, p, node))

	// Cordon: pods stay, and new pods go to the other node.
	other := ""
	for _, n := range nodes.Items {
		if n.Name != node {
			other = n.Name
		}
	}
	require.NoError(t, p.Cordon(ctx, other))
	require.True(t, unschedulable(ctx, t, p, other))
	require.NoError(t, p.Scale(ctx, 4))
	for pod, n := range podNodes(ctx, t, p) {
		if _, old := after[pod]; !old {
			require.Equal(t, node, n, "new pod %s avoids the cordoned node", pod)
		}
	}
	require.NoError(t, p.Uncordon(ctx, other))
	require.Contains(t, log.String(), "node/"+other+": Cordon")
	require.Contains(t, log.String(), "node/"+other+": Uncordon")

	require.NoError(t, p.Scale(ctx, 1))
	require.NoError(t, get())
	require.Contains(t, log.String(), "Started")
	require.Contains(t, log.String(), ": Ready")

	require.NoError(t, p.Close(ctx))
	closed = true
	clusters, err := cluster.NewProvider(cluster.ProviderWithDocker()).List()
	require.NoError(t, err)
	require.False(t, slices.Contains(clusters, name), "cluster deleted at Close")
}

// podNodes maps the service's pods to their nodes, from the API server.
func podNodes(ctx context.Context, t *testing.T, p *Platform) map[string]string {
	t.Helper()
	list, err := p.Kube().Client().CoreV1().Pods(p.Kube().Namespace()).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	out := map[string]string{}
	for _, pod := range list.Items {
		if pod.DeletionTimestamp == nil {
			out[pod.Name] = pod.Spec.NodeName
		}
	}
	return out
}

func unschedulable(ctx context.Context, t *testing.T, p *Platform, node string) bool {
	t.Helper()
	n, err := p.Kube().Client().CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	require.NoError(t, err)
	return n.Spec.Unschedulable
}
