package local

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cutover/cutover/harness/report"
)

// BenchmarkLoadBalancerOverhead measures, side by side in one run, the
// latency of a request sent straight to a replica and of the same request
// through the load balancer to that same replica (the only one), and
// reports p50 and p99 of both and their ratios (p50/direct, p99/direct: the
// table checks DESIGN's harness-path target by them). Each iteration sends
// one request each way, alternating which goes first; there are at least
// 1500 iterations whatever b.N, so `make bench` (-benchtime 1x) gets
// percentiles too.
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
	direct := "http://" + p.Replicas()[0].Addr + "/"
	viaLB := "http://" + p.Endpoint() + "/"
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
	for range 200 { // warm both paths' connections
		do(direct)
		do(viaLB)
	}
	n := max(b.N, 1500)
	directLat := make([]time.Duration, 0, n)
	lbLat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range n {
		if i%2 == 0 {
			directLat = append(directLat, do(direct))
			lbLat = append(lbLat, do(viaLB))
		} else {
			lbLat = append(lbLat, do(viaLB))
			directLat = append(directLat, do(direct))
		}
	}
	b.StopTimer()
	slices.Sort(directLat)
	slices.Sort(lbLat)
	dp50, dp99 := report.Quantile(directLat, 0.50), report.Quantile(directLat, 0.99)
	lp50, lp99 := report.Quantile(lbLat, 0.50), report.Quantile(lbLat, 0.99)
	b.ReportMetric(micros(dp50), "direct-p50-µs")
	b.ReportMetric(micros(dp99), "direct-p99-µs")
	b.ReportMetric(micros(lp50), "lb-p50-µs")
	b.ReportMetric(micros(lp99), "lb-p99-µs")
	b.ReportMetric(float64(lp50)/float64(dp50), "p50/direct")
	b.ReportMetric(float64(lp99)/float64(dp99), "p99/direct")
	b.ReportMetric(0, "ns/op") // n need not be b.N: the time per b.N says nothing
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
