package kind

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kind/pkg/cluster"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/kube"
)

// TestKindEndToEnd creates a three-node kind cluster, loads an image of
// the test service into it, deploys, and runs every fault with traffic
// through the extraPortMapping. It needs the node image in the local
// Docker engine (this machine cannot pull one): set
// CUTOVER_KIND_NODE_IMAGE to use another image than kind's default.
func TestKindEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a kind cluster (minutes); skipped with -short")
	}
	cli := dockerOrSkip(t)
	nodeImage := os.Getenv("CUTOVER_KIND_NODE_IMAGE")
	if nodeImage == "" {
		nodeImage = DefaultNodeImage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, nodeImage); err != nil {
		t.Skipf("kind node image %s is not present locally (docker image inspect: %v); pull or load it to run this test", nodeImage, err)
	}

	// The service image: the test service, static, on scratch.
	bin := filepath.Join(t.TempDir(), "testsvc")
	build := exec.Command("go", "build", "-o", bin, "github.com/cutover/cutover/harness/platform/internal/testsvc")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	body, err := os.ReadFile(bin)
	require.NoError(t, err)
	image := fmt.Sprintf("cutover-test/testsvc:e2e-%d", time.Now().Unix())
	buildImage(t, cli, image, "FROM scratch\nCOPY testsvc /testsvc\nENTRYPOINT [\"/testsvc\"]\n", map[string][]byte{"testsvc": body})

	l, err := net.Listen("tcp", "127.0.0.3:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	var log syncBuffer
	name := fmt.Sprintf("cutover-e2e-%d", time.Now().Unix()%100000)
	p, err := New(Options{
		ClusterName: name,
		NodeImage:   nodeImage,
		Workers:     2,
		Addr:        addr,
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
	}()

	spec := platform.ServiceSpec{Name: "testsvc", Image: image, Env: map[string]string{"READY_DELAY": "2s", "SHUTDOWN_DELAY": "1s"}}
	require.NoError(t, p.Deploy(ctx, spec, 2))
	require.Len(t, p.Replicas(), 2)
	get := func() error {
		resp, err := http.Get("http://" + p.Endpoint() + "/")
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
	require.NoError(t, get())

	// A killed pod is replaced.
	victim := p.Replicas()[0].Name
	require.NoError(t, p.KillReplica(ctx, victim))
	require.Eventually(t, func() bool {
		rs := p.Replicas()
		up := 0
		for _, r := range rs {
			if r.State == platform.Up && r.Name != victim {
				up++
			}
		}
		return up == 2
	}, 2*time.Minute, time.Second)

	// A rolling restart under steady load fails no request.
	var sent, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20000; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			sent.Add(1)
			if err := get(); err != nil {
				failed.Add(1)
			}
		}
	}()
	require.NoError(t, p.Restart(ctx, ""))
	close(stop)
	wg.Wait()
	require.Positive(t, sent.Load())
	require.Zero(t, failed.Load(), "failed %d of %d requests during the rolling restart", failed.Load(), sent.Load())

	require.NoError(t, p.Scale(ctx, 3))
	require.Len(t, p.Replicas(), 3)
	node, err := p.DrainNode(ctx, "")
	require.NoError(t, err)
	require.NotEqual(t, name+"-control-plane", node)
	require.NoError(t, p.Scale(ctx, 1))
	require.NoError(t, get())
	require.Contains(t, log.String(), "Started")

	require.NoError(t, p.Close(ctx))
	closed = true
	clusters, err := cluster.NewProvider(cluster.ProviderWithDocker()).List()
	require.NoError(t, err)
	require.False(t, slices.Contains(clusters, name), "cluster deleted at Close")
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
