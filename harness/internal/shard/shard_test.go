package shard

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/dnsmodel"
	"github.com/cutover/cutover/harness/internal/replay"
	"github.com/cutover/cutover/harness/internal/weights"
	r53 "github.com/cutover/cutover/harness/route53"
	"github.com/cutover/cutover/harness/traffic/synth"
	"github.com/cutover/cutover/harness/traffic/trace"
	"github.com/cutover/cutover/internal/proc"
	"github.com/cutover/cutover/internal/testsupport"
)

const (
	zone   = "cutover.test."
	record = "api.cutover.test."
)

var (
	herokuAddr = netip.MustParseAddr("127.0.0.91")
	awsAddr    = netip.MustParseAddr("127.0.0.92")
	creds      = r53.Credentials{AccessKeyID: "AKIDSHARDTEST", SecretAccessKey: "shard-test-secret"}
)

// service answers like the coupon API, enough for the replayer: a redeem
// gets a redemption named after its idempotency key, a rollback succeeds,
// everything else is 200. It serves one platform's address.
type service struct {
	mu    sync.Mutex
	seen  map[string]int // X-Request-Id → times received
	stall time.Duration
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen[r.Header.Get(api.HeaderRequestID)]++
	stall := s.stall
	s.mu.Unlock()
	time.Sleep(stall)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/redemption"):
		fmt.Fprintf(w, `{"id":"r-%s","result":"SUCCESS","amount":100}`, r.Header.Get(api.HeaderIdempotencyKey))
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/rollback"):
		fmt.Fprintf(w, `{"id":"rb-1","result":"SUCCESS","amount":100}`)
	default:
		fmt.Fprint(w, `{}`)
	}
}

// fixture is what one replay of the test trace needs: the two platforms on
// one port, the Route53 emulator with weighted records, and the trace.
type fixture struct {
	port    int
	dns     dnsmodel.Spec
	trace   string
	heroku  *service
	aws     *service
	stageTo time.Duration
	// multiplier replays the two minutes of trace that many times faster.
	multiplier float64
	// workerLog is what the last sharded replay's workers logged.
	workerLog *testsupport.SyncBuffer
}

func newFixture(t testing.TB, rate, multiplier float64) *fixture {
	t.Helper()
	ctx := context.Background()
	port, release, err := proc.FreePort(herokuAddr.String())
	require.NoError(t, err)
	release()
	f := &fixture{port: port, heroku: &service{seen: map[string]int{}}, aws: &service{seen: map[string]int{}}}
	for addr, svc := range map[netip.Addr]*service{herokuAddr: f.heroku, awsAddr: f.aws} {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, uint16(port)).String())
		require.NoError(t, err)
		srv := &http.Server{Handler: svc, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
	}

	emu, err := r53.Start(ctx, r53.Options{Seed: 7, Credentials: creds})
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Close() })
	wc, err := weights.New(ctx, weights.Config{Endpoint: emu.URL(), AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	zoneID, err := wc.EnsureZone(ctx, zone)
	require.NoError(t, err)
	_, err = wc.Apply(ctx, zone, record, 5*time.Second, []weights.Target{
		{SetID: "heroku", Addr: herokuAddr, Weight: 50},
		{SetID: "aws", Addr: awsAddr, Weight: 50},
	})
	require.NoError(t, err)
	f.dns = dnsmodel.Spec{
		Source: "api", Route53URL: emu.URL(), AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey,
		ZoneID: zoneID, Record: record, Seed: 11,
		Config: dnsmodel.Config{Clients: 64, KeepAlive: 2 * time.Second, Targets: map[netip.Addr]string{herokuAddr: "heroku", awsAddr: "aws"}},
	}

	// Two minutes of synthesized coupon traffic (redeems with their
	// retries and rollbacks, validations, gift cards), replayed 12×
	// faster: ten seconds.
	cfg := synth.Default()
	cfg.Duration, cfg.Rate, cfg.Seed = 2*time.Minute, rate, 3
	f.trace = filepath.Join(t.TempDir(), "trace.jsonl.gz")
	w, err := trace.Create(f.trace, trace.Meta{Source: "synth", Seed: cfg.Seed})
	require.NoError(t, err)
	_, err = synth.Generate(cfg, w)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	f.stageTo, f.multiplier = 2*time.Minute, multiplier
	return f
}

func (f *fixture) job(shards int) Job {
	return Job{Shards: shards, DNS: f.dns, Replay: Replay{
		RunPrefix: "t1-", Port: f.port, Host: "api.cutover.test", Timeout: 10 * time.Second,
		Platforms: map[string]string{herokuAddr.String(): "heroku", awsAddr.String(): "aws"},
	}}
}

// history collects the operations of a run.
type collected struct {
	mu  sync.Mutex
	ops []history.Op
}

func (c *collected) Write(op history.Op) error {
	c.mu.Lock()
	c.ops = append(c.ops, op)
	c.mu.Unlock()
	return nil
}

// firsts returns the first attempts' invokes by request id.
func (c *collected) invokes() map[string]history.Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]history.Op{}
	for _, op := range c.ops {
		if op.Type == history.Invoke && !replay.IsRetry(op.ID) {
			out[op.ID] = op
		}
	}
	return out
}

