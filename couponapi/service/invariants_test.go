package service_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/couponapi/client"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

// violation is an invariant broken by the service (as opposed to a test
// that could not run).
type violation struct{ msg string }

func (v *violation) Error() string { return "invariant violated: " + v.msg }

func violationf(format string, args ...any) error { return &violation{fmt.Sprintf(format, args...)} }

// world is what a scenario runs against: two "platforms" (two service
// instances sharing the databases, as during a cutover) and the stack.
type world struct {
	t     *testing.T
	st    stack.Stack
	insts []*couponapitest.Instance
	code  func(string) string
}

// client returns the client of request i: requests alternate between the
// two platforms.
func (w *world) client(i int) *client.Client { return w.insts[i%len(w.insts)].Client }

func (w *world) create(v api.Voucher) {
	w.t.Helper()
	_, err := w.insts[0].Client.CreateVoucher(context.Background(), v)
	require.NoError(w.t, err)
}

// concurrently runs n calls of fn at once (released together) and waits.
func concurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func apiKey(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		return e.Key
	}
	return ""
}

// scenario checks one invariant; the planted bug is the one it must catch.
type scenario struct {
	name string
	bug  bugs.Bug
	env  map[string]string
	run  func(w *world) error
}

var scenarios = []scenario{
	{"no over-redemption: 200 concurrent redemptions of quantity 50", bugs.CheckThenAct, nil, noOverRedemption},
	{"gift card: concurrent partial redemptions sum exactly, balance never negative", bugs.CheckThenAct, nil, giftCardBalance},
	{"one redemption for 50 concurrent retries with one idempotency key", bugs.IdempotencyIgnored, nil, concurrentRetries},
	{"idempotency survives a Redis flush", bugs.IdempotencyRedisOnly, nil, retryAfterRedisFlush},
	{"rollback restores exactly once", bugs.RollbackTwice, nil, rollbackOnce},
	{"validate never says valid longer than VALIDATE_CACHE_TTL after exhaustion", bugs.ValidateCacheStale,
		map[string]string{"VALIDATE_CACHE_TTL": "1s"}, validateCacheBound},
	{"a redeem is answered with its own key's redemption", bugs.IdempotencyByCustomer, nil, answerPerKey},
	{"a rollback gives back exactly what its redemption took", bugs.RollbackRestoresTwice, nil, rollbackRestoresOnce},
}

// TestInvariants runs each scenario on a correct service (two instances,
// as two platforms during a cutover), where it must hold, then on a service
// with the scenario's planted bug, where it must be violated: the checks
// catch what they exist for.
func TestInvariants(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded stack and several concurrent runs")
	}
	st := stacktest.Embedded(t)
	ep := st.Endpoints()
	// 200 redemptions queue on one row: give them time on a loaded machine
	// (a 503 is retry-safe, but these scenarios count exact outcomes).
	base := map[string]string{"VALIDATE_CACHE_TTL": "1s", "DB_TIMEOUT": "20s"}
	good := []*couponapitest.Instance{}
	for range 2 {
		good = append(good, couponapitest.Start(t, ep, base))
	}
	var seq atomic.Int64
	codes := func(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			err := sc.run(&world{t: t, st: st, insts: good, code: codes})
			require.NoError(t, err, "correct service")
			env := map[string]string{"COUPONAPI_BUGS": string(sc.bug), "DB_TIMEOUT": base["DB_TIMEOUT"]}
			for k, v := range sc.env {
				env[k] = v
			}
			buggy := []*couponapitest.Instance{couponapitest.Start(t, ep, env), couponapitest.Start(t, ep, env)}
			err = sc.run(&world{t: t, st: st, insts: buggy, code: codes})
			var v *violation
			require.ErrorAs(t, err, &v, "with bug %s the invariant must be violated", sc.bug)
			t.Logf("with %s: %v", sc.bug, err)
		})
	}
}

func redeemReq(i int, amount int64) api.RedeemRequest {
	return api.RedeemRequest{Customer: api.Customer{SourceID: fmt.Sprintf("cust-%d", i)},
		Order: api.Order{ID: fmt.Sprintf("ord-%d", i), Amount: amount}}
}

