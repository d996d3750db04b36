package dnsmodel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/internal/dnsmodel"
	"github.com/cutover/cutover/harness/internal/weights"
	r53 "github.com/cutover/cutover/harness/route53"
)

var (
	creds     = r53.Credentials{AccessKeyID: "AKIDDNSMODEL", SecretAccessKey: "dnsmodel-secret"}
	herokuIP  = netip.MustParseAddr("192.0.2.10")
	awsIP     = netip.MustParseAddr("192.0.2.20")
	targets   = map[netip.Addr]string{herokuIP: "heroku", awsIP: "aws"}
	t0        = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	recordTTL = 60 * time.Second
)

const (
	zoneName = "cutover.test"
	apiName  = "api.cutover.test"
)

// cutover is an emulator holding the service's weighted records, and the
// weights client the run engine would use to change them.
type cutover struct {
	srv      *r53.Server
	weights  *weights.Client
	zoneID   string
	apiCalls *atomic.Int64
}

// countingTransport counts the API requests a source makes.
type countingTransport struct {
	n    *atomic.Int64
	next http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func newCutover(t testing.TB, seed uint64) *cutover {
	t.Helper()
	srv, err := r53.Start(context.Background(), r53.Options{Seed: seed, Credentials: creds})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	calls := &atomic.Int64{}
	api := route53.New(route53.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		HTTPClient:   &http.Client{Transport: countingTransport{n: calls, next: http.DefaultTransport}},
	})
	c := &cutover{srv: srv, weights: weights.FromAPI(api, 10*time.Millisecond), apiCalls: calls}
	c.zoneID, err = c.weights.EnsureZone(context.Background(), zoneName)
	require.NoError(t, err)
	c.set(t, 100, 0)
	return c
}

func (c *cutover) set(t testing.TB, heroku, aws int64) {
	t.Helper()
	_, err := c.weights.Apply(context.Background(), zoneName, apiName, recordTTL, []weights.Target{
		{SetID: "heroku", Addr: herokuIP, Weight: heroku},
		{SetID: "aws", Addr: awsIP, Weight: aws},
	})
	require.NoError(t, err)
}

// terminals drives n clients: client i first sends at start + i×spread/n,
// then every `every`, until end. Sends are made in time order within each
// tick of `every`, so a weight change made between two drive calls lands
// between the sends before and after it.
type terminals struct {
	ids     []string
	offsets []time.Duration
	every   time.Duration
	start   time.Time
}

func newTerminals(n int, start time.Time, spread, every time.Duration) *terminals {
	tm := &terminals{every: every, start: start}
	for i := range n {
		tm.ids = append(tm.ids, fmt.Sprintf("terminal-%04d", i))
		tm.offsets = append(tm.offsets, spread*time.Duration(i)/time.Duration(n))
	}
	return tm
}

func (tm *terminals) drive(t testing.TB, m *dnsmodel.Model, from, to time.Time) {
	t.Helper()
	ctx := context.Background()
	for tick := from; tick.Before(to); tick = tick.Add(tm.every) {
		for i, id := range tm.ids {
			first := tm.start.Add(tm.offsets[i])
			at := tick.Add(tm.offsets[i] % tm.every)
			if at.Before(first) {
				continue
			}
			addr, err := m.Address(ctx, id, at)
			require.NoError(t, err)
			require.True(t, addr == herokuIP || addr == awsIP, "address %s", addr)
		}
	}
}

// runCutover runs 2 minutes at heroku 100 / aws 0, switches to 50/50 and
// runs the given time more, and returns the report.
func runCutover(t *testing.T, c *cutover, cfg dnsmodel.Config, src dnsmodel.Source, terminals int, every, after time.Duration) dnsmodel.Report {
	t.Helper()
	cfg.Targets = targets
	m, err := dnsmodel.New(cfg, src, 99)
	require.NoError(t, err)
	tm := newTerminals(terminals, t0, recordTTL, every)

	m.SetConfigured(t0, "heroku-100", map[string]int{"heroku": 100, "aws": 0})
	change := t0.Add(2 * time.Minute)
	tm.drive(t, m, t0, change)
	c.set(t, 50, 50)
	m.SetConfigured(change, "aws-50", map[string]int{"heroku": 50, "aws": 50})
	tm.drive(t, m, change, change.Add(after))
	return m.Report()
}

// shares returns aws's observed share in each window of a stage.
func shares(st dnsmodel.Stage) []float64 {
	out := make([]float64, len(st.Windows))
	for i, w := range st.Windows {
		out[i] = w.Observed["aws"]
	}
	return out
}

