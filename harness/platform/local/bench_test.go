package local

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cutover/cutover/harness/stats"
	"github.com/cutover/cutover/internal/testsupport"
)

// BenchmarkLoadBalancerOverhead measures, side by side in one run, the
// latency of a request sent straight to a replica and of the same request
// through the load balancer to that same replica (the only one), for two
// requests:
//
//   - a realistic service call of about 1 ms (the replica waits 1 ms, the
//     time of a database round trip, then answers): DESIGN's target is
//     stated against such a call, and the table checks it by p50/direct
//     (≤ 1.10);
//   - a no-op call (the replica answers at once), reported as information
//     (noop_p50/direct): what one more loopback hop costs in absolute terms
//     (lb_added_noop_p50_µs), which a call that does nothing magnifies.
//
// Each iteration sends every request each way, rotating the order; there
// are at least 1500 iterations whatever b.N, so `make bench` (-benchtime
// 1x) gets percentiles too.
func BenchmarkLoadBalancerOverhead(b *testing.B) {
	p, err := New(fastOptions(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Deploy(ctx, spec(nil), 1); err != nil {
		b.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	direct := "http://" + p.Replicas()[0].Addr
	viaLB := "http://" + p.Endpoint()
	const work, noop = "/?sleep=1ms", "/"
	urls := []string{direct + work, viaLB + work, direct + noop, viaLB + noop}
	do := func(url string) time.Duration {
		start := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: status %d", url, resp.StatusCode)
		}
		return time.Since(start)
	}
	calls := make([]func() time.Duration, len(urls))
	for k, u := range urls {
		calls[k] = func() time.Duration { return do(u) }
	}
	took := testsupport.SideBySide(b, 200, 1500, calls...)
	p50 := make([]time.Duration, len(urls))
	p99 := make([]time.Duration, len(urls))
	for k := range urls {
		p50[k], p99[k] = stats.Quantile(took[k], 0.50), stats.Quantile(took[k], 0.99)
	}
	b.ReportMetric(micros(p50[0]), "direct-p50-µs")
	b.ReportMetric(micros(p99[0]), "direct-p99-µs")
	b.ReportMetric(micros(p50[1]), "lb-p50-µs")
	b.ReportMetric(micros(p99[1]), "lb-p99-µs")
	b.ReportMetric(float64(p50[1])/float64(p50[0]), "p50/direct")
	b.ReportMetric(float64(p99[1])/float64(p99[0]), "p99/direct")
	b.ReportMetric(micros(p50[2]), "direct-noop-p50-µs")
	b.ReportMetric(micros(p50[3]), "lb-noop-p50-µs")
	b.ReportMetric(micros(p50[3]-p50[2]), "lb_added_noop_p50_µs")
	b.ReportMetric(float64(p50[3])/float64(p50[2]), "noop_p50/direct")
	b.ReportMetric(0, "ns/op") // n need not be b.N: the time per b.N says nothing
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