func noOverRedemption(w *world) error {
	ctx := context.Background()
	code := w.code("QTY50")
	w.create(couponapitest.Voucher(code, 50, 100))
	var ok, exceeded atomic.Int64
	var other sync.Map
	concurrently(200, func(i int) {
		_, err := w.client(i).Redeem(ctx, code, fmt.Sprintf("%s-k%d", code, i), redeemReq(i, 1000))
		switch {
		case err == nil:
			ok.Add(1)
		case apiKey(err) == api.KeyQuantityExceeded:
			exceeded.Add(1)
		default:
			other.Store(i, err)
		}
	})
	other.Range(func(k, v any) bool { w.t.Fatalf("redemption %v: unexpected error %v", k, v); return false })
	list, err := w.client(0).AllRedemptions(ctx, code)
	require.NoError(w.t, err)
	v, err := w.client(0).Voucher(ctx, code)
	require.NoError(w.t, err)
	if ok.Load() != 50 || exceeded.Load() != 150 || len(list) != 50 || v.Redemption.RedeemedQuantity != 50 {
		return violationf("quantity 50: %d redemptions acknowledged, %d refused, %d listed, redeemed_quantity %d",
			ok.Load(), exceeded.Load(), len(list), v.Redemption.RedeemedQuantity)
	}
	return nil
}

func giftCardBalance(w *world) error {
	ctx := context.Background()
	code := w.code("GIFT")
	const initial = 10000
	w.create(couponapitest.GiftCard(code, initial))
	rng := rand.New(rand.NewPCG(7, 11))
	amounts := make([]int64, 100)
	for i := range amounts {
		amounts[i] = 50 + rng.Int64N(351)
	}
	var mu sync.Mutex
	var acked int64
	var refused []int64
	concurrently(len(amounts), func(i int) {
		_, err := w.client(i).Redeem(ctx, code, fmt.Sprintf("%s-k%d", code, i), redeemReq(i, amounts[i]))
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			acked += amounts[i]
		case apiKey(err) == api.KeyGiftAmountExceeded:
			refused = append(refused, amounts[i])
		default:
			w.t.Errorf("redemption %d: unexpected error %v", i, err)
		}
	})
	require.False(w.t, w.t.Failed())
	v, err := w.client(0).Voucher(ctx, code)
	require.NoError(w.t, err)
	list, err := w.client(0).AllRedemptions(ctx, code)
	require.NoError(w.t, err)
	var listed int64
	for _, r := range list {
		listed += r.Amount
	}
	balance := v.Gift.Balance
	if balance < 0 || acked+balance != initial || listed != acked || v.Redemption.RedeemedAmount != acked {
		return violationf("gift card of %d: acknowledged %d, listed %d, redeemed_amount %d, balance %d",
			initial, acked, listed, v.Redemption.RedeemedAmount, balance)
	}
	for _, a := range refused {
		if a <= balance {
			return violationf("a redemption of %d was refused although %d is left", a, balance)
		}
	}
	return nil
}

func concurrentRetries(w *world) error {
	ctx := context.Background()
	code := w.code("RETRY")
	w.create(couponapitest.Voucher(code, 0, 100))
	key := code + "-the-key"
	ids := make([]string, 50)
	concurrently(50, func(i int) {
		r, err := w.client(i).Redeem(ctx, code, key, redeemReq(1, 1000))
		if err != nil {
			w.t.Errorf("retry %d: %v", i, err)
			return
		}
		ids[i] = r.ID
	})
	require.False(w.t, w.t.Failed())
	list, err := w.client(0).AllRedemptions(ctx, code)
	require.NoError(w.t, err)
	distinct := map[string]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	if len(list) != 1 || len(distinct) != 1 {
		return violationf("50 retries with one key: %d redemptions listed, %d distinct ids answered", len(list), len(distinct))
	}
	// The same key with another body is refused and changes nothing.
	_, err = w.client(1).Redeem(ctx, code, key, redeemReq(1, 999))
	if apiKey(err) != api.KeyIdempotencyMismatch {
		return violationf("same key, different body: got %v, want %s", err, api.KeyIdempotencyMismatch)
	}
	return nil
}

