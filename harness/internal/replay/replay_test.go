package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// memTrace writes requests to an in-memory trace and opens a reader on it.
func memTrace(t testing.TB, reqs []trace.Request) *trace.Reader {
	t.Helper()
	var buf bytes.Buffer
	w, err := trace.NewWriter(&buf, "mem.jsonl", trace.Meta{Source: "test"}, false)
	require.NoError(t, err)
	for _, r := range reqs {
		require.NoError(t, w.Write(r))
	}
	require.NoError(t, w.Close())
	r, err := trace.NewReader(&buf, "mem.jsonl")
	require.NoError(t, err)
	return r
}

func redeemReq(at float64, client, voucher, customer, key string) trace.Request {
	r := trace.Request{At: at, Client: client, Op: history.Redeem, Method: "POST",
		Path: api.PathVouchers + "/" + voucher + "/redemption", Voucher: voucher, Customer: customer, Amount: 5000, Key: key,
		Headers: map[string]string{api.HeaderIdempotencyKey: key, "Content-Type": "application/json", api.HeaderAppToken: "REDACTED"}}
	b, _ := json.Marshal(api.RedeemRequest{Customer: api.Customer{SourceID: customer}, Order: api.Order{Amount: 5000}})
	r.SetBody(b)
	return r
}

func rollbackReq(at float64, client, undoes string) trace.Request {
	return trace.Request{At: at, Client: client, Op: history.Rollback, Method: "POST",
		Path: api.PathRedemptions + "/" + trace.RedemptionPlaceholder + "/rollback", Undoes: undoes}
}

func getReq(at float64, client string) trace.Request {
	return trace.Request{At: at, Client: client, Op: history.Get, Method: "GET", Path: api.PathVouchers + "/SAVE-1", Voucher: "SAVE-1"}
}

// memHistory collects history entries.
type memHistory struct {
	mu  sync.Mutex
	ops []history.Op
}

func (h *memHistory) Write(op history.Op) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	return nil
}

func (h *memHistory) completions() map[string]history.Op {
	out := map[string]history.Op{}
	for _, op := range h.ops {
		if op.Type != history.Invoke {
			out[op.ID] = op
		}
	}
	return out
}

func newReplayer(t testing.TB, cfg Config) *Replayer {
	t.Helper()
	if cfg.Resolver == nil {
		cfg.Resolver = FixedAddress(loopback)
	}
	r, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	return r
}

