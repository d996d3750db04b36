package heroku

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover/cutover/harness/stats"
	"github.com/cutover/cutover/internal/testsupport"
)

// BenchmarkRouterOverhead calls one real dyno doing a small, realistic
// request (decode JSON, hash, ~1 ms stand-in for a database round trip,
// encode JSON) directly, through the router, and through the standard
// library's httputil.ReverseProxy (the cost of one more loopback hop with
// no Heroku logic), in turn, and reports the percentiles of each, the
// router's p50 and p99 as ratios to the direct call's (p50/direct,
// p99/direct: the table checks DESIGN's harness-path target by them) and the
// reverse proxy's added share. It takes at least 1500 samples of each,
// whatever b.N.
func BenchmarkRouterOverhead(b *testing.B) {
	app := benchApp(b)
	dyno := app.Replicas()[0].Addr
	direct := "http://" + dyno + "/work"
	routed := "http://" + app.Endpoint() + "/work"
	rpListener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	rp := &http.Server{Handler: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: dyno})}
	go func() { _ = rp.Serve(rpListener) }()
	defer rp.Close()
	proxied := "http://" + rpListener.Addr().String() + "/work"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	const body = `{"customer":{"source_id":"cust_0042"},"order":{"amount":2500,"items":[{"sku":"A1","quantity":2}]},"metadata":{"channel":"web"}}`
	call := func(url string) time.Duration {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		began := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		took := time.Since(began)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: status %d", url, resp.StatusCode)
		}
		return took
	}
	took := testsupport.SideBySide(b, 50, 1500,
		func() time.Duration { return call(direct) },
		func() time.Duration { return call(routed) },
		func() time.Duration { return call(proxied) })
	d, r, p := took[0], took[1], took[2]
	pct := func(s []time.Duration, q float64) float64 {
		return float64(stats.Quantile(s, q)) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(d, 0.50), "direct_p50_ms")
	b.ReportMetric(pct(d, 0.99), "direct_p99_ms")
	b.ReportMetric(pct(r, 0.50), "router_p50_ms")
	b.ReportMetric(pct(r, 0.99), "router_p99_ms")
	b.ReportMetric(pct(p, 0.50), "revproxy_p50_ms")
	b.ReportMetric(pct(p, 0.99), "revproxy_p99_ms")
	b.ReportMetric(pct(r, 0.50)/pct(d, 0.50), "p50/direct")
	b.ReportMetric(pct(r, 0.99)/pct(d, 0.99), "p99/direct")
	b.ReportMetric(100*(pct(p, 0.50)-pct(d, 0.50))/pct(d, 0.50), "revproxy_added_p50_%")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRouterThroughput sends the same number of small requests from
// 32 concurrent clients to one dyno directly and through the router (which
// logs every request), and reports both rates and their ratio. It sends at
// least 10000 requests each way, whatever b.N.
func BenchmarkRouterThroughput(b *testing.B) {
	app := benchApp(b)
	const workers = 32
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	n := max(b.N, 10000)
	run := func(url string) float64 {
		var wg sync.WaitGroup
		var failed atomic.Int64
		jobs := make(chan struct{}, n)
		for range n {
			jobs <- struct{}{}
		}
		close(jobs)
		began := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range jobs {
					resp, err := client.Get(url)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			b.Fatalf("%s: %d of %d requests failed", url, f, n)
		}
		return float64(n) / time.Since(began).Seconds()
	}
	b.ResetTimer()
	direct := run("http://" + app.Replicas()[0].Addr + "/")
	routed := run("http://" + app.Endpoint() + "/")
	b.StopTimer()
	b.ReportMetric(direct, "direct_req/s")
	b.ReportMetric(routed, "router_req/s")
	b.ReportMetric(routed/direct, "router/direct")
	b.ReportMetric(0, "ns/op")
}

// benchApp is an app with one dyno of the test service, logging every
// request (to nowhere), closed when the benchmark ends.
func benchApp(b *testing.B) *App {
	b.Helper()
	app, err := New(Options{Seed: 1, Log: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Deploy(ctx, spec(nil), 1); err != nil {
		b.Fatal(err)
	}
	return app
}
