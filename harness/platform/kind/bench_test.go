package kind

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
	"github.com/cutover/cutover/harness/platform/local"
	"github.com/cutover/cutover/internal/testsupport"
)

// BenchmarkKindCreateToReady creates kind clusters from the node image
// `make kind-image` builds and reports the time from the first node
// container to the control plane's Ready (kind's own wait), side by side
// for a control plane alone and for the default shape (a control plane and
// a worker). Run it under the machine lock: it loads both cores.
func BenchmarkKindCreateToReady(b *testing.B) {
	cli := dockerOrSkip(b)
	nodeImage := nodeImageOrSkip(b, cli)
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"control-plane", Options{ControlPlaneOnly: true}},
		{"control-plane+worker", Options{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var total time.Duration
			n := 0
			for b.Loop() {
				opts := bc.opts
				opts.ClusterName = clusterName("bench")
				opts.NodeImage = nodeImage
				opts.Addr = loopbackAddr(b)
				p, err := New(opts)
				require.NoError(b, err)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				took, err := p.Up(ctx)
				cancel()
				require.NoError(b, p.Close(context.Background()))
				require.NoError(b, err)
				total += took
				n++
			}
			b.ReportMetric(total.Seconds()/float64(n), "s/create-to-ready")
		})
	}
}

// BenchmarkTargetOverhead is the latency a kind target adds to a request
// against the local target, side by side in one run: the same test service
// (two replicas) behind the local platform's load balancer, and as a
// Deployment on a kind cluster of the default shape reached through the
// control plane's port mapping (docker-proxy, the NodePort, kube-proxy's
// rules, possibly a hop to the worker). One op is one GET over a kept-alive
// connection, sent one at a time; the figures are per request.
func BenchmarkTargetOverhead(b *testing.B) {
	cli := dockerOrSkip(b)
	nodeImage := nodeImageOrSkip(b, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin := testsupport.ServiceBinary(b)
	image := testsupport.ServiceImage(b, cli)

	lp, err := local.New(local.Options{Addr: loopbackAddr(b)})
	require.NoError(b, err)
	defer lp.Close(context.Background())
	require.NoError(b, lp.Deploy(ctx, platform.ServiceSpec{Name: "testsvc", Command: []string{bin}}, 2))

	kp, err := New(Options{ClusterName: clusterName("overhead"), NodeImage: nodeImage, Addr: loopbackAddr(b), Manifest: kube.Manifest{Namespace: "cutover-bench"}})
	require.NoError(b, err)
	defer kp.Close(context.Background())
	require.NoError(b, kp.Deploy(ctx, platform.ServiceSpec{Name: "testsvc", Image: image}, 2))

	for _, bc := range []struct {
		name     string
		endpoint string
	}{{"local", lp.Endpoint()}, {"kind", kp.Endpoint()}} {
		b.Run(bc.name, func(b *testing.B) {
			c := &http.Client{Timeout: 5 * time.Second}
			get := func() {
				resp, err := c.Get("http://" + bc.endpoint + "/")
				require.NoError(b, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				require.Equal(b, http.StatusOK, resp.StatusCode)
			}
			for range 50 { // warm the connection and the path
				get()
			}
			for b.Loop() {
				get()
			}
		})
	}
}