func TestPacingAt6x(t *testing.T) {
	srv := newCouponServer()
	port := serve(t, "127.0.0.1:0", srv)
	// 12 s of trace at 50 req/s, with a burst: at 6× it lasts 2 s.
	var reqs []trace.Request
	for i := 0; i < 600; i++ {
		at := float64(i) / 50
		if i >= 300 && i < 400 {
			at = 6 + float64(i-300)/100 // 100 requests in 1 s
		} else if i >= 400 {
			at = 7 + float64(i-400)*(5.0/200)
		}
		reqs = append(reqs, getReq(at, fmt.Sprintf("c%d", i%7)))
	}
	var results bytes.Buffer
	hist := &memHistory{}
	rp := newReplayer(t, Config{Port: port, History: hist, Platforms: map[netip.Addr]string{loopback: "local"}})
	// Planned before the clock starts, as a run plans each stage.
	st := Stage{Name: "six", Trace: memTrace(t, reqs), Multiplier: 6, Results: &results}
	plan, err := rp.Plan(st)
	require.NoError(t, err)
	require.Equal(t, 600, plan.Len())
	st.Plan = plan
	start := time.Now()
	st.Start = start
	res, err := rp.Replay(context.Background(), st)
	require.NoError(t, err)
	require.EqualValues(t, 600, res.Requests)
	require.EqualValues(t, 600, res.OK)
	c := rp.Counters()
	require.Equal(t, res.Requests, c.Sent, "the run's counters")
	require.Equal(t, res.Late, c.Late)
	require.Equal(t, res.Behind, c.Behind)
	require.LessOrEqual(t, res.Behind, res.Late, "reached late, so sent late")
	// Sent on time: the median request leaves within a few ms of its plan
	// (Late, the share more than 10 ms behind, depends on the machine's load).
	var behind []time.Duration
	for _, op := range hist.ops {
		if op.Type == history.Invoke {
			behind = append(behind, op.Time.Sub(op.Intended))
		}
	}
	sort.Slice(behind, func(i, j int) bool { return behind[i] < behind[j] })
	require.Less(t, behind[len(behind)/2], 10*time.Millisecond)
	require.GreaterOrEqual(t, behind[0], time.Duration(0), "never early")

	// Every request arrived within a few ms of its plan, and the whole
	// replay took the plan's 1 s within a few percent.
	got := srv.received()
	require.Len(t, got, 600)
	sort.Slice(got, func(i, j int) bool { return got[i].at.Before(got[j].at) })
	planEnd := reqs[599].At / 6
	span := got[599].at.Sub(start).Seconds()
	require.InDelta(t, planEnd, span, 0.03*planEnd+0.01, "the last request arrives when planned")
	// Requests in the burst window arrive at the burst's pace.
	var inBurst int
	for _, s := range got {
		off := s.at.Sub(start).Seconds()
		if off >= 6.0/6 && off < 7.0/6+0.02 {
			inBurst++
		}
	}
	require.InDelta(t, 100, inBurst, 20, "the burst is replayed as a burst")
	require.InDelta(t, 600/planEnd, res.AchievedRate, 0.05*600/planEnd)
	require.Equal(t, 1.0, res.ObservedSplit["local"])

	// The vegeta results carry intended times: their span is the plan's.
	dec := vegeta.NewDecoder(&results)
	var first, last time.Time
	n := 0
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err != nil {
			break
		}
		if n == 0 || r.Timestamp.Before(first) {
			first = r.Timestamp
		}
		if r.Timestamp.After(last) {
			last = r.Timestamp
		}
		require.Equal(t, "six", r.Attack)
		require.EqualValues(t, 200, r.Code)
		n++
	}
	require.Equal(t, 600, n)
	require.InDelta(t, planEnd, last.Sub(first).Seconds(), 0.002)
}

func TestLatencyFromIntendedTime(t *testing.T) {
	srv := newCouponServer()
	srv.stall = func(n int, _ *http.Request) time.Duration {
		if n == 0 {
			return 300 * time.Millisecond
		}
		return 0
	}
	port := serve(t, "127.0.0.1:0", srv)
	var reqs []trace.Request
	for i := 0; i < 10; i++ {
		reqs = append(reqs, getReq(float64(i)*0.02, "c"))
	}
	hist := &memHistory{}
	// One worker and one connection: every request queues behind the stall.
	rp := newReplayer(t, Config{Port: port, History: hist, MaxWorkers: 1, MaxConnections: 1})
	res, err := rp.Replay(context.Background(), Stage{Name: "stall", Trace: memTrace(t, reqs), Multiplier: 1})
	require.NoError(t, err)
	require.EqualValues(t, 10, res.Requests)
	require.GreaterOrEqual(t, res.Late, int64(9), "the requests queued behind the stall were late")

	done := hist.completions()
	require.Len(t, done, 10)
	var byIntended []history.Op
	for _, op := range done {
		byIntended = append(byIntended, op)
	}
	sort.Slice(byIntended, func(i, j int) bool { return byIntended[i].Intended.Before(byIntended[j].Intended) })
	t0 := byIntended[0].Intended
	for i, op := range byIntended {
		// Request i was due at 20i ms but could only go after the 300 ms
		// stall: its latency includes the wait.
		wait := 300*time.Millisecond - op.Intended.Sub(t0)
		require.GreaterOrEqual(t, op.Latency, wait-5*time.Millisecond, "request %d", i)
		require.Equal(t, op.Time.Sub(op.Intended), op.Latency)
	}
	require.GreaterOrEqual(t, res.Latency.P50, 150*time.Millisecond)
	require.GreaterOrEqual(t, res.Latency.Max, 300*time.Millisecond)
}