func TestClientsLagTheWeightsByTheTTL(t *testing.T) {
	c := newCutover(t, 1)
	cfg := dnsmodel.Config{Window: 10 * time.Second}
	r := runCutover(t, c, cfg, dnsmodel.NewDNSSource(c.srv.DNSAddr(), apiName, false), 1000, time.Second, 4*time.Minute)

	require.Len(t, r.Stages, 2)
	before, after := r.Stages[0], r.Stages[1]
	require.Equal(t, map[string]float64{"heroku": 100, "aws": 0}, before.Configured)
	require.Zero(t, before.Requests["aws"], "nothing goes to aws at weight 0")
	require.True(t, before.Settled)
	require.Equal(t, map[string]float64{"heroku": 50, "aws": 50}, after.Configured)

	s := shares(after)
	t.Logf("aws share per 10 s window after the change: %.1f", s)
	// Caches expire uniformly over the 60 s TTL, so the aws share climbs
	// linearly from 0 to 50 over the first minute: about 4 in the first
	// window, 21 in the third, 46 in the sixth, then 50.
	require.Less(t, s[0], 10.0)
	require.InDelta(t, 21, s[2], 7)
	for i := 6; i < len(s); i++ {
		require.InDelta(t, 50, s[i], 6, "window %d", i)
	}
	require.True(t, after.Settled)
	require.GreaterOrEqual(t, after.SettleTime, 40*time.Second)
	require.LessOrEqual(t, after.SettleTime, 70*time.Second, "settles after about one TTL")
	// Six minutes of requests every second: each client resolves when it
	// starts and again each time its 60 s TTL runs out.
	require.InDelta(t, 1000*6, float64(r.Resolutions), 10, "one resolution per client per TTL")
	require.Zero(t, r.Errors)
}

func TestTTLIgnoringClientsNeverMove(t *testing.T) {
	tests := []struct {
		share     float64
		wantFinal float64 // aws share once the others have moved
	}{
		{1, 0},
		{0.3, 35},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.share), func(t *testing.T) {
			c := newCutover(t, 2)
			cfg := dnsmodel.Config{TTLIgnoringShare: tt.share}
			r := runCutover(t, c, cfg, dnsmodel.NewDNSSource(c.srv.DNSAddr(), apiName, false), 1000, time.Second, 4*time.Minute)
			s := shares(r.Stages[1])
			t.Logf("aws share per window: %.1f", s)
			for i := 7; i < len(s); i++ {
				if tt.share == 1 {
					require.Zero(t, s[i], "window %d", i)
				} else {
					require.InDelta(t, tt.wantFinal, s[i], 6, "window %d", i)
				}
			}
			require.False(t, r.Stages[1].Settled, "a TTL-ignoring share keeps the split off the weights")
		})
	}
}

func TestKeepAliveConnectionsStayOnTheOldAddress(t *testing.T) {
	tests := []struct {
		name             string
		keepAlive, idle  time.Duration
		every            time.Duration
		settleMin, maxAt time.Duration
	}{
		// Connections live 5 minutes whatever the TTL: they were opened at
		// staggered times over the first minute, so the aws share climbs
		// over the next 5 minutes.
		{"long-lived connections", 5 * time.Minute, 0, time.Second, 4 * time.Minute, 6 * time.Minute},
		// Clients sending every 10 s with a 5 s idle timeout never reuse a
		// connection: the lag is the TTL's again.
		{"idle timeout shorter than the gap between requests", 5 * time.Minute, 5 * time.Second, 10 * time.Second, 40 * time.Second, 80 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCutover(t, 3)
			cfg := dnsmodel.Config{KeepAlive: tt.keepAlive, IdleTimeout: tt.idle, Window: 20 * time.Second}
			r := runCutover(t, c, cfg, dnsmodel.NewDNSSource(c.srv.DNSAddr(), apiName, false), 1000, tt.every, 8*time.Minute)
			after := r.Stages[1]
			t.Logf("aws share per 20 s window: %.1f; settled %v after %s", shares(after), after.Settled, after.SettleTime)
			require.True(t, after.Settled)
			require.GreaterOrEqual(t, after.SettleTime, tt.settleMin)
			require.LessOrEqual(t, after.SettleTime, tt.maxAt)
			if tt.idle == 0 {
				require.Less(t, shares(after)[2], 10.0, "a minute after the change nearly everything still goes to heroku")
				require.Less(t, r.Connections, int64(1000*4), "connections are reused")
			}
		})
	}
}

func TestRoute53SourceWeighsLocallyAndSparesTheAPI(t *testing.T) {
	c := newCutover(t, 4)
	before := c.apiCalls.Load()
	src := dnsmodel.NewRoute53Source(c.weights, c.zoneID, apiName, false, 5*time.Second)
	cfg := dnsmodel.Config{}
	r := runCutover(t, c, cfg, src, 1000, time.Second, 4*time.Minute)

	s := shares(r.Stages[1])
	t.Logf("aws share per window: %.1f", s)
	require.Less(t, s[0], 12.0)
	for i := 7; i < len(s); i++ {
		require.InDelta(t, 50, s[i], 6, "window %d", i)
	}
	require.True(t, r.Stages[1].Settled)
	require.LessOrEqual(t, r.Stages[1].SettleTime, 70*time.Second)

	// 6 minutes of virtual time with a 5 s refresh: about 72 listings, plus
	// the Apply of the weight change (change, GetChange polls, listing).
	listings := c.apiCalls.Load() - before
	require.Less(t, listings, int64(100), "the source must not list the records per resolution (%d resolutions)", r.Resolutions)
	require.GreaterOrEqual(t, r.Resolutions, int64(6000))
}