func retryAfterRedisFlush(w *world) error {
	ctx := context.Background()
	code := w.code("FLUSH")
	w.create(couponapitest.Voucher(code, 0, 100))
	key := code + "-k"
	first, err := w.client(0).Redeem(ctx, code, key, redeemReq(1, 1000))
	require.NoError(w.t, err)
	require.NoError(w.t, w.st.Redis().Flush(ctx))
	again, err := w.client(1).Redeem(ctx, code, key, redeemReq(1, 1000))
	require.NoError(w.t, err)
	list, err := w.client(0).AllRedemptions(ctx, code)
	require.NoError(w.t, err)
	if again.ID != first.ID || len(list) != 1 {
		return violationf("retry after a Redis flush: first %s, retry %s, %d redemptions listed", first.ID, again.ID, len(list))
	}
	return nil
}

func rollbackOnce(w *world) error {
	ctx := context.Background()
	code := w.code("ROLLBACK")
	w.create(couponapitest.Voucher(code, 5, 100))
	var reds []api.Redemption
	for i := range 3 {
		r, err := w.client(i).Redeem(ctx, code, "", redeemReq(i, 1000))
		require.NoError(w.t, err)
		reds = append(reds, r)
	}
	_, err := w.client(0).Rollback(ctx, reds[0].ID, "mistake")
	require.NoError(w.t, err)
	_, second := w.client(1).Rollback(ctx, reds[0].ID, "mistake again")
	var ok atomic.Int64
	concurrently(10, func(i int) {
		if _, err := w.client(i).Rollback(ctx, reds[1].ID, "concurrent"); err == nil {
			ok.Add(1)
		}
	})
	v, err := w.client(0).Voucher(ctx, code)
	require.NoError(w.t, err)
	if apiKey(second) != api.KeyAlreadyRolledBack || ok.Load() != 1 || v.Redemption.RedeemedQuantity != 1 {
		return violationf("second rollback answered %v; %d of 10 concurrent rollbacks succeeded; redeemed_quantity %d, want 1",
			second, ok.Load(), v.Redemption.RedeemedQuantity)
	}
	// A gift card gets its credits back once.
	gift := w.code("GIFTRB")
	w.create(couponapitest.GiftCard(gift, 1000))
	r, err := w.client(0).Redeem(ctx, gift, "", redeemReq(9, 300))
	require.NoError(w.t, err)
	_, err = w.client(0).Rollback(ctx, r.ID, "")
	require.NoError(w.t, err)
	_, _ = w.client(1).Rollback(ctx, r.ID, "")
	g, err := w.client(0).Voucher(ctx, gift)
	require.NoError(w.t, err)
	if g.Gift.Balance != 1000 {
		return violationf("gift card balance after one redemption of 300 and its rollback: %d, want 1000", g.Gift.Balance)
	}
	return nil
}

func answerPerKey(w *world) error {
	ctx := context.Background()
	code := w.code("PERKEY")
	w.create(couponapitest.Voucher(code, 0, 100))
	// One customer, three orders, three keys, on both platforms.
	var ids []string
	for i := range 3 {
		req := redeemReq(7, 1000)
		req.Order.ID = fmt.Sprintf("ord-%s-%d", code, i)
		r, err := w.client(i).Redeem(ctx, code, fmt.Sprintf("%s-k%d", code, i), req)
		require.NoError(w.t, err)
		ids = append(ids, r.ID)
	}
	list, err := w.client(0).AllRedemptions(ctx, code)
	require.NoError(w.t, err)
	byID := map[string]api.Redemption{}
	for _, r := range list {
		byID[r.ID] = r
	}
	for i, id := range ids {
		if key := fmt.Sprintf("%s-k%d", code, i); byID[id].IdempotencyKey != key {
			return violationf("redeem with key %s was answered with redemption %s, which holds key %q (%d redemptions listed)", key, id, byID[id].IdempotencyKey, len(list))
		}
	}
	return nil
}

func rollbackRestoresOnce(w *world) error {
	ctx := context.Background()
	code := w.code("AMOUNT")
	w.create(couponapitest.Voucher(code, 5, 100))
	var reds []api.Redemption
	for i := range 3 {
		r, err := w.client(i).Redeem(ctx, code, "", redeemReq(i, 1000))
		require.NoError(w.t, err)
		reds = append(reds, r)
	}
	_, err := w.client(1).Rollback(ctx, reds[0].ID, "mistake")
	require.NoError(w.t, err)
	v, err := w.client(0).Voucher(ctx, code)
	require.NoError(w.t, err)
	if want := reds[1].Amount + reds[2].Amount; v.Redemption.RedeemedAmount != want || v.Redemption.RedeemedQuantity != 2 {
		return violationf("after 3 redemptions of 100 and one rollback: redeemed_quantity %d, redeemed_amount %d, want 2 and %d",
			v.Redemption.RedeemedQuantity, v.Redemption.RedeemedAmount, want)
	}
	return nil
}