// TestValidateRecordsItsAnswer: a validate's history entry carries the
// answer (valid or not, and why), which cache_coherence judges.
func TestValidateRecordsItsAnswer(t *testing.T) {
	srv := newCouponServer()
	srv.quantity["r1-GONE"] = 0
	port := serve(t, "127.0.0.1:0", srv)
	validate := func(at float64, voucher string) trace.Request {
		r := trace.Request{At: at, Client: "c1", Op: history.Validate, Method: "POST",
			Path: api.PathVouchers + "/" + voucher + "/validate", Voucher: voucher, Customer: "cust-1", Amount: 5000,
			Headers: map[string]string{"Content-Type": "application/json"}}
		b, _ := json.Marshal(api.ValidateRequest{Customer: api.Customer{SourceID: "cust-1"}, Order: api.Order{Amount: 5000}})
		r.SetBody(b)
		return r
	}
	hist := &memHistory{}
	rp := newReplayer(t, Config{Port: port, History: hist, RunPrefix: "r1-", AppToken: "tok", AppID: "app"})
	_, err := rp.Replay(context.Background(), Stage{Name: "v", Trace: memTrace(t, []trace.Request{validate(0, "SAVE-1"), validate(0.01, "GONE")}), Multiplier: 1})
	require.NoError(t, err)
	got := map[string]history.Op{}
	for _, op := range hist.completions() {
		got[op.Voucher] = op
	}
	require.Equal(t, history.OK, got["r1-SAVE-1"].Type)
	require.NotNil(t, got["r1-SAVE-1"].Valid)
	require.True(t, *got["r1-SAVE-1"].Valid)
	require.NotNil(t, got["r1-GONE"].Valid)
	require.False(t, *got["r1-GONE"].Valid)
	require.Equal(t, api.KeyQuantityExceeded, got["r1-GONE"].ErrorKey)
}

func TestRollbackUsesRedemptionID(t *testing.T) {
	srv := newCouponServer()
	srv.quantity["r1-GONE"] = 0
	port := serve(t, "127.0.0.1:0", srv)
	reqs := []trace.Request{
		redeemReq(0, "c1", "SAVE-1", "cust-1", "k1"),
		redeemReq(0.01, "c2", "GONE", "cust-2", "k2"),
		redeemReq(0.02, "c1", "SAVE-1", "cust-1", "k1"), // a retry: same key
		rollbackReq(0.05, "c1", "k1"),
		rollbackReq(0.06, "c2", "k2"), // its redeem was refused
		rollbackReq(0.07, "c3", "k9"), // its redeem is not in the replay
	}
	hist := &memHistory{}
	rp := newReplayer(t, Config{Port: port, History: hist, RunPrefix: "r1-", AppToken: "tok", AppID: "app"})
	res, err := rp.Replay(context.Background(), Stage{Name: "rb", Trace: memTrace(t, reqs), Multiplier: 1})
	require.NoError(t, err)
	require.EqualValues(t, 4, res.Requests)
	require.EqualValues(t, 2, res.Skipped)
	require.EqualValues(t, 1, res.Rejected)
	require.EqualValues(t, map[string]int64{api.KeyQuantityExceeded: 1}, res.ErrorKeys)

	var rollbacks []string
	for _, s := range srv.received() {
		require.Equal(t, "tok", s.header.Get(api.HeaderAppToken), "credentials come from the config")
		require.Equal(t, "app", s.header.Get(api.HeaderAppID))
		id := s.header.Get(api.HeaderRequestID)
		require.GreaterOrEqual(t, len(id), 20)
		require.LessOrEqual(t, len(id), 200)
		require.Empty(t, s.header.Get("X-Vegeta-Seq"))
		if strings.HasSuffix(s.path, "/rollback") {
			rollbacks = append(rollbacks, s.path)
		}
	}
	require.Equal(t, []string{"/v1/redemptions/r_1/rollback"}, rollbacks)

	done := hist.completions()
	var redeemIDs []string
	for _, op := range done {
		switch op.F {
		case history.Redeem:
			require.Equal(t, "r1-"+strings.TrimPrefix(op.IdempotencyKey, "r1-"), op.IdempotencyKey)
			if op.Voucher == "r1-SAVE-1" {
				require.Equal(t, history.OK, op.Type)
				redeemIDs = append(redeemIDs, op.RedemptionID)
			} else {
				require.Equal(t, history.Fail, op.Type)
				require.Equal(t, api.KeyQuantityExceeded, op.ErrorKey)
			}
		case history.Rollback:
			require.Equal(t, history.OK, op.Type)
			require.Equal(t, "r_1", op.RedemptionID)
			require.Equal(t, "rb_r_1", op.RollbackID)
		}
	}
	require.Equal(t, []string{"r_1", "r_1"}, redeemIDs, "the retry got the same redemption")
	// Every completion has its invoke, first.
	seenInvoke := map[string]bool{}
	for _, op := range hist.ops {
		if op.Type == history.Invoke {
			seenInvoke[op.ID] = true
			continue
		}
		require.True(t, seenInvoke[op.ID], "completion %s follows its invoke", op.ID)
	}
}