// byClient returns each client's first attempts in the order they were
// due (the plan's order; two requests due within microseconds of each
// other go out on their own goroutines, in either order, in any run).
func (c *collected) byClient() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := map[string][]history.Op{}
	for _, op := range c.ops {
		if op.Type == history.Invoke && !replay.IsRetry(op.ID) {
			ops[op.Process] = append(ops[op.Process], op)
		}
	}
	out := map[string][]string{}
	for client, list := range ops {
		slices.SortFunc(list, func(a, b history.Op) int { return cmp.Or(a.Intended.Compare(b.Intended), strings.Compare(a.ID, b.ID)) })
		for _, op := range list {
			out[client] = append(out[client], op.ID)
		}
	}
	return out
}

// newReplayer is a run's replayer for the fixture, resolving through its
// own DNS model, writing to hist.
func (f *fixture) newReplayer(t testing.TB, job Job, hist replay.HistoryWriter) (*replay.Replayer, *dnsmodel.Model, *virtualClock) {
	t.Helper()
	model, err := dnsmodel.Build(context.Background(), job.DNS)
	require.NoError(t, err)
	clock := &virtualClock{model: model}
	rp, err := replay.New(replay.Config{
		RunPrefix: job.Replay.RunPrefix, Resolver: clock, Port: job.Replay.Port, Host: job.Replay.Host,
		Platforms: map[netip.Addr]string{herokuAddr: "heroku", awsAddr: "aws"}, History: hist, Timeout: job.Replay.Timeout,
	})
	require.NoError(t, err)
	t.Cleanup(rp.Close)
	return rp, model, clock
}

var virtualStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (f *fixture) stage(t testing.TB) replay.Stage {
	rd, err := trace.Open(f.trace)
	require.NoError(t, err)
	t.Cleanup(func() { rd.Close() })
	return replay.Stage{Name: "half", Trace: rd, To: f.stageTo, Multiplier: f.multiplier}
}

// single replays the fixture's stage in this process, as an unsharded run.
func (f *fixture) single(t testing.TB) (replay.Result, *collected) {
	hist := &collected{}
	rp, _, clock := f.newReplayer(t, f.job(1), hist)
	st := f.stage(t)
	plan, err := rp.Plan(st)
	require.NoError(t, err)
	st.Plan, st.Start = plan, time.Now()
	clock.set(st.Start, virtualStart)
	res, err := rp.Replay(context.Background(), st)
	require.NoError(t, err)
	return res, hist
}

// sharded replays the stage through a coordinator and n workers in this
// process; during, when set, is called 3 s into the stage with the
// coordinator and the workers' cancel functions (to kill one).
func (f *fixture) sharded(t testing.TB, n int, during func(c *Coordinator, cancel []context.CancelFunc)) (replay.Result, *collected, *Coordinator) {
	hist := &collected{}
	job := f.job(n)
	rp, model, _ := f.newReplayer(t, job, hist)
	f.workerLog = &testsupport.SyncBuffer{}
	var events []string
	var evMu sync.Mutex
	c, err := Start(Options{
		Job: job, Replayer: rp, Unit: model.Unit, Trace: f.trace, Listen: "127.0.0.1:0",
		Virtual:   func(time.Time) time.Time { return virtualStart },
		LostAfter: 2 * time.Second,
		WorkerLog: f.workerLog,
		Event: func(format string, args ...any) {
			evMu.Lock()
			events = append(events, fmt.Sprintf(format, args...))
			evMu.Unlock()
		},
	})
	require.NoError(t, err)

	var wg sync.WaitGroup
	cancels := make([]context.CancelFunc, n)
	errs := make([]error, n)
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Worker 0 measures its process's CPU and memory, as a
			// pod's worker does (here the process is the test's).
			errs[i] = Work(ctx, WorkerOptions{Coordinator: c.URL(), Shard: i, Dir: t.TempDir(), Measure: i == 0})
		}()
	}
	t.Cleanup(func() {
		for _, cancel := range cancels {
			cancel()
		}
		wg.Wait()
	})
	ctx := context.Background()
	require.NoError(t, c.WaitReady(ctx))
	if during != nil {
		go func() {
			time.Sleep(3 * time.Second)
			during(c, cancels)
		}()
	}
	res, rerr := c.Replay(ctx, f.stage(t))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, c.Close(cctx))
	wg.Wait()
	lost := false
	for _, w := range c.Workers() {
		lost = lost || w.Lost != ""
	}
	if !lost {
		require.NoError(t, rerr)
		for i, err := range errs {
			require.NoError(t, err, "worker %d", i)
		}
	}
	t.Logf("events: %q", events)
	return res, hist, c
}

