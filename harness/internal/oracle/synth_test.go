package oracle

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// synthesize builds a deterministic history of n client operations against
// a correct coupon service, and the final state that service would leave:
// redeems (some retried with their key, some indeterminate that did or did
// not commit), rollbacks (some repeated and refused), validates, and the
// audit events and post-drain probes. Every invariant holds on it.
func synthesize(n int, seed uint64) ([]history.Op, *state.State) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	nv := n/50 + 1
	type voucher struct {
		code     string
		gift     bool
		quantity int64
		active   int64
		amount   int64 // of the redemptions in effect
		balance  int64
		initial  int64
	}
	vs := make([]voucher, nv)
	for i := range vs {
		vs[i].code = fmt.Sprintf("V%06d", i)
		if rng.IntN(5) == 0 {
			vs[i].gift = true
			vs[i].initial = 100_000
			vs[i].balance = vs[i].initial
		} else {
			vs[i].quantity = 1 + rng.Int64N(60)
		}
	}
	type keyState struct {
		voucher   int
		customer  string
		amount    int64  // the order amount the first request sent
		committed string // redemption id, "" if nothing committed yet
		applied   int64  // the committed redemption's amount
	}
	keys := map[string]*keyState{}
	var recentKeys []string
	// okActive are redemptions a client knows (ok) and that are not rolled back.
	type known struct {
		id      string
		voucher int
		amount  int64
		rbID    string
	}
	var okActive, rolled []known
	st := &state.State{}
	redemptionAt := map[string]int{}

	ops := make([]history.Op, 0, 2*n)
	platforms := []string{"heroku", "aws"}
	for i := 0; i < n; i++ {
		invokeAt := t0.Add(time.Duration(i) * 20 * time.Microsecond)
		doneAt := invokeAt.Add(time.Duration(1+rng.IntN(20)) * time.Millisecond)
		id := fmt.Sprintf("op%07d", i)
		inv := history.Op{ID: id, Type: history.Invoke, Process: fmt.Sprintf("c%d", rng.IntN(64)), Intended: invokeAt, Time: invokeAt}
		done := history.Op{Platform: platforms[rng.IntN(2)]}
		roll := rng.IntN(100)
		switch {
		case roll < 50: // redeem, 1 in 10 a retry of a recent key
			inv.F = history.Redeem
			var k string
			var ks *keyState
			if len(recentKeys) > 0 && rng.IntN(10) == 0 {
				k = recentKeys[rng.IntN(len(recentKeys))]
				ks = keys[k]
			} else {
				k = fmt.Sprintf("k%07d", i)
				ks = &keyState{voucher: rng.IntN(nv), customer: fmt.Sprintf("cust%d", rng.IntN(1000))}
				ks.amount = 500
				if vs[ks.voucher].gift {
					ks.amount = 1 + rng.Int64N(5000)
				}
				keys[k] = ks
				recentKeys = append(recentKeys, k)
				if len(recentKeys) > 256 {
					recentKeys = recentKeys[1:]
				}
			}
			v := &vs[ks.voucher]
			// A retry repeats the request: voucher, key, customer, amount.
			inv.Voucher, inv.IdempotencyKey, inv.Customer = v.code, k, ks.customer
			amount := ks.amount
			inv.Amount = amount
			if ks.committed != "" { // a retry of a committed key replays it
				done.Type, done.Status, done.RedemptionID, done.Applied = history.OK, 200, ks.committed, ks.applied
				break
			}
			can := (v.gift && v.balance >= amount) || (!v.gift && v.active < v.quantity)
			r := rng.IntN(100)
			switch {
			case can && r < 96:
				rid := fmt.Sprintf("r%07d", i)
				ks.committed, ks.applied = rid, amount
				v.active++
				v.amount += amount
				if v.gift {
					v.balance -= amount
				}
				redemptionAt[rid] = len(st.Redemptions)
				st.Redemptions = append(st.Redemptions, state.Redemption{ID: rid, Voucher: v.code, Customer: inv.Customer, IdempotencyKey: k, Amount: amount})
				st.Events = append(st.Events, api.Event{ID: "e" + rid, Type: api.EventRedemptionCreated, Voucher: v.code, RedemptionID: rid, Amount: amount})
				if r < 93 {
					done.Type, done.Status, done.RedemptionID, done.Applied = history.OK, 200, rid, amount
					okActive = append(okActive, known{id: rid, voucher: ks.voucher, amount: amount})
				} else {
					done.Type, done.Status, done.HerokuCode = history.Info, 503, "H12"
				}
			case r < 98:
				done.Type, done.Status, done.ErrorKey = history.Fail, 400, api.KeyQuantityExceeded
			default:
				done.Type, done.Error = history.Info, "context deadline exceeded"
			}
		case roll < 58 && (len(okActive) > 0 || len(rolled) > 0): // rollback, some repeated
			inv.F = history.Rollback
			if len(rolled) > 0 && (len(okActive) == 0 || rng.IntN(10) == 0) {
				kn := rolled[rng.IntN(len(rolled))]
				inv.Voucher, inv.RedemptionID = vs[kn.voucher].code, kn.id
				done.Type, done.Status, done.ErrorKey = history.Fail, 400, api.KeyAlreadyRolledBack
				break
			}
			j := rng.IntN(len(okActive))
			kn := okActive[j]
			okActive[j] = okActive[len(okActive)-1]
			okActive = okActive[:len(okActive)-1]
			v := &vs[kn.voucher]
			kn.rbID = fmt.Sprintf("rb%07d", i)
			rolled = append(rolled, kn)
			v.active--
			v.amount -= kn.amount
			if v.gift {
				v.balance += kn.amount
			}
			r := &st.Redemptions[redemptionAt[kn.id]]
			r.RolledBack, r.RollbackID, r.RollbackCount = true, kn.rbID, 1
			st.Rollbacks = append(st.Rollbacks, state.Rollback{ID: kn.rbID, RedemptionID: kn.id, Voucher: v.code, Amount: kn.amount})
			st.Events = append(st.Events, api.Event{ID: "e" + kn.rbID, Type: api.EventRedemptionRolledBack, Voucher: v.code, RedemptionID: kn.id, RollbackID: kn.rbID, Amount: kn.amount})
			inv.Voucher, inv.RedemptionID = v.code, kn.id
			done.Type, done.Status, done.RollbackID = history.OK, 200, kn.rbID
		default: // validate
			inv.F = history.Validate
			v := &vs[rng.IntN(nv)]
			inv.Voucher, inv.Amount = v.code, 1000
			valid := (v.gift && v.balance >= inv.Amount) || (!v.gift && v.active < v.quantity)
			done.Type, done.Status, done.Valid = history.OK, 200, &valid
		}
		ops = append(ops, inv)
		c := inv
		c.Type, c.Time, c.Latency = done.Type, doneAt, doneAt.Sub(invokeAt)
		c.Status, c.Platform, c.HerokuCode, c.ErrorKey, c.Error = done.Status, done.Platform, done.HerokuCode, done.ErrorKey, done.Error
		if done.RedemptionID != "" {
			c.RedemptionID = done.RedemptionID
		}
		c.RollbackID, c.Valid, c.Applied = done.RollbackID, done.Valid, done.Applied
		ops = append(ops, c)
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Time.Before(ops[j].Time) })
	for i := range ops {
		ops[i].Index = int64(i)
	}
	for _, v := range vs {
		sv := state.Voucher{Code: v.code, Type: api.DiscountVoucher, Redeemed: v.active, RedeemedAmount: v.amount}
		if v.gift {
			sv.Type, sv.InitialBalance, sv.FinalBalance = api.GiftVoucher, v.initial, v.balance
		} else {
			q := v.quantity
			sv.Quantity = &q
		}
		st.Vouchers = append(st.Vouchers, sv)
	}
	st.CacheBound = 2 * time.Second
	probe(st)
	mirror(st)
	return ops, st
}