func TestRollbackAcrossStages(t *testing.T) {
	srv := newCouponServer()
	port := serve(t, "127.0.0.1:0", srv)
	path := filepath.Join(t.TempDir(), "t.jsonl")
	w, err := trace.Create(path, trace.Meta{})
	require.NoError(t, err)
	require.NoError(t, w.Write(redeemReq(0.5, "c1", "SAVE-1", "cust-1", "k1")))
	require.NoError(t, w.Write(rollbackReq(1.5, "c1", "k1")))
	require.NoError(t, w.Close())
	rp := newReplayer(t, Config{Port: port})
	for _, sl := range []struct{ from, to time.Duration }{{0, time.Second}, {time.Second, 2 * time.Second}} {
		r, err := trace.Open(path)
		require.NoError(t, err)
		res, err := rp.Replay(context.Background(), Stage{Name: "s", Trace: r, From: sl.from, To: sl.to, Multiplier: 10})
		r.Close()
		require.NoError(t, err)
		require.EqualValues(t, 1, res.Requests)
		require.EqualValues(t, 1, res.OK)
	}
	got := srv.received()
	require.Equal(t, "/v1/redemptions/r_1/rollback", got[1].path)
}

// The stages of a run read one trace in turn: each stops at the first
// request past its end and leaves it for the next, so no request is lost
// at a boundary (each stage once dropped the next one's first request),
// and one exactly at a boundary belongs to the later stage.
func TestStagesOfOneTraceLoseNoRequest(t *testing.T) {
	srv := newCouponServer()
	port := serve(t, "127.0.0.1:0", srv)
	tr := memTrace(t, []trace.Request{getReq(0.2, "a"), getReq(0.9, "b"), getReq(1.0, "c"), getReq(1.1, "d"), getReq(2.0, "e"), getReq(2.5, "f")})
	rp := newReplayer(t, Config{Port: port})
	for _, tc := range []struct {
		from, to time.Duration
		want     int64
	}{{0, time.Second, 2}, {time.Second, 2 * time.Second, 2}, {2 * time.Second, 3 * time.Second, 2}} {
		res, err := rp.Replay(context.Background(), Stage{Name: "s", Trace: tr, From: tc.from, To: tc.to, Multiplier: 10})
		require.NoError(t, err)
		require.Equal(t, tc.want, res.Requests, "stage [%s, %s)", tc.from, tc.to)
	}
	require.Len(t, srv.received(), 6, "every request of the trace sent once")
}

func TestIdentityRemapPerRun(t *testing.T) {
	srv := newCouponServer()
	port := serve(t, "127.0.0.1:0", srv)
	reqs := []trace.Request{
		redeemReq(0, "c1", "SAVE-1", "cust-1", "k1"),
		redeemReq(0.01, "c1", "SAVE-1", "cust-1", "k1"),
		redeemReq(0.02, "c2", "SAVE-2", "cust-2", "k2"),
	}
	for _, prefix := range []string{"runA-", "runB-"} {
		rp := newReplayer(t, Config{Port: port, RunPrefix: prefix})
		_, err := rp.Replay(context.Background(), Stage{Name: "s", Trace: memTrace(t, reqs), Multiplier: 5})
		require.NoError(t, err)
	}
	got := srv.received()
	require.Len(t, got, 6)
	keys := map[string]int{}
	for _, s := range got {
		prefix := "runA-"
		if strings.Contains(s.path, "runB-") {
			prefix = "runB-"
		}
		require.True(t, strings.HasPrefix(s.path, "/v1/vouchers/"+prefix+"SAVE-"), s.path)
		require.True(t, strings.HasPrefix(s.customer, prefix+"cust-"), s.customer)
		key := s.header.Get(api.HeaderIdempotencyKey)
		require.True(t, strings.HasPrefix(key, prefix+"k"), key)
		keys[key]++
	}
	require.Equal(t, map[string]int{"runA-k1": 2, "runA-k2": 1, "runB-k1": 2, "runB-k2": 1}, keys)
	// Four distinct redemptions: the second run did not collide with the first.
	require.Len(t, srv.redemptions, 4)
}