// TestShardsSendWhatOneProcessSends is the contract of a sharded replay:
// the same planned requests (ids, per-client order, platform) as a
// single-process replay of the same seed, merged into one history and one
// result.
func TestShardsSendWhatOneProcessSends(t *testing.T) {
	f := newFixture(t, 20, 12)
	one, oneHist := f.single(t)
	two, twoHist, c := f.sharded(t, 2, nil)

	require.Positive(t, one.Planned)
	require.Equal(t, one.Planned, two.Planned, "planned requests")
	require.Equal(t, one.Requests, two.Requests, "attempts sent")
	require.Equal(t, one.Skipped, two.Skipped, "rollbacks skipped")
	require.Equal(t, one.PlatformRequests, two.PlatformRequests, "requests per platform")
	require.Equal(t, one.Latency.Count, two.Latency.Count)
	require.Empty(t, two.LostShards)
	require.Zero(t, two.Unsent)

	a, b := oneHist.invokes(), twoHist.invokes()
	require.Len(t, b, len(a))
	for id, op := range a {
		got, ok := b[id]
		require.True(t, ok, "request %s of the single run was not sent by the shards", id)
		require.Equal(t, op.Process, got.Process, "client of %s", id)
		require.Equal(t, op.Platform, got.Platform, "platform of %s", id)
		require.Equal(t, op.F, got.F, "operation of %s", id)
		require.Equal(t, op.Intended.Sub(one.Start), got.Intended.Sub(two.Start), "offset of %s", id)
	}
	require.True(t, reflect.DeepEqual(oneHist.byClient(), twoHist.byClient()), "per-client order differs")

	// Both shards took part, and said how far their clocks are from ours.
	ws := c.Workers()
	require.Len(t, ws, 2)
	for _, w := range ws {
		require.Empty(t, w.Lost)
		require.Positive(t, w.RTT)
	}
	require.Positive(t, ws[0].CPU, "a measuring worker reports its CPU")
	require.Positive(t, ws[0].PeakRSS)
	require.Positive(t, ws[0].Requests)
	require.Zero(t, ws[1].CPU, "one that shares its process does not")
	perShard := map[int]int{}
	for _, op := range twoHist.invokes() {
		perShard[replay.ShardOf(mustUnit(t, f, op.Process), 2)]++
	}
	require.Len(t, perShard, 2, "every shard sent requests")

	// Each worker's log reached the coordinator, on its clock.
	log := f.workerLog.String()
	for i := range 2 {
		require.Regexp(t, fmt.Sprintf(`(?m)^\d{4}-\d\d-\d\dT[0-9:.]+Z shard/%d: joined from `, i), log)
		require.Regexp(t, fmt.Sprintf(`(?m)^\S+ shard/%d: shard %d of 2: clock offset `, i, i), log)
		require.Regexp(t, fmt.Sprintf(`(?m)^\S+ shard/%d: stage half: \d+ requests sent, \d+ planned$`, i), log)
	}
}

func mustUnit(t testing.TB, f *fixture, client string) uint64 {
	t.Helper()
	m, err := dnsmodel.Build(context.Background(), f.dns)
	require.NoError(t, err)
	return m.Unit(client)
}

