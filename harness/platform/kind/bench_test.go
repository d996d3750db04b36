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
	"github.com/cutover/cutover/harness/stats"
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
// rules, possibly a hop to the worker). Each iteration sends one GET over
// a kept-alive connection to each target, one at a time, rotating the
// order; there are at least 2000 iterations whatever b.N, so `make bench`
// (-benchtime 1x) gets percentiles of both. (It timed one request a side
// under `make bench` until 2026-12-06: its kind/local ratio read 1.06 one
// day, 1.78 the next and 0.45 the day after.)
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

	localURL, kindURL := "http://"+lp.Endpoint()+"/", "http://"+kp.Endpoint()+"/"
	c := &http.Client{Timeout: 5 * time.Second}
	get := func(url string) time.Duration {
		began := time.Now()
		resp, err := c.Get(url)
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(began)
		require.Equal(b, http.StatusOK, resp.StatusCode)
		return took
	}
	took := testsupport.SideBySide(b, 50, 2000,
		func() time.Duration { return get(localURL) },
		func() time.Duration { return get(kindURL) })
	var p50, p99 [2]time.Duration
	for k := range took {
		p50[k], p99[k] = stats.Quantile(took[k], 0.50), stats.Quantile(took[k], 0.99)
	}
	µs := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(µs(p50[0]), "local-p50-µs")
	b.ReportMetric(µs(p99[0]), "local-p99-µs")
	b.ReportMetric(µs(p50[1]), "kind-p50-µs")
	b.ReportMetric(µs(p99[1]), "kind-p99-µs")
	b.ReportMetric(float64(p50[1])/float64(p50[0]), "kind/local-p50")
	b.ReportMetric(float64(p99[1])/float64(p99[0]), "kind/local-p99")
}