func TestAmplify(t *testing.T) {
	srv := newCouponServer()
	port := serve(t, "127.0.0.1:0", srv)
	reqs := []trace.Request{
		redeemReq(0, "c1", "SAVE-1", "cust-1", "k1"),
		rollbackReq(0.1, "c1", "k1"),
	}
	hist := &memHistory{}
	rp := newReplayer(t, Config{Port: port, RunPrefix: "p-", History: hist})
	start := time.Now()
	res, err := rp.Replay(context.Background(), Stage{Name: "amp", Trace: memTrace(t, reqs), Multiplier: 3, Mode: Amplify})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 95*time.Millisecond, "amplify keeps real time")
	require.EqualValues(t, 6, res.Requests)
	require.EqualValues(t, 6, res.OK)
	customers, keys, clients := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range srv.received() {
		if strings.HasSuffix(s.path, "/redemption") {
			require.Equal(t, "/v1/vouchers/p-SAVE-1/redemption", s.path, "copies share the voucher")
			customers[s.customer] = true
			keys[s.header.Get(api.HeaderIdempotencyKey)] = true
		}
	}
	for _, op := range hist.ops {
		clients[op.Process] = true
	}
	require.Len(t, customers, 3)
	require.Len(t, keys, 3)
	require.Len(t, clients, 3)
	require.Len(t, srv.redemptions, 3)
	_, err = rp.Replay(context.Background(), Stage{Name: "bad", Trace: memTrace(t, reqs), Multiplier: 2.5, Mode: Amplify})
	require.ErrorContains(t, err, "whole number")
}

func TestCompress(t *testing.T) {
	srv := newCouponServer()
	port := serve(t, "127.0.0.1:0", srv)
	var reqs []trace.Request
	for i := 0; i < 400; i++ {
		reqs = append(reqs, getReq(float64(i)/100, fmt.Sprintf("client-%03d", i%40)))
	}
	hist := &memHistory{}
	rp := newReplayer(t, Config{Port: port, History: hist})
	start := time.Now()
	res, err := rp.Replay(context.Background(), Stage{Name: "quick", Trace: memTrace(t, reqs), Multiplier: 2, Compress: 4})
	require.NoError(t, err)
	elapsed := time.Since(start)
	// A quarter of the clients, all of their requests, at the same rate
	// (200 req/s at 2×) in a quarter of the time (2 s → 0.5 s).
	require.InDelta(t, 100, res.Requests, 45)
	require.Less(t, elapsed, 900*time.Millisecond)
	clients := map[string]int{}
	for _, s := range srv.received() {
		clients[s.header.Get(api.HeaderRequestID)]++
	}
	require.EqualValues(t, res.Requests, len(clients))
	// The rate is the plan's: the intended times of the requests kept.
	// (When they were sent depends on the machine; TestPacingAt6x holds
	// the pacer to its plan.) The kept clients' first and last requests
	// fall within 0.4 s of the start and end of the 2 s trace, so the
	// planned span is 0.40–0.50 s and the rate 200–250 req/s.
	var first, last time.Time
	for _, op := range hist.ops {
		if op.Type != history.Invoke {
			continue
		}
		if first.IsZero() || op.Intended.Before(first) {
			first = op.Intended
		}
		if op.Intended.After(last) {
			last = op.Intended
		}
	}
	planned := float64(res.Requests-1) / last.Sub(first).Seconds()
	require.GreaterOrEqual(t, planned, 200*0.95, "planned rate %.0f/s", planned)
	require.LessOrEqual(t, planned, 250*1.05, "planned rate %.0f/s", planned)
}