// probe answers a probe of every changed voucher on two targets, an hour
// after the run, as a correct service would.
func probe(st *state.State) {
	st.ProbeTargets = []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}
	for _, target := range st.ProbeTargets {
		for _, v := range state.Changed(st) {
			val := state.Validation{Voucher: v.Code, Target: target, Amount: 100_000, Valid: !v.Exhausted(), At: t0.Add(time.Hour)}
			if v.Gift() {
				b := v.FinalBalance
				val.Amount, val.Balance, val.Valid = 1, &b, b >= 1
				if !val.Valid {
					val.Key = api.KeyGiftAmountExceeded
				}
			} else if !val.Valid {
				val.Key = api.KeyQuantityExceeded
			}
			st.Validations = append(st.Validations, val)
		}
	}
}

// mirror makes the database reading what the service reports.
func mirror(st *state.State) {
	st.Database = state.Reading{
		Vouchers:    append([]state.Voucher(nil), st.Vouchers...),
		Redemptions: append([]state.Redemption(nil), st.Redemptions...),
	}
}

func TestSyntheticHistoryPasses(t *testing.T) {
	ops, st := synthesize(40_000, 7)
	results, err := Check(ops, st, All()...)
	require.NoError(t, err)
	for _, r := range results {
		require.Equal(t, Pass, r.Verdict, "%s\n%+v", r, r.Examples)
		require.Positive(t, r.Checked, r.Name)
	}
}