func TestSameSeedSameReport(t *testing.T) {
	run := func() dnsmodel.Report {
		c := newCutover(t, 5)
		cfg := dnsmodel.Config{TTLIgnoringShare: 0.1}
		return runCutover(t, c, cfg, dnsmodel.NewRoute53Source(c.weights, c.zoneID, apiName, false, 5*time.Second), 300, 2*time.Second, 2*time.Minute)
	}
	require.Equal(t, run(), run())
}

func TestHashModeBoundsTheClients(t *testing.T) {
	c := newCutover(t, 7)
	cfg := dnsmodel.Config{Clients: 50, TTLIgnoringShare: 0.2}
	r := runCutover(t, c, cfg, dnsmodel.NewDNSSource(c.srv.DNSAddr(), apiName, false), 1000, time.Second, 4*time.Minute)
	// 50 clients, 40 of them honouring a 60 s TTL over 6 minutes: at most
	// 50 first answers plus 40 × 6 refreshes.
	require.LessOrEqual(t, r.Resolutions, int64(50+40*6))
	require.GreaterOrEqual(t, r.Resolutions, int64(50+40*5))
}

func TestUnknownAddressesAndSourceErrors(t *testing.T) {
	c := newCutover(t, 6)
	m, err := dnsmodel.New(dnsmodel.Config{Clients: 10, Targets: map[netip.Addr]string{herokuIP: "heroku"}},
		dnsmodel.NewDNSSource(c.srv.DNSAddr(), apiName, false), 1)
	require.NoError(t, err)
	c.set(t, 0, 1)
	for i := range 50 {
		_, err := m.Address(context.Background(), fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
	}
	r := m.Report()
	require.Len(t, r.Stages, 1, "requests before any SetConfigured form an unnamed stage")
	require.Empty(t, r.Stages[0].Configured)
	require.EqualValues(t, 50, r.Stages[0].Requests[dnsmodel.Unknown])
	require.EqualValues(t, 0, r.Stages[0].Requests["heroku"])
	require.Equal(t, "heroku", m.PlatformOf(herokuIP))
	require.Equal(t, dnsmodel.Unknown, m.PlatformOf(awsIP))

	missing, err := dnsmodel.New(dnsmodel.Config{Clients: 10}, dnsmodel.NewDNSSource(c.srv.DNSAddr(), "nope.cutover.test", false), 1)
	require.NoError(t, err)
	_, err = missing.Address(context.Background(), "x", t0)
	require.ErrorContains(t, err, "NXDOMAIN")
	require.EqualValues(t, 1, missing.Report().Errors)
}

func TestConfigValidation(t *testing.T) {
	src := dnsmodel.NewDNSSource("127.0.0.1:1", apiName, false)
	tests := []struct {
		name string
		cfg  dnsmodel.Config
		src  dnsmodel.Source
		err  string
	}{
		{"share above 1", dnsmodel.Config{TTLIgnoringShare: 1.5}, src, "between 0 and 1"},
		{"negative clients", dnsmodel.Config{Clients: -1}, src, "clients"},
		{"negative keep-alive", dnsmodel.Config{KeepAlive: -time.Second}, src, "negative"},
		{"no source", dnsmodel.Config{}, nil, "no source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dnsmodel.New(tt.cfg, tt.src, 1)
			require.ErrorContains(t, err, tt.err)
		})
	}
}

// The Route53 source's weighted choice depends on the client and its
// resolution count only, so concurrent clients resolving in any order get
// the same answers run after run.
func TestRoute53SourceAnswersDoNotDependOnCallOrder(t *testing.T) {
	c := newCutover(t, 5)
	c.set(t, 50, 50)
	answers := func(reverse bool) map[string][]netip.Addr {
		m, err := dnsmodel.New(dnsmodel.Config{Targets: targets}, dnsmodel.NewRoute53Source(c.weights, c.zoneID, apiName, false, time.Hour), 9)
		require.NoError(t, err)
		out := map[string][]netip.Addr{}
		start := time.Unix(1_700_000_000, 0)
		for step := range 5 {
			now := start.Add(time.Duration(step) * 2 * time.Minute) // past the TTL: a fresh answer each time
			for i := range 40 {
				id := fmt.Sprintf("client-%d", i)
				if reverse {
					id = fmt.Sprintf("client-%d", 39-i)
				}
				a, err := m.Address(context.Background(), id, now)
				require.NoError(t, err)
				out[id] = append(out[id], a)
			}
		}
		return out
	}
	forward, backward := answers(false), answers(true)
	require.Equal(t, forward, backward)
	seen := map[netip.Addr]bool{}
	for _, as := range forward {
		for _, a := range as {
			seen[a] = true
		}
	}
	require.Len(t, seen, 2, "both platforms are chosen")
}