func TestPlatformsAndSplit(t *testing.T) {
	heroku, aws := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	hs, as := newCouponServer(), newCouponServer()
	port := servePair(t, heroku, aws, hs, as)
	resolver := resolverFunc(func(_ context.Context, client string, _ time.Time) (netip.Addr, error) {
		if client == "dead" {
			return netip.Addr{}, errors.New("no answer")
		}
		if strings.HasSuffix(client, "1") {
			return aws, nil
		}
		return heroku, nil
	})
	var reqs []trace.Request
	for i := 0; i < 100; i++ {
		reqs = append(reqs, getReq(float64(i)/1000, fmt.Sprintf("c%d", i%4)))
	}
	reqs = append(reqs, getReq(0.2, "dead"))
	hist := &memHistory{}
	rp := newReplayer(t, Config{Port: port, Resolver: resolver, History: hist, Host: "coupons.test",
		Platforms: map[netip.Addr]string{heroku: "heroku", aws: "aws"}})
	res, err := rp.Replay(context.Background(), Stage{Name: "split", Trace: memTrace(t, reqs), Multiplier: 1})
	require.NoError(t, err)
	require.EqualValues(t, 101, res.Requests)
	require.Equal(t, map[string]int64{"heroku": 75, "aws": 25}, res.PlatformRequests)
	require.InDelta(t, 0.25, res.ObservedSplit["aws"], 1e-9)
	require.EqualValues(t, 1, res.Errors, "the DNS failure")
	require.Len(t, hs.received(), 75)
	require.Len(t, as.received(), 25)
	require.Equal(t, "coupons.test", hs.received()[0].host)
	require.Contains(t, res.ByPlatform, "aws")
	for _, op := range hist.completions() {
		if op.Process == "dead" {
			require.Equal(t, history.Fail, op.Type, "never sent: definitely not applied")
			require.Contains(t, op.Error, "resolve")
			continue
		}
		want := "heroku"
		if op.Process == "c1" {
			want = "aws"
		}
		require.Equal(t, want, op.Platform)
	}
}

// TestStalledPlatformHoldsOnlyItsOwnWorkers: Heroku holds every answer
// for 400 ms and has taken every worker it may; the requests the weights
// send to AWS meanwhile go out on time and are as fast as AWS answers.
// With one pool of workers for both platforms, AWS's requests waited for
// a worker held by Heroku and their latency was Heroku's stall.
func TestStalledPlatformHoldsOnlyItsOwnWorkers(t *testing.T) {
	heroku, aws := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	hs, as := newCouponServer(), newCouponServer()
	hs.stall = func(int, *http.Request) time.Duration { return 400 * time.Millisecond }
	port := servePair(t, heroku, aws, hs, as)
	resolver := resolverFunc(func(_ context.Context, client string, _ time.Time) (netip.Addr, error) {
		if strings.HasPrefix(client, "a") {
			return aws, nil
		}
		return heroku, nil
	})
	var reqs []trace.Request
	for i := 0; i < 40; i++ {
		reqs = append(reqs, getReq(float64(i)*0.01, fmt.Sprintf("h%d", i)))
		if i%4 == 3 {
			reqs = append(reqs, getReq(float64(i)*0.01+0.005, fmt.Sprintf("a%d", i)))
		}
	}
	hist := &memHistory{}
	rp := newReplayer(t, Config{Port: port, Resolver: resolver, History: hist, MaxWorkers: 4, MaxConnections: 4,
		Platforms: map[netip.Addr]string{heroku: "heroku", aws: "aws"}})
	res, err := rp.Replay(context.Background(), Stage{Name: "stall", Trace: memTrace(t, reqs), Multiplier: 1})
	require.NoError(t, err)
	require.EqualValues(t, 50, res.Requests)
	require.Greater(t, res.ByPlatform["heroku"].P50, time.Second, "Heroku's requests queued behind its 4 workers")
	require.Greater(t, res.Late, int64(20), "Heroku's queued requests were sent late")
	require.Less(t, res.Behind, int64(5), "but the replayer kept its own time: the platform held them, not the machine")
	for _, op := range hist.completions() {
		if op.Platform == "aws" {
			require.Less(t, op.Latency, 100*time.Millisecond, "request %s to aws waited for Heroku's workers", op.ID)
		}
	}
}

type resolverFunc func(context.Context, string, time.Time) (netip.Addr, error)

