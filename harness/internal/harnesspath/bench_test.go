package harnesspath

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness/internal/dnsmodel"
	"github.com/cutover/cutover/harness/internal/weights"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/heroku"
	"github.com/cutover/cutover/harness/route53"
	"github.com/cutover/cutover/harness/stack/stacktest"
	"github.com/cutover/cutover/harness/stats"
	"github.com/cutover/cutover/internal/testsupport"
)

// The names and addresses of the weighted pair, as a rehearsal sets them
// before its first step: heroku 100, aws 0.
const (
	zone   = "coupons.example.com."
	record = "api.coupons.example.com."
	code   = "HARNESS-PATH-1"
)

var (
	herokuAddr = netip.MustParseAddr("127.0.0.2")
	awsAddr    = netip.MustParseAddr("127.0.0.3")
)

// BenchmarkHarnessPath times one request of a rehearsal along the harness
// path against the same request sent directly, in turn, and reports both
// latencies' p50 and p99 and their ratios (p50/direct is DESIGN's target,
// ≤ 1.10), the p50 the harness path adds in ms, and the p50 ratios of two
// partial paths that take it apart (proxy: the dyno called straight, its
// Postgres behind the fault proxy; router: through the router without the
// DNS query, as for a client with a cached answer).
//
// The harness path: ask the Route53 emulator's DNS server for the service
// name (every request gets its own weighted answer, as a client whose
// resolver cache has expired: the most the DNS step can cost; a rehearsal's
// clients mostly answer from their cache), send GET /v1/vouchers/{code} to
// the address it names, where the simulated Heroku router (Router 2.0,
// logging each request to a file as a run does) passes it to a dyno running
// the couponapi binary, which checks the credentials and reads the voucher
// from Postgres through the embedded stack's heroku->postgres Toxiproxy link.
//
// The direct call: the same GET, on the same HTTP client, to a second
// couponapi process of the same binary that reads Postgres directly.
//
// Each iteration sends one request along each path, rotating the order;
// there are at least 1500 iterations whatever b.N.
func BenchmarkHarnessPath(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st := stacktest.Embedded(b)
	ep := st.Endpoints()
	bin := couponapitest.Binary(b)

	// Route53: the weighted pair through the real SDK, as the run sets it.
	r53, err := route53.Start(ctx, route53.Options{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = r53.Close() })
	wc, err := weights.New(ctx, weights.Config{Endpoint: r53.URL(), AccessKeyID: "bench", SecretAccessKey: "bench", PollInterval: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := wc.Apply(ctx, zone, record, 10*time.Second, []weights.Target{
		{SetID: platform.Heroku, Addr: herokuAddr, Weight: 100},
		{SetID: platform.Target, Addr: awsAddr, Weight: 0},
	}); err != nil {
		b.Fatal(err)
	}
	dns := dnsmodel.NewDNSSource(r53.DNSAddr(), record, false)

	// Heroku: the router and one dyno whose data services are behind
	// heroku's fault proxies.
	urls, err := ep.For(platform.Heroku)
	if err != nil {
		b.Fatal(err)
	}
	proxied := ep
	proxied.PostgresURL, proxied.RedisURL, proxied.MongoURL = urls.PostgresURL, urls.RedisURL, urls.MongoURL
	logFile, err := os.Create(filepath.Join(b.TempDir(), "heroku.log"))
	if err != nil {
		b.Fatal(err)
	}
	log := bufio.NewWriterSize(logFile, 32<<10)
	app, err := heroku.New(heroku.Options{Addr: netip.AddrPortFrom(herokuAddr, 0).String(), Seed: 1, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = app.Close(context.Background())
		_ = log.Flush()
		_ = logFile.Close()
	})
	spec := platform.ServiceSpec{Name: "couponapi", Command: []string{bin}, Env: couponapitest.Env(proxied, nil)}
	if err := app.Deploy(ctx, spec, 1); err != nil {
		b.Fatal(err)
	}
	_, routerPort, err := net.SplitHostPort(app.Endpoint())
	if err != nil {
		b.Fatal(err)
	}

	// Direct: the same binary, reading the stack directly.
	direct := couponapitest.StartProcess(b, bin, ep, nil)
	if _, err := direct.Client.CreateVoucher(ctx, couponapitest.Voucher(code, 0, 500)); err != nil {
		b.Fatal(err)
	}
	directURL := direct.URL + api.VoucherPath(code)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	seq := 0
	get := func(url string) (int, error) {
		seq++
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set(api.HeaderAppID, couponapitest.AppID)
		req.Header.Set(api.HeaderAppToken, couponapitest.AppToken)
		req.Header.Set(api.HeaderRequestID, fmt.Sprintf("harness-path-bench-%08d", seq))
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	resolve := func() (string, error) {
		a, err := dns.Resolve(ctx, time.Now(), 0)
		if err != nil {
			return "", err
		}
		if a.Addr != herokuAddr {
			return "", fmt.Errorf("dns answered %s, want heroku's %s", a.Addr, herokuAddr)
		}
		return net.JoinHostPort(a.Addr.String(), routerPort), nil
	}
	viaHarness := func() (int, error) {
		addr, err := resolve()
		if err != nil {
			return 0, err
		}
		return get("http://" + addr + api.VoucherPath(code))
	}
	// The paths, the first the baseline and the last the whole harness
	// path; the two between take the harness path apart: the dyno straight
	// (its Postgres through the fault proxy, no router) and the router
	// without the DNS query (a client with a cached answer).
	paths := []struct {
		name string
		call func() (int, error)
	}{
		{"direct", func() (int, error) { return get(directURL) }},
		{"proxy", func() (int, error) { return get("http://" + app.Replicas()[0].Addr + api.VoucherPath(code)) }},
		{"router", func() (int, error) { return get("http://" + app.Endpoint() + api.VoucherPath(code)) }},
		{"path", viaHarness},
	}
	timed := func(call func() (int, error)) time.Duration {
		began := time.Now()
		status, err := call()
		took := time.Since(began)
		if err != nil {
			b.Fatal(err)
		}
		if status != http.StatusOK {
			b.Fatalf("status %d", status)
		}
		return took
	}

	// The dyno answers 503 until its migrations are done.
	deadline := time.Now().Add(time.Minute)
	for {
		status, err := viaHarness()
		if err == nil && status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the dyno never answered 200 through the router: status %d, %v", status, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	calls := make([]func() time.Duration, len(paths))
	for k, p := range paths {
		calls[k] = func() time.Duration { return timed(p.call) }
	}
	took := testsupport.SideBySide(b, 100, 1500, calls...)
	p50 := make([]float64, len(paths))
	p99 := make([]float64, len(paths))
	for k, p := range paths {
		p50[k] = float64(stats.Quantile(took[k], 0.50)) / float64(time.Millisecond)
		p99[k] = float64(stats.Quantile(took[k], 0.99)) / float64(time.Millisecond)
		b.ReportMetric(p50[k], p.name+"_p50_ms")
		b.ReportMetric(p99[k], p.name+"_p99_ms")
	}
	last := len(paths) - 1
	b.ReportMetric(p50[last]-p50[0], "added_p50_ms")
	b.ReportMetric(p50[last]/p50[0], "p50/direct")
	b.ReportMetric(p99[last]/p99[0], "p99/direct")
	b.ReportMetric(p50[1]/p50[0], "proxy_p50/direct")
	b.ReportMetric(p50[2]/p50[0], "router_p50/direct")
	b.ReportMetric(0, "ns/op") // n need not be b.N: the time per b.N says nothing
}
