package oracle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle"
	"github.com/cutover/cutover/harness/internal/oracle/state"
	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

// TestPlantedBugs runs a short concurrent workload against the real
// couponapi binary (two processes, "heroku" and "aws", sharing one embedded
// stack) once per planted bug and once with none, records a real history,
// reads the final state, and checks that exactly the invariants the bug can
// break fail — and that with no bug every invariant passes.
func TestPlantedBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, Mongo, Redis and couponapi processes (about a minute); run without -short")
	}
	bin := couponapitest.Binary(t)
	stk := stacktest.Embedded(t)

	for i, tc := range []struct {
		bug string
		// broken must fail; every other invariant must pass.
		broken []string
		// atLeast is the fewest violations each broken invariant must
		// find: a bug is caught by the evidence, not by one lucky probe.
		atLeast int64
		// crash kills Postgres mid-run and starts it again.
		crash bool
	}{
		{bug: "", broken: nil, crash: true},
		// Lost updates: the counters drift from the rows too.
		{bug: "check_then_act", broken: []string{"no_over_redemption", "gift_card_conservation", "ledger"}, atLeast: 1},
		// Retries commit again: more commits than keys.
		{bug: "idempotency_ignored", broken: []string{"idempotency", "redemption_bounds"}, atLeast: 1},
		{bug: "idempotency_redis_only", broken: []string{"idempotency", "redemption_bounds"}, atLeast: 1},
		{bug: "validate_cache_stale", broken: []string{"cache_coherence"}, atLeast: 20},
		{bug: "outbox_skipped", broken: []string{"audit_parity"}, atLeast: 1},
		// A second rollback gives a gift card's money back twice.
		{bug: "rollback_twice", broken: []string{"rollback_once", "gift_card_conservation", "ledger"}, atLeast: 1},
		// A memory leak: the platform's R14/R15 judge it, not the oracle.
		{bug: "import_buffer", broken: nil},
		// A returning customer's redeems are answered with their first.
		{bug: "idempotency_by_customer", broken: []string{"no_lost_ack"}, atLeast: 2},
		// Only redeemed_amount drifts: quantity and balance stay right.
		{bug: "rollback_restores_twice", broken: []string{"ledger"}, atLeast: 2},
	} {
		name := tc.bug
		if name == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			l := newLab(t, bin, stk, fmt.Sprintf("B%d", i), tc.bug)
			l.run(tc.crash)
			ops, st := l.evidence()
			checkers := oracle.All()
			byType := map[history.Type]int{}
			for _, op := range ops {
				if op.Process != history.Nemesis {
					byType[op.Type]++
				}
			}
			t.Logf("history: %d entries %v; final state: %d vouchers, %d redemptions, %d events, %d probes",
				len(ops), byType, len(st.Vouchers), len(st.Redemptions), len(st.Events), len(st.Validations))
			require.Positive(t, byType[history.Info], "the workload must leave indeterminate operations")
			results, err := oracle.Check(ops, st, checkers...)
			require.NoError(t, err)
			var failed []string
			for _, r := range results {
				t.Logf("%s", r)
				for _, ex := range r.Examples {
					t.Logf("    %s (ops %v, platform %s, fault %q)", ex.Message, ex.Ops, ex.Platform, ex.Fault)
				}
				switch r.Verdict {
				case oracle.Fail:
					failed = append(failed, r.Name)
					require.NotEmpty(t, r.Examples, r.Name)
					require.GreaterOrEqual(t, r.Violations, tc.atLeast, "%s with bug %q", r.Name, tc.bug)
				case oracle.Unknown:
					t.Errorf("%s is undecided: %s", r.Name, r.Reason)
				}
			}
			sort.Strings(failed)
			want := append([]string(nil), tc.broken...)
			sort.Strings(want)
			require.Equal(t, want, nilIfEmpty(failed), "invariants that failed with bug %q", tc.bug)
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// The service's validate cache TTL in these tests (its documented bound,
// given to the oracle with the final state), and the grace the oracle
// derives from it.
const (
	cacheTTL   = 300 * time.Millisecond
	cacheGrace = cacheTTL + state.CacheFillSlack
)

// lab is one run: two couponapi processes with one set of planted bugs,
// the vouchers of this run (codes prefixed so runs sharing a stack never
// meet), and the history being recorded.
type lab struct {
	t         *testing.T
	ctx       context.Context
	stk       stack.Stack
	prefix    string
	urls      []string
	platforms []string
	http      *http.Client

	mu      sync.Mutex
	ops     []history.Op
	nextID  int
	vouch   []string
	okRedem map[string][]string // voucher -> redemption ids acknowledged
}

func newLab(t *testing.T, bin string, stk stack.Stack, prefix, bug string) *lab {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	ep := stk.Endpoints()
	l := &lab{t: t, ctx: ctx, stk: stk, prefix: prefix, http: &http.Client{Timeout: 10 * time.Second},
		okRedem: map[string][]string{}}
	for _, platform := range []string{"heroku", "aws"} {
		// Mongo is reached through the platform's fault proxy, so the
		// workload can take the audit log away.
		proxied, err := ep.For(platform)
		require.NoError(t, err)
		p := couponapitest.StartProcess(t, bin, ep, map[string]string{
			"COUPONAPI_BUGS":     bug,
			"MONGODB_URL":        proxied.MongoURL,
			"VALIDATE_CACHE_TTL": cacheTTL.String(),
			"DB_POOL_MAX":        "20",
			"LOG_LEVEL":          "warn",
		})
		l.urls = append(l.urls, p.URL)
		l.platforms = append(l.platforms, platform)
	}
	return l
}

// call is one request of the workload.
type call struct {
	f       string
	voucher string
	key     string
	rid     string // rollback target
	amount  int64  // order amount
	credits int64  // gift credits
	timeout time.Duration
	proc    int
	body    any // create / import body
	// customer redeems; default: one per idempotency key (a retry repeats
	// its request), or per operation without a key.
	customer string
}

// do sends c and records its invoke and completion; it returns the
// completion.
func (l *lab) do(c call) history.Op {
	l.mu.Lock()
	l.nextID++
	id := fmt.Sprintf("%s-%04d", l.prefix, l.nextID)
	l.mu.Unlock()
	customer := c.customer
	switch {
	case customer != "":
	case c.key != "":
		customer = "cust-" + c.key
	default:
		customer = "cust-" + id
	}
	inv := history.Op{ID: id, Type: history.Invoke, Process: fmt.Sprintf("client-%d", c.proc), F: c.f,
		Voucher: c.voucher, Customer: customer, IdempotencyKey: c.key, Amount: c.amount}
	var method, path string
	var body any
	switch c.f {
	case history.Redeem:
		method, path = http.MethodPost, api.RedeemPath(c.voucher)
		req := api.RedeemRequest{Customer: api.Customer{SourceID: inv.Customer}, Order: api.Order{Amount: c.amount}}
		if c.credits > 0 {
			req.Gift = &api.GiftCredits{Credits: c.credits}
		}
		body = req
	case history.Rollback:
		method, path, body = http.MethodPost, api.RollbackPath(c.rid), api.RollbackRequest{Reason: "test"}
		inv.RedemptionID = c.rid
	case history.Validate:
		method, path = http.MethodPost, api.ValidatePath(c.voucher)
		body = api.ValidateRequest{Customer: api.Customer{SourceID: inv.Customer}, Order: api.Order{Amount: c.amount}}
	case history.Create:
		method, path, body = http.MethodPost, api.PathVouchers, c.body
	case history.Import:
		method, path, body = http.MethodPost, api.PathImport, c.body
	}
	b, err := json.Marshal(body)
	require.NoError(l.t, err)
	timeout := c.timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(l.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, l.urls[c.proc]+path, bytes.NewReader(b))
	require.NoError(l.t, err)
	req.Header.Set("Content-Type", api.ContentTypeJSON)
	req.Header.Set(api.HeaderAppID, couponapitest.AppID)
	req.Header.Set(api.HeaderAppToken, couponapitest.AppToken)
	if c.key != "" {
		req.Header.Set(api.HeaderIdempotencyKey, c.key)
	}
	inv.Time = time.Now()
	inv.Intended = inv.Time
	l.record(inv)

	done := inv
	done.Platform = l.platforms[c.proc]
	resp, err := l.http.Do(req)
	var answer []byte
	if err == nil {
		answer, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	done.Time = time.Now()
	done.Latency = done.Time.Sub(inv.Intended)
	switch {
	case err != nil:
		// No answer: the request may or may not have taken effect.
		done.Type, done.Error = history.Info, err.Error()
	case resp.StatusCode == http.StatusOK:
		done.Type, done.Status = history.OK, resp.StatusCode
		l.decodeOK(&done, answer)
	default:
		done.Status = resp.StatusCode
		var e api.Error
		_ = json.Unmarshal(answer, &e)
		done.ErrorKey, done.Error = e.Key, e.Message
		// A 4xx changed nothing; a 5xx may have committed.
		done.Type = history.Info
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			done.Type = history.Fail
		}
	}
	l.record(done)
	return done
}

func (l *lab) decodeOK(done *history.Op, answer []byte) {
	switch done.F {
	case history.Redeem:
		var r api.Redemption
		require.NoError(l.t, json.Unmarshal(answer, &r))
		done.RedemptionID, done.Applied = r.ID, r.Amount
		l.mu.Lock()
		l.okRedem[done.Voucher] = append(l.okRedem[done.Voucher], r.ID)
		l.mu.Unlock()
	case history.Rollback:
		var r api.RollbackResponse
		require.NoError(l.t, json.Unmarshal(answer, &r))
		done.RollbackID, done.Applied = r.ID, r.Amount
	case history.Validate:
		var r api.ValidateResponse
		require.NoError(l.t, json.Unmarshal(answer, &r))
		done.Valid = &r.Valid
		done.ErrorKey = r.Key
	}
}

func (l *lab) record(op history.Op) {
	l.mu.Lock()
	defer l.mu.Unlock()
	op.Index = int64(len(l.ops))
	l.ops = append(l.ops, op)
}

// fault records a nemesis entry and runs it.
func (l *lab) fault(name, phase, target string, fn func() error) {
	err := fn()
	op := history.Op{ID: l.prefix + "-" + name + "-" + phase, Type: history.Info, Process: history.Nemesis, F: name,
		Time: time.Now(), Value: map[string]string{"phase": phase, "target": target}}
	op.Intended = op.Time
	l.record(op)
	require.NoError(l.t, err, "%s %s", name, phase)
}

// parallel runs the calls at once (released together) and waits for all.
func (l *lab) parallel(calls []call) []history.Op {
	out := make([]history.Op, len(calls))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = l.do(c)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func (l *lab) code(name string) string { return l.prefix + "-" + name }

// run is the workload: retries with one key (after ok, concurrent, after a
// client timeout, after a Redis flush), a returning customer, validates
// that fill the cache, contention on low-quantity vouchers and gift cards,
// rollbacks (retried, repeated), an audit-log outage, optionally a
// database crash, and validates after exhaustion.
func (l *lab) run(crash bool) {
	var discount, gifts []string
	for i := 1; i <= 6; i++ {
		discount = append(discount, l.code(fmt.Sprintf("D%d", i)))
	}
	for i := 1; i <= 3; i++ {
		gifts = append(gifts, l.code(fmt.Sprintf("G%d", i)))
	}
	retry, refund := l.code("R1"), l.code("GR")
	var creates []call
	for _, c := range discount {
		creates = append(creates, call{f: history.Create, voucher: c, body: couponapitest.Voucher(c, 3, 500)})
	}
	for _, c := range gifts {
		creates = append(creates, call{f: history.Create, voucher: c, body: couponapitest.GiftCard(c, 10_000)})
	}
	creates = append(creates,
		call{f: history.Create, voucher: retry, body: couponapitest.Voucher(retry, 500, 100)},
		call{f: history.Create, voucher: refund, body: couponapitest.GiftCard(refund, 50_000)})
	for i, c := range creates {
		c.proc = i % 2
		require.Equal(l.t, history.OK, l.do(c).Type, "create %s", c.voucher)
		l.vouch = append(l.vouch, c.voucher)
	}
	l.do(call{f: history.Import, proc: 1, body: []api.Voucher{
		couponapitest.Voucher(l.code("IMP1"), 1, 100), couponapitest.GiftCard(l.code("IMP2"), 100)}})

	// Retries on one voucher with plenty of quantity.
	for i := range 6 {
		after := fmt.Sprintf("%s-after-%d", l.prefix, i)
		l.do(call{f: history.Redeem, voucher: retry, key: after, amount: 1000, proc: i % 2})
		l.do(call{f: history.Redeem, voucher: retry, key: after, amount: 1000, proc: (i + 1) % 2})
		dup := fmt.Sprintf("%s-dup-%d", l.prefix, i)
		l.parallel([]call{
			{f: history.Redeem, voucher: retry, key: dup, amount: 1000, proc: 0},
			{f: history.Redeem, voucher: retry, key: dup, amount: 1000, proc: 1},
			{f: history.Redeem, voucher: retry, key: dup, amount: 1000, proc: 0},
		})
		slow := fmt.Sprintf("%s-timeout-%d", l.prefix, i)
		l.do(call{f: history.Redeem, voucher: retry, key: slow, amount: 1000, proc: i % 2, timeout: time.Millisecond})
		l.do(call{f: history.Redeem, voucher: retry, key: slow, amount: 1000, proc: (i + 1) % 2})
	}
	l.fault("redis-flush", "start", "redis", func() error { return l.stk.Redis().Flush(l.ctx) })
	for i := range 6 {
		after := fmt.Sprintf("%s-after-%d", l.prefix, i)
		l.do(call{f: history.Redeem, voucher: retry, key: after, amount: 1000, proc: i % 2})
	}

	// A returning customer: three orders, three keys, one after another.
	for i := range 3 {
		l.do(call{f: history.Redeem, voucher: retry, key: fmt.Sprintf("%s-loyal-%d", l.prefix, i), customer: l.prefix + "-loyal", amount: 1000, proc: i % 2})
	}

	// Validates before the rush fill the validate cache.
	for _, c := range append(append([]string(nil), discount...), gifts...) {
		l.do(call{f: history.Validate, voucher: c, amount: 2500, proc: 0})
		l.do(call{f: history.Validate, voucher: c, amount: 2500, proc: 1})
	}

	// Contention: 8 redeems at once on each voucher of quantity 3, 6 at
	// once on each gift card that holds 4 of them.
	var rush []call
	for round := range 8 {
		for j, c := range discount {
			rush = append(rush, call{f: history.Redeem, voucher: c, key: fmt.Sprintf("%s-rush-%d", c, round), amount: 2500, proc: (round + j) % 2})
		}
		if round < 6 {
			for j, c := range gifts {
				rush = append(rush, call{f: history.Redeem, voucher: c, key: fmt.Sprintf("%s-rush-%d", c, round), amount: 2500, credits: 2500, proc: (round + j) % 2})
			}
		}
	}
	l.parallel(rush)

	// Rollbacks: once, retried with the same key, repeated with a new key.
	for i := range 4 {
		l.do(call{f: history.Redeem, voucher: refund, key: fmt.Sprintf("%s-refund-%d", l.prefix, i), amount: 1000, credits: 1000, proc: i % 2})
	}
	l.mu.Lock()
	targets := append(append([]string(nil), l.okRedem[refund][:2]...), l.okRedem[retry][:2]...)
	l.mu.Unlock()
	for i, rid := range targets {
		key := fmt.Sprintf("%s-rb-%d", l.prefix, i)
		l.do(call{f: history.Rollback, rid: rid, key: key, proc: i % 2})
		l.do(call{f: history.Rollback, rid: rid, key: key, proc: (i + 1) % 2})
		l.do(call{f: history.Rollback, rid: rid, key: key + "-again", proc: i % 2})
	}

	// The audit log goes away for a moment while redemptions commit.
	px := toxiproxy.NewClient(l.stk.Endpoints().ToxiproxyURL)
	links := []string{stack.LinkName("heroku", stack.Mongo), stack.LinkName("aws", stack.Mongo)}
	setLinks := func(enable bool) error {
		for _, name := range links {
			p, err := px.Proxy(name)
			if err != nil {
				return err
			}
			if enable {
				err = p.Enable()
			} else {
				err = p.Disable()
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	l.fault("mongo-outage", "start", "mongo", func() error { return setLinks(false) })
	var during []call
	for i := range 4 {
		during = append(during, call{f: history.Redeem, voucher: retry, key: fmt.Sprintf("%s-outage-%d", l.prefix, i), amount: 1000, proc: i % 2})
	}
	l.parallel(during)
	l.fault("mongo-outage", "heal", "mongo", func() error { return setLinks(true) })

	if crash {
		// Redemptions in flight when the database dies, and after it is
		// back: what was acknowledged must survive.
		var around []call
		for i := range 6 {
			around = append(around, call{f: history.Redeem, voucher: retry, key: fmt.Sprintf("%s-crash-%d", l.prefix, i), amount: 1000, proc: i % 2})
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.parallel(around)
		}()
		time.Sleep(5 * time.Millisecond)
		l.fault("postgres-crash", "start", "postgres", func() error { return l.stk.Postgres().Crash(l.ctx) })
		l.do(call{f: history.Redeem, voucher: retry, key: l.prefix + "-while-down", amount: 1000, proc: 0, timeout: 5 * time.Second})
		l.fault("postgres-crash", "heal", "postgres", func() error { return l.stk.Postgres().Start(l.ctx) })
		wg.Wait()
		for i := range 4 {
			l.do(call{f: history.Redeem, voucher: retry, key: fmt.Sprintf("%s-after-crash-%d", l.prefix, i), amount: 1000, proc: i % 2})
		}
	}

	// Validates after the writes settled, three rounds on both platforms:
	// an exhausted voucher is invalid.
	time.Sleep(cacheGrace + 200*time.Millisecond)
	for range 3 {
		for _, c := range append(append([]string(nil), discount...), gifts...) {
			l.do(call{f: history.Validate, voucher: c, amount: 2500, proc: 0})
			l.do(call{f: history.Validate, voucher: c, amount: 2500, proc: 1})
		}
	}
}

// evidence writes the history as JSON lines into the test's results
// folder, reads it back as the oracle would, and reads the final state.
func (l *lab) evidence() ([]history.Op, *state.State) {
	path := filepath.Join(l.t.TempDir(), "history.jsonl")
	f, err := os.Create(path)
	require.NoError(l.t, err)
	w := history.NewWriter(f)
	l.mu.Lock()
	for _, op := range l.ops {
		require.NoError(l.t, w.Write(op))
	}
	l.mu.Unlock()
	require.NoError(l.t, w.Flush())
	require.NoError(l.t, f.Close())
	f, err = os.Open(path)
	require.NoError(l.t, err)
	defer f.Close()
	ops, err := history.Read(f, path)
	require.NoError(l.t, err)

	st, err := state.Read(l.ctx, state.Source{
		ServiceURL:  l.urls[0],
		ProbeURLs:   l.urls,
		AppID:       couponapitest.AppID,
		AppToken:    couponapitest.AppToken,
		Vouchers:    l.vouch,
		MongoURL:    l.stk.Endpoints().MongoURL,
		PostgresURL: l.stk.Endpoints().PostgresURL,
		// couponapi's outbox retries a refused delivery with backoff capped
		// at 30 s: after a Mongo outage the last events can take that long.
		EventsWait: 45 * time.Second,
		CacheBound: cacheTTL,
	})
	require.NoError(l.t, err)
	for p, why := range st.Missing {
		l.t.Logf("final state: %s missing: %s", p, why)
	}
	if errors.Is(l.ctx.Err(), context.DeadlineExceeded) {
		l.t.Fatal("the run took longer than its deadline")
	}
	return ops, st
}
