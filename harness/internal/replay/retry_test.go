package replay

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
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

// retryTrace: a redeem whose first answer is lost (k1), one whose every
// answer is lost (k2), one answered (k3), a lost GET, and the rollbacks of
// k1 (its first answer lost too) and k2.
func retryTrace() []trace.Request {
	return []trace.Request{
		redeemReq(0, "c1", "SAVE-1", "cust-1", "k1"),
		redeemReq(0.01, "c2", "SAVE-2", "cust-2", "k2"),
		redeemReq(0.02, "c3", "SAVE-3", "cust-3", "k3"),
		getReq(0.021, "c4"),
		rollbackReq(0.05, "c1", "k1"),
		rollbackReq(0.06, "c2", "k2"),
	}
}

// h12Server commits every request but answers 503 (as the Heroku router
// does on an H12) to: the first attempt of the k1 redeem, of the GET and
// of every rollback, and every attempt of the k2 redeem.
func h12Server() *couponServer {
	srv := newCouponServer()
	var mu sync.Mutex
	attempts := map[string]int{}
	srv.lost = func(_ int, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		k := r.Method + " " + r.URL.Path + " " + r.Header.Get(api.HeaderIdempotencyKey)
		attempts[k]++
		switch {
		case strings.HasSuffix(r.URL.Path, "SAVE-2/redemption"):
			return true
		case strings.HasSuffix(r.URL.Path, "SAVE-1/redemption"), strings.HasSuffix(r.URL.Path, "/rollback"), r.Method == http.MethodGet:
			return attempts[k] == 1
		}
		return false
	}
	return srv
}

var requestIDShape = regexp.MustCompile(`^[A-Za-z0-9-]{20,200}$`)