func (f resolverFunc) Address(ctx context.Context, c string, now time.Time) (netip.Addr, error) {
	return f(ctx, c, now)
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status int
		err    error
		want   history.Type
	}{
		{200, nil, history.OK}, {201, nil, history.OK},
		{400, nil, history.Fail}, {404, nil, history.Fail}, {409, nil, history.Fail}, {429, nil, history.Fail},
		{408, nil, history.Info}, {500, nil, history.Info}, {502, nil, history.Info}, {503, nil, history.Info},
		{0, errors.New("connection refused"), history.Info}, {0, context.DeadlineExceeded, history.Info},
		{302, nil, history.Info},
	} {
		require.Equal(t, tc.want, Classify(tc.status, tc.err), "status %d err %v", tc.status, tc.err)
	}
}

func TestServerErrorsAreInfo(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What the Heroku router answers on H12/H13/H18: a 503 page.
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	port := serve(t, "127.0.0.1:0", h)
	hist := &memHistory{}
	rp := newReplayer(t, Config{Port: port, History: hist})
	res, err := rp.Replay(context.Background(), Stage{Name: "503", Trace: memTrace(t, []trace.Request{redeemReq(0, "c", "A", "u", "k")}), Multiplier: 1})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Errors)
	require.Equal(t, 1.0, res.ErrorRate)
	for _, op := range hist.completions() {
		require.Equal(t, history.Info, op.Type)
		require.Equal(t, 503, op.Status)
		require.Empty(t, op.HerokuCode, "the run engine fills it from the router log")
	}
}

func TestTimeoutIsInfo(t *testing.T) {
	block := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	port := serve(t, "127.0.0.1:0", h)
	defer close(block)
	hist := &memHistory{}
	rp := newReplayer(t, Config{Port: port, History: hist, Timeout: 100 * time.Millisecond})
	res, err := rp.Replay(context.Background(), Stage{Name: "to", Trace: memTrace(t, []trace.Request{redeemReq(0, "c", "A", "u", "k")}), Multiplier: 1})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Errors)
	require.EqualValues(t, 1, res.Codes["0"])
	for _, op := range hist.completions() {
		require.Equal(t, history.Info, op.Type)
		require.Contains(t, op.Error, "deadline")
	}
}

func TestContextEndsStage(t *testing.T) {
	srv := newCouponServer()
	port := serve(t, "127.0.0.1:0", srv)
	var reqs []trace.Request
	for i := 0; i < 1000; i++ {
		reqs = append(reqs, getReq(float64(i)/100, "c"))
	}
	rp := newReplayer(t, Config{Port: port})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := rp.Replay(ctx, Stage{Name: "cut", Trace: memTrace(t, reqs), Multiplier: 1})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, res.Incomplete)
	require.Less(t, time.Since(start), 2*time.Second)
	require.Positive(t, res.Requests)
	require.Less(t, res.Requests, int64(200), "the stage stopped early")
}

func TestBadLineStopsStage(t *testing.T) {
	srv := newCouponServer()
	port := serve(t, "127.0.0.1:0", srv)
	input := `{"at":0,"client":"c","op":"get","method":"GET","path":"/v1/vouchers/A"}` + "\n" +
		`{"at":0.01,"client":"c","op":"nope","method":"GET","path":"/v1/vouchers/A"}` + "\n"
	r, err := trace.NewReader(strings.NewReader(input), "broken.jsonl")
	require.NoError(t, err)
	rp := newReplayer(t, Config{Port: port})
	_, err = rp.Replay(context.Background(), Stage{Name: "s", Trace: r, Multiplier: 1})
	require.ErrorContains(t, err, "broken.jsonl:2: op: unknown")
}

func TestStageChecks(t *testing.T) {
	rp := newReplayer(t, Config{Port: 1})
	tr := memTrace(t, nil)
	for _, tc := range []struct {
		st   Stage
		want string
	}{
		{Stage{Name: "a"}, "trace: missing"},
		{Stage{Name: "a", Trace: tr, From: 2 * time.Second, To: time.Second}, "empty"},
		{Stage{Name: "a", Trace: tr, Multiplier: -1}, "multiplier"},
		{Stage{Name: "a", Trace: tr, Compress: 0.5}, "compress"},
		{Stage{Name: "a", Trace: tr, Mode: "fast"}, "mode"},
	} {
		_, err := rp.Replay(context.Background(), tc.st)
		require.ErrorContains(t, err, tc.want)
	}
	_, err := New(Config{Port: 80})
	require.ErrorContains(t, err, "resolver")
}