// TestSyntheticHistoryCatchesTampering changes one fact of a correct run at
// a time and expects exactly the matching invariant to notice. Unless a
// case says raw, the database reading and the probes are then taken again
// from the changed state, as a service holding it would answer.
func TestSyntheticHistoryCatchesTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(ops []history.Op, st *state.State)
		raw    bool
		broken []string
		// mayBreak may notice too (a count can be masked by an
		// indeterminate redeem that committed).
		mayBreak []string
	}{
		{
			name: "an acknowledged redemption vanished",
			tamper: func(ops []history.Op, st *state.State) {
				for i, r := range st.Redemptions {
					if !r.RolledBack && hasOK(ops, r.ID) {
						st.Redemptions = append(st.Redemptions[:i], st.Redemptions[i+1:]...)
						var events []api.Event
						for _, e := range st.Events {
							if e.RedemptionID != r.ID {
								events = append(events, e)
							}
						}
						st.Events = events
						v := voucherOf(st, r.Voucher)
						v.Redeemed--
						v.RedeemedAmount -= r.Amount
						if v.Gift() {
							v.FinalBalance += r.Amount
						}
						return
					}
				}
			},
			broken:   []string{"no_lost_ack"},
			mayBreak: []string{"redemption_bounds"},
		},
		{
			name: "an audit event is lost",
			tamper: func(ops []history.Op, st *state.State) {
				st.Events = st.Events[1:]
			},
			broken: []string{"audit_parity"},
		},
		{
			name: "a gift card lost money",
			tamper: func(ops []history.Op, st *state.State) {
				for j := range st.Vouchers {
					if st.Vouchers[j].Gift() {
						st.Vouchers[j].FinalBalance -= 1
						return
					}
				}
			},
			broken: []string{"gift_card_conservation", "ledger"},
		},
		{
			name: "a rollback gave the quantity back twice",
			tamper: func(ops []history.Op, st *state.State) {
				for _, rb := range st.Rollbacks {
					v := voucherOf(st, rb.Voucher)
					if v.Gift() || v.Redeemed == 0 {
						continue
					}
					v.Redeemed--
					v.RedeemedAmount -= rb.Amount
					again := rb
					again.ID += "-again"
					st.Rollbacks = append(st.Rollbacks, again)
					st.CountRollbacks()
					st.Events = append(st.Events, api.Event{ID: "e" + again.ID, Type: api.EventRedemptionRolledBack,
						Voucher: again.Voucher, RedemptionID: again.RedemptionID, RollbackID: again.ID, Amount: again.Amount})
					return
				}
			},
			broken: []string{"rollback_once", "ledger"},
		},
		{
			name: "Postgres holds another counter than the service reports",
			tamper: func(ops []history.Op, st *state.State) {
				st.Database.Vouchers[0].Redeemed++
			},
			raw:    true,
			broken: []string{"ledger"},
		},
		{
			name: "a redeem was answered with the redemption of another key",
			tamper: func(ops []history.Op, st *state.State) {
				byKey := map[string]int{}
				for _, op := range ops {
					if op.F == history.Redeem && op.Type == history.Invoke {
						byKey[op.IdempotencyKey]++
					}
				}
				for i := range ops {
					op := &ops[i]
					if op.F != history.Redeem || op.Type != history.OK || byKey[op.IdempotencyKey] != 1 {
						continue
					}
					for _, r := range st.Redemptions {
						if r.Voucher == op.Voucher && r.ID != op.RedemptionID && r.Amount == op.Applied {
							op.RedemptionID = r.ID
							return
						}
					}
				}
			},
			// Its own redemption stays committed, so idempotency sees the
			// key's answer differ from its commit too.
			broken: []string{"no_lost_ack", "idempotency"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, st := synthesize(20_000, 11)
			tc.tamper(ops, st)
			if !tc.raw {
				st.Validations = nil
				probe(st)
				mirror(st)
			}
			results, err := Check(ops, st, All()...)
			require.NoError(t, err)
			var broken []string
			for _, r := range results {
				switch {
				case r.Verdict == Fail && !contains(tc.mayBreak, r.Name):
					broken = append(broken, r.Name)
				case r.Verdict == Fail:
				default:
					require.Equal(t, Pass, r.Verdict, r.String())
				}
			}
			require.ElementsMatch(t, tc.broken, broken)
		})
	}
}