func TestRetriesAfterIndeterminateOutcome(t *testing.T) {
	const backoff = 30 * time.Millisecond
	heroku, aws := netip.MustParseAddr("127.0.0.4"), netip.MustParseAddr("127.0.0.5")
	srv := h12Server()
	port := servePair(t, heroku, aws, srv, srv)
	// The DNS answer changes 25 ms into the stage: the first attempts go
	// to heroku, the retries (due ≥ 30 ms after an answer) to aws.
	cut := time.Now().Add(25 * time.Millisecond)
	resolver := resolverFunc(func(_ context.Context, _ string, now time.Time) (netip.Addr, error) {
		if now.Before(cut) {
			return heroku, nil
		}
		return aws, nil
	})
	hist := &memHistory{}
	var results bytes.Buffer
	rp := newReplayer(t, Config{Port: port, Resolver: resolver, RunPrefix: "t-", History: hist,
		Platforms: map[netip.Addr]string{heroku: "heroku", aws: "aws"}, Retries: 2, RetryBackoff: backoff})
	res, err := rp.Replay(context.Background(), Stage{Name: "h12", Trace: memTrace(t, retryTrace()), Multiplier: 1, Results: &results})
	require.NoError(t, err)

	// k1: 2 attempts, k2: 3 (every one lost), k3: 1, GET: 1 (not
	// retried), rollback k1: 2, rollback k2: skipped (no attempt of k2
	// got an answer, so the client never learnt its redemption id).
	require.EqualValues(t, 6, res.Planned)
	require.EqualValues(t, 4, res.Retries)
	require.EqualValues(t, 9, res.Requests)
	require.EqualValues(t, 1, res.Skipped)
	require.EqualValues(t, 2, res.OK, "k1's retry and k3")
	require.EqualValues(t, 1, res.Rejected, "the rollback retry: already rolled back")
	require.EqualValues(t, 6, res.Errors)
	require.EqualValues(t, map[string]int64{"200": 2, "400": 1, "503": 6}, res.Codes)

	// The server saw every attempt; retries of a redeem carry its key and
	// its exact body, each attempt its own well-formed request id.
	byKey := map[string][]seen{}
	var rollbacks []seen
	requestIDs := map[string]bool{}
	for _, s := range srv.received() {
		id := s.header.Get(api.HeaderRequestID)
		require.Regexp(t, requestIDShape, id)
		require.False(t, requestIDs[id], "request id %s sent twice", id)
		requestIDs[id] = true
		switch {
		case strings.HasSuffix(s.path, "/redemption"):
			k := s.header.Get(api.HeaderIdempotencyKey)
			byKey[k] = append(byKey[k], s)
		case strings.HasSuffix(s.path, "/rollback"):
			rollbacks = append(rollbacks, s)
		}
	}
	require.Len(t, byKey["t-k1"], 2)
	require.Len(t, byKey["t-k2"], 3)
	require.Len(t, byKey["t-k3"], 1)
	for _, k := range []string{"t-k1", "t-k2"} {
		for _, s := range byKey[k][1:] {
			require.Equal(t, byKey[k][0].path, s.path)
			require.Equal(t, string(byKey[k][0].body), string(s.body), "a retry sends the same body")
		}
	}
	k1 := srv.byKey["t-k1"]
	require.Len(t, srv.redemptions, 3, "the service redeemed each key once")
	// The rollback was sent twice for k1's redemption; the service
	// restored once and refused the second.
	require.Len(t, rollbacks, 2)
	for _, s := range rollbacks {
		require.Equal(t, "/v1/redemptions/"+k1+"/rollback", s.path)
	}
	require.Equal(t, 1, srv.rolledBack[k1])

	// The history: an invoke and a completion per attempt, retries named
	// <id>.r<n>, due backoff·2^(n-1) after the previous attempt ended.
	type entry struct{ invoke, done history.Op }
	ops := map[string]*entry{}
	var order []string
	for _, op := range hist.ops {
		e := ops[op.ID]
		if e == nil {
			e = &entry{}
			ops[op.ID] = e
			order = append(order, op.ID)
		}
		if op.Type == history.Invoke {
			require.Empty(t, e.invoke.ID, "%s invoked twice", op.ID)
			e.invoke = op
		} else {
			require.NotEmpty(t, e.invoke.ID, "%s completed before its invoke", op.ID)
			e.done = op
		}
	}
	require.Len(t, ops, 9)
	chains := map[string][]history.Op{} // first attempt's id → completions in attempt order
	for _, id := range order {
		e := ops[id]
		require.NotEmpty(t, e.done.ID, "%s completed", id)
		require.True(t, requestIDs[e.done.RequestID], "%s's request id reached the server", id)
		base, _, _ := strings.Cut(id, ".r")
		chains[base] = append(chains[base], e.done)
		if id == base {
			want := "heroku"
			if !e.done.Intended.Before(cut) {
				want = "aws"
			}
			require.Equal(t, want, e.done.Platform, "%s was resolved at its own due time", id)
		}
	}
	retries := 0
	for base, chain := range chains {
		for n, op := range chain {
			if n == 0 {
				require.Equal(t, base, op.ID)
				continue
			}
			if !op.Intended.Before(cut) {
				retries++ // due after the resolver's answer changed
			}
			require.Equal(t, chain[0].Platform, op.Platform,
				"%s goes where its first attempt went, without asking the resolver again", op.ID)
			require.Equal(t, base+".r"+string(rune('0'+n)), op.ID)
			prev := chain[n-1]
			require.Equal(t, prev.Time.Add(backoff<<(n-1)), op.Intended, "%s is due after the backoff", op.ID)
			require.Equal(t, prev.IdempotencyKey, op.IdempotencyKey)
			require.Equal(t, op.Time.Sub(op.Intended), op.Latency, "latency from the retry's due time")
			require.GreaterOrEqual(t, ops[op.ID].invoke.Time, op.Intended, "never sent early")
		}
		last := chain[len(chain)-1]
		switch last.IdempotencyKey {
		case "t-k1":
			require.Len(t, chain, 2)
			require.Equal(t, history.Info, chain[0].Type)
			require.Equal(t, 503, chain[0].Status)
			require.Equal(t, history.OK, last.Type)
			require.Equal(t, k1, last.RedemptionID, "the retry learnt the redemption id")
		case "t-k2":
			require.Len(t, chain, 3, "the first attempt and two retries")
			for _, op := range chain {
				require.Equal(t, history.Info, op.Type)
			}
		case "t-k3":
			require.Len(t, chain, 1)
		}
		switch {
		case last.F == history.Get:
			require.Len(t, chain, 1, "a GET is not retried")
			require.Equal(t, history.Info, last.Type)
		case last.F == history.Rollback:
			require.Len(t, chain, 2)
			require.Equal(t, history.Info, chain[0].Type)
			require.Equal(t, k1, chain[1].RedemptionID, "the retry names the same redemption")
			require.Equal(t, history.Fail, last.Type)
			require.Equal(t, api.KeyAlreadyRolledBack, last.ErrorKey)
		}
	}
	require.Positive(t, retries, "some retries were due after the resolver's answer changed")

	// One vegeta result per attempt, stamped with its due time.
	dec := vegeta.NewDecoder(&results)
	var stamps []time.Time
	seqs := map[uint64]bool{}
	for {
		var r vegeta.Result
		if dec.Decode(&r) != nil {
			break
		}
		require.False(t, seqs[r.Seq], "result seq %d twice", r.Seq)
		seqs[r.Seq] = true
		stamps = append(stamps, r.Timestamp)
	}
	require.Len(t, stamps, 9)
	var intended []time.Time
	for _, e := range ops {
		intended = append(intended, e.done.Intended)
	}
	sortTimes(stamps)
	sortTimes(intended)
	for i := range stamps {
		require.True(t, stamps[i].Equal(intended[i]), "result %d: %v, history %v", i, stamps[i], intended[i])
	}
}