// vegetaBinary finds the vegeta CLI on PATH or in GOPATH/bin.
func vegetaBinary() string {
	if p, err := exec.LookPath("vegeta"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "vegeta")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func TestVegetaCLIReadsResults(t *testing.T) {
	bin := vegetaBinary()
	if bin == "" {
		t.Skip("vegeta CLI not installed (go install github.com/tsenart/vegeta/v12@v12.13.0)")
	}
	srv := newCouponServer()
	srv.quantity["GONE"] = 0
	port := serve(t, "127.0.0.1:0", srv)
	var reqs []trace.Request
	for i := 0; i < 50; i++ {
		voucher := "SAVE-1"
		if i%5 == 0 {
			voucher = "GONE"
		}
		reqs = append(reqs, redeemReq(float64(i)/100, "c", voucher, "u", fmt.Sprintf("k%d", i)))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "stage.bin")
	f, err := os.Create(path)
	require.NoError(t, err)
	rp := newReplayer(t, Config{Port: port})
	_, err = rp.Replay(context.Background(), Stage{Name: "cli", Trace: memTrace(t, reqs), Multiplier: 6, Results: f})
	require.NoError(t, err)
	require.NoError(t, f.Close())

	out, err := exec.Command(bin, "report", "-type=json", path).CombinedOutput()
	require.NoError(t, err, string(out))
	var m struct {
		Requests    int            `json:"requests"`
		Success     float64        `json:"success"`
		StatusCodes map[string]int `json:"status_codes"`
	}
	require.NoError(t, json.Unmarshal(out, &m), string(out))
	require.Equal(t, 50, m.Requests)
	require.Equal(t, map[string]int{"200": 40, "400": 10}, m.StatusCodes)
	require.InDelta(t, 0.8, m.Success, 1e-9)

	out, err = exec.Command(bin, "plot", "-title=cli", path).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "<html")
}

func TestRequestID(t *testing.T) {
	a, b, c := requestID(1, 1), requestID(1, 2), requestID(2, 1)
	require.Len(t, a, 36)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, a)
	require.NotEqual(t, a, b)
	require.NotEqual(t, a, c)
	require.Equal(t, "00000000-0000-0001-0000-000000000002", requestID(1, 2))
}

// askedResolver records which client asked for an address, in order.
type askedResolver struct {
	mu    sync.Mutex
	asked []string
}

func (a *askedResolver) Address(_ context.Context, client string, _ time.Time) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, client)
	return loopback, nil
}

// TestRoutingDoesNotDependOnAnswers: the resolver is asked for every
// planned request in plan order, a rollback skipped because its redeem
// was refused included, so a client's resolver cache — and the platform
// its later requests go to — is the same whatever the platforms answer.
func TestRoutingDoesNotDependOnAnswers(t *testing.T) {
	reqs := []trace.Request{
		redeemReq(0, "c1", "SAVE-1", "cust-1", "k1"),
		// The pacer waits for this one's time before it reaches the
		// rollback: by then the redeem's answer is known.
		redeemReq(0.1, "c2", "SAVE-2", "cust-2", "k3"),
		rollbackReq(0.11, "c1", "k1"),
		redeemReq(0.2, "c1", "SAVE-1", "cust-1", "k2"),
	}
	asked := map[string][]string{}
	skipped := map[string]int64{}
	for _, tc := range []struct {
		name     string
		quantity int
	}{{"redeem succeeds", 10}, {"redeem refused", 0}} {
		srv := newCouponServer()
		srv.quantity["r1-SAVE-1"] = tc.quantity
		port := serve(t, "127.0.0.1:0", srv)
		res := &askedResolver{}
		rp := newReplayer(t, Config{Port: port, Resolver: res, RunPrefix: "r1-", AppToken: "tok", AppID: "app"})
		r, err := rp.Replay(context.Background(), Stage{Name: "s", Trace: memTrace(t, reqs), Multiplier: 1})
		require.NoError(t, err)
		asked[tc.name], skipped[tc.name] = res.asked, r.Skipped
	}
	require.Equal(t, map[string]int64{"redeem succeeds": 0, "redeem refused": 1}, skipped, "the refused redeem's rollback is not sent")
	require.Equal(t, []string{"c1", "c2", "c1", "c1"}, asked["redeem succeeds"])
	require.Equal(t, asked["redeem succeeds"], asked["redeem refused"], "the resolver was asked the same questions")
}