// TestCountersFollowTheWorkersWhileTheStageRuns: the coordinator's
// counters, which the machine watch reads at every gate evaluation, show
// the workers' late requests while the stage runs, and end equal to the
// stage's merged result.
func TestCountersFollowTheWorkersWhileTheStageRuns(t *testing.T) {
	// 960 requests/s answered in 2.5 s keep more requests in flight than
	// a replayer has workers for a platform (replay.DefaultMaxWorkers):
	// the rest wait for one and go out late.
	f := newFixture(t, 80, 12)
	f.heroku.stall, f.aws.stall = 2500*time.Millisecond, 2500*time.Millisecond
	var mid replay.Counters
	res, _, c := f.sharded(t, 2, func(c *Coordinator, _ []context.CancelFunc) {
		for range 200 {
			if mid = c.Counters(); mid.Late > 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	end := c.Counters()
	t.Logf("first seen late: %+v; at the end: %+v; result: late %d behind %d", mid, end, res.Late, res.Behind)
	require.Positive(t, res.Late, "the stall made requests late")
	require.Positive(t, mid.Late, "late requests are seen while the stage runs")
	require.Less(t, mid.Sent, end.Sent, "... while requests were still being sent")
	require.Equal(t, res.Late, end.Late)
	require.Equal(t, res.Behind, end.Behind)
	require.Equal(t, res.Requests, end.Sent)
}

// TestLostWorkerIsCountedNotHidden kills one worker mid-stage: the stage
// ends, names the lost shard and counts the requests it never sent, and
// the result still accounts for the whole plan.
func TestLostWorkerIsCountedNotHidden(t *testing.T) {
	f := newFixture(t, 20, 12)
	res, hist, c := f.sharded(t, 2, func(_ *Coordinator, cancel []context.CancelFunc) { cancel[1]() })
	require.Equal(t, []int{1}, res.LostShards)
	require.Positive(t, res.Unsent, "the lost worker's unsent requests are counted")
	// The history holds every request that may have been sent: those the
	// workers reported, and those the lost one may have sent unreported
	// (indeterminate); the rest were never sent, or skipped.
	inHistory := int64(len(hist.invokes()))
	require.Equal(t, res.Planned, inHistory+res.Unsent+res.Skipped, "planned = in the history + unsent + skipped")
	unknown := 0
	for _, op := range hist.ops {
		if op.Type == history.Info && strings.Contains(op.Error, "lost before it reported") {
			unknown++
		}
	}
	require.Equal(t, int(res.Unreported), unknown, "each unreported request is in the history as indeterminate")
	ws := c.Workers()
	require.NotEmpty(t, ws[1].Lost)
	require.Empty(t, ws[0].Lost)
	require.Contains(t, f.workerLog.String(), " shard/1: lost: ", "the loss is in the worker's log")
}

// TestShardRefusesRollbackAcrossShards: a rollback sent by another client
// than its redeem cannot be split by client.
func TestShardRefusesRollbackAcrossShards(t *testing.T) {
	var reqs []trace.Request
	for i := range 40 {
		key := "k" + strconv.Itoa(i)
		reqs = append(reqs,
			trace.Request{At: float64(i), Client: "pos-" + strconv.Itoa(i), Op: history.Redeem, Method: "POST", Path: api.PathVouchers + "/V/redemption", Voucher: "V", Key: key},
			trace.Request{At: float64(i) + 0.5, Client: "back-office", Op: history.Rollback, Method: "POST", Path: api.PathRedemptions + "/" + trace.RedemptionPlaceholder + "/rollback", Undoes: key})
	}
	path := filepath.Join(t.TempDir(), "t.jsonl")
	w, err := trace.Create(path, trace.Meta{Source: "test"})
	require.NoError(t, err)
	for _, r := range reqs {
		require.NoError(t, w.Write(r))
	}
	require.NoError(t, w.Close())
	rd, err := trace.Open(path)
	require.NoError(t, err)
	defer rd.Close()
	rp, err := replay.New(replay.Config{Resolver: replay.FixedAddress(herokuAddr), Port: 80})
	require.NoError(t, err)
	plan, err := rp.Plan(replay.Stage{Name: "s", Trace: rd})
	require.NoError(t, err)
	unit := func(c string) uint64 { return uint64(len(c)) * 7919 }
	_, err = plan.Shard(0, 4, unit)
	require.ErrorContains(t, err, "cannot be split by client")
	one, err := plan.Shard(0, 1, unit)
	require.NoError(t, err)
	require.Equal(t, plan.Len(), one.Len())
	_ = os.Remove(path)
	require.True(t, slices.Equal(plan.Sent(), one.Sent()))
}

// BenchmarkShards replays one stage of synthesized coupon traffic (two
// minutes at 75 req/s, 24× faster: about 1,800 req/s for five seconds)
// from one process, and split into 1, 2 and 4 in-process shards, side by
// side, and reports the rate achieved over the rate planned. On this
// 2-core machine every shard shares the CPUs of the service it loads: the
// point is the merge's overhead and correctness, not scale — against a
// real cluster the workers run on nodes of their own (traffic.workers: job).
func BenchmarkShards(b *testing.B) {
	f := newFixture(b, 75, 24)
	planned := func(res replay.Result) float64 {
		return float64(res.Planned) / (f.stageTo.Seconds() / f.multiplier)
	}
	b.Run("single", func(b *testing.B) {
		for range b.N {
			res, _ := f.single(b)
			b.ReportMetric(res.AchievedRate/planned(res), "achieved/planned")
			b.ReportMetric(float64(res.Behind)/float64(res.Planned), "behind/planned")
		}
	})
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("shards=%d", n), func(b *testing.B) {
			for range b.N {
				res, _, _ := f.sharded(b, n, nil)
				b.ReportMetric(res.AchievedRate/planned(res), "achieved/planned")
				b.ReportMetric(float64(res.Behind)/float64(res.Planned), "behind/planned")
			}
		})
	}
}