func sortTimes(ts []time.Time) { sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) }) }

func TestNoRetriesByDefault(t *testing.T) {
	srv := h12Server()
	port := serve(t, "127.0.0.1:0", srv)
	hist := &memHistory{}
	rp := newReplayer(t, Config{Port: port, RunPrefix: "t-", History: hist, RetryBackoff: time.Millisecond})
	res, err := rp.Replay(context.Background(), Stage{Name: "once", Trace: memTrace(t, retryTrace()), Multiplier: 1})
	require.NoError(t, err)
	require.EqualValues(t, 0, res.Retries)
	require.EqualValues(t, 4, res.Requests, "three redeems and the GET")
	require.EqualValues(t, 2, res.Skipped, "neither client learnt its redemption id, so neither rolls back")
	require.Len(t, srv.received(), 4)
	for _, s := range srv.received() {
		require.Equal(t, fmt.Sprintf("127.0.0.1:%d", port), s.host, "no Host configured: the address is sent")
	}
	for _, op := range hist.ops {
		require.NotContains(t, op.ID, ".r")
	}
}

// A retry still waiting for its backoff when the stage is stopped is never
// sent, and a later rollback of its redeem does not wait for it.
func TestStoppedStageAbandonsRetries(t *testing.T) {
	srv := newCouponServer()
	srv.lost = func(int, *http.Request) bool { return true }
	port := serve(t, "127.0.0.1:0", srv)
	rp := newReplayer(t, Config{Port: port, Retries: 3, RetryBackoff: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := rp.Replay(ctx, Stage{Name: "cut", Trace: memTrace(t, []trace.Request{redeemReq(0, "c", "A", "u", "k")}), Multiplier: 1})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, res.Incomplete)
	require.Less(t, time.Since(start), 2*time.Second, "the stage does not wait out the backoff")
	require.EqualValues(t, 1, res.Requests)
	require.EqualValues(t, 0, res.Retries)

	res, err = rp.Replay(context.Background(), Stage{Name: "next", Trace: memTrace(t, []trace.Request{rollbackReq(0, "c", "k")}), Multiplier: 1})
	require.NoError(t, err)
	require.EqualValues(t, 1, res.Skipped)
	require.Len(t, srv.received(), 1)
}

func TestRetriesConfig(t *testing.T) {
	_, err := New(Config{Port: 80, Resolver: FixedAddress(loopback), Retries: -1})
	require.ErrorContains(t, err, "retries")
}

func TestRedeemBook(t *testing.T) {
	b := newRedeemBook(2)
	ctx := context.Background()

	// A rollback waits while an attempt is in flight and gets the id of
	// the one that succeeds, across a failed attempt and its retry.
	b.planned("k1")
	got := make(chan string)
	go func() {
		id, ok := b.wait(ctx, "k1")
		if !ok {
			id = "none"
		}
		got <- id
	}()
	time.Sleep(10 * time.Millisecond)
	b.planned("k1") // the retry, planned before the first attempt ends
	b.done("k1", "", false)
	select {
	case id := <-got:
		t.Fatalf("woke with %q while the retry was in flight", id)
	case <-time.After(20 * time.Millisecond):
	}
	b.done("k1", "r_1", true)
	require.Equal(t, "r_1", <-got)

	// Every attempt failed: no redemption to roll back.
	b.planned("k2")
	b.done("k2", "", false)
	_, ok := b.wait(ctx, "k2")
	require.False(t, ok)
	_, usable := b.usable("k2")
	require.False(t, usable)

	// Past the limit the oldest key is forgotten.
	b.planned("k3")
	b.done("k3", "r_3", true)
	_, ok = b.wait(ctx, "k1")
	require.False(t, ok, "k1 was forgotten")
	id, ok := b.wait(ctx, "k3")
	require.True(t, ok)
	require.Equal(t, "r_3", id)

	// A waiter gives up when its context ends.
	b.planned("k4")
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, ok = b.wait(cctx, "k4")
	require.False(t, ok)
}