func voucherOf(st *state.State, code string) *state.Voucher {
	for j := range st.Vouchers {
		if st.Vouchers[j].Code == code {
			return &st.Vouchers[j]
		}
	}
	panic("no voucher " + code)
}

func hasOK(ops []history.Op, rid string) bool {
	for _, op := range ops {
		if op.Type == history.OK && op.F == history.Redeem && op.RedemptionID == rid {
			return true
		}
	}
	return false
}

// BenchmarkCheckMillion checks a synthetic history of one million client
// operations (two million entries) with every invariant. The baseline,
// measured in the same run, is one pass that only counts each voucher's ok
// operations in a map — the least any checker must do.
func BenchmarkCheckMillion(b *testing.B) {
	ops, st := synthesize(1_000_000, 1)
	var baseline, check, cpu time.Duration
	for b.Loop() {
		start := time.Now()
		counts := map[string]int{}
		for i := range ops {
			if ops[i].Type == history.OK {
				counts[ops[i].Voucher]++
			}
		}
		baseline += time.Since(start)

		start = time.Now()
		cpu0 := cpuTime()
		results, err := Check(ops, st, All()...)
		check += time.Since(start)
		cpu += cpuTime() - cpu0
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range results {
			if r.Verdict != Pass {
				b.Fatalf("%s", r)
			}
		}
	}
	b.ReportMetric(check.Seconds()/float64(b.N), "s/check")
	// CPU seconds (all threads, GC included) do not grow when other
	// processes share the machine; wall seconds do.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/check")
	b.ReportMetric(baseline.Seconds()/float64(b.N), "s/baseline")
	b.ReportMetric(float64(check)/float64(baseline), "x-baseline")
	b.ReportMetric(float64(len(ops)), "entries")
}

// cpuTime is the CPU time this process has used (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