func validateCacheBound(w *world) error {
	ctx := context.Background()
	code := w.code("VALID")
	w.create(couponapitest.Voucher(code, 1, 100))
	req := api.ValidateRequest{Order: api.Order{Amount: 1000}}
	for i := range 2 { // fill both platforms' view of the cache
		res, err := w.client(i).Validate(ctx, code, req)
		require.NoError(w.t, err)
		require.True(w.t, res.Valid)
	}
	_, err := w.client(0).Redeem(ctx, code, "", redeemReq(1, 1000))
	require.NoError(w.t, err)
	time.Sleep(1100 * time.Millisecond) // the documented bound (VALIDATE_CACHE_TTL=1s) and a margin
	for i := range 2 {
		res, err := w.client(i).Validate(ctx, code, req)
		require.NoError(w.t, err)
		if res.Valid || res.Key != api.KeyQuantityExceeded {
			return violationf("validate on platform %d says valid=%v (%s) 1.1s after the last redemption", i, res.Valid, res.Key)
		}
	}
	return nil
}

// TestAuditParity commits redemptions on a process whose Mongo is down and
// whose relay is off (the state after a kill between commit and relay),
// then lets another process relay: the audit log must get exactly one event
// per redemption. With outbox_skipped the events written around the outbox
// are lost — but only those: with Mongo up, each still gets there once.
func TestAuditParity(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded stack")
	}
	st := stacktest.Embedded(t)
	ep := st.Endpoints()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadMongo := "mongodb://" + dead.Addr().String() + "/"
	require.NoError(t, dead.Close())

	for _, tc := range []struct {
		bug     string
		mongoUp bool
		wantErr bool
	}{{"", false, false}, {string(bugs.OutboxSkipped), false, true}, {string(bugs.OutboxSkipped), true, false}} {
		t.Run(fmt.Sprintf("bug=%s,mongo_up=%t", tc.bug, tc.mongoUp), func(t *testing.T) {
			ctx := context.Background()
			code := fmt.Sprintf("AUDIT-%s-%t", tc.bug, tc.mongoUp)
			mongo := deadMongo
			if tc.mongoUp {
				mongo = ep.MongoURL
			}
			a := couponapitest.Start(t, ep, map[string]string{
				"MONGODB_URL": mongo, "OUTBOX_RELAY": "false", "COUPONAPI_BUGS": tc.bug})
			_, err := a.Client.CreateVoucher(ctx, couponapitest.Voucher(code, 0, 100))
			require.NoError(t, err)
			var ids []string
			for i := range 5 {
				r, err := a.Client.Redeem(ctx, code, fmt.Sprintf("%s-%d", code, i), redeemReq(i, 500))
				require.NoError(t, err)
				ids = append(ids, r.ID)
			}
			// Another process relays what the first one left in the outbox.
			couponapitest.Start(t, ep, nil)
			couponapitest.WaitFor(3*time.Second, func() bool { return auditParity(t, ep.MongoURL, code, ids) == nil })
			err = auditParity(t, ep.MongoURL, code, ids)
			if !tc.wantErr {
				require.NoError(t, err)
				return
			}
			var v *violation
			require.ErrorAs(t, err, &v)
			t.Log(err)
		})
	}
}

// auditParity checks that the audit log holds exactly one redemption.created
// event for each of ids and none other for code.
func auditParity(t *testing.T, mongoURL, code string, ids []string) error {
	evs := couponapitest.AuditEvents(t, mongoURL, bson.D{{Key: "voucher", Value: code}, {Key: "type", Value: api.EventRedemptionCreated}})
	seen := map[string]int{}
	for _, ev := range evs {
		seen[ev.RedemptionID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			return violationf("redemption %s has %d audit events (of %d events for %d redemptions)", id, seen[id], len(evs), len(ids))
		}
	}
	if len(evs) != len(ids) {
		return violationf("%d audit events for %d redemptions", len(evs), len(ids))
	}
	return nil
}
