package oracle

import (
	"fmt"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/oracle/state"
)

// CacheCoherence checks that validate never calls a voucher valid that the
// database says is exhausted (quantity used up, or a gift card at zero):
// neither the validates the state reader sends after the drain, nor
// validates in the history sent after the voucher's last write had settled.
type CacheCoherence struct {
	// Grace is how long after a voucher's last write completed a validate
	// may still answer from a stale cache; zero demands read-your-writes.
	Grace time.Duration
}

var _ Checker = CacheCoherence{}

// DefaultCacheGrace is the Grace of the cache_coherence checker that All
// returns: couponapi's validate cache lives 2s (VALIDATE_CACHE_TTL), and a
// validate racing the last redeem may cache the state before it.
const DefaultCacheGrace = 5 * time.Second

func (CacheCoherence) Name() string { return "cache_coherence" }

func (c CacheCoherence) Check(in *Input) Result {
	t := newTally(in, c.Name(), "no validate after the drain (or after a voucher's last write settled) calls an exhausted voucher valid; checked counts such validates")
	okV := t.need(state.Vouchers)
	okR := t.need(state.Redemptions)
	if !okV || !okR {
		return t.result("")
	}
	// History validates first: their examples carry operation ids.
	for _, code := range in.historyVouchers {
		v, known := in.voucher(code)
		if !known || !in.exhausted(v) || len(in.validatesBy[code]) == 0 {
			continue
		}
		settled, ok := in.lastWrite(code)
		if !ok {
			continue
		}
		settled = settled.Add(c.Grace)
		for _, p := range in.validatesBy[code] {
			o := &in.Ops[p]
			valid, answered := o.Valid()
			if !answered || o.Type() != history.OK || !o.Invoked().After(settled) {
				continue
			}
			t.res.Checked++
			if valid {
				t.violate(code, fmt.Sprintf("validate called %s valid, sent after its last write settled at %s, but it is exhausted (%s)", code, settled.Format(time.RFC3339Nano), describeExhausted(v)), o)
			}
		}
	}
	if ok, _ := in.State.Has(state.Validations); ok {
		for _, val := range in.State.Validations {
			v, known := in.voucher(val.Voucher)
			if !known || !in.exhausted(v) {
				continue
			}
			t.res.Checked++
			if val.Valid {
				t.violate(v.Code, fmt.Sprintf("after the drain, %s called %s valid at %s, but it is exhausted (%s)", val.Target, v.Code, val.At.Format(time.RFC3339Nano), describeExhausted(v)))
			}
		}
	}
	if ok, why := in.State.Has(state.Validations); !ok && t.res.Checked == 0 {
		t.undecided = append(t.undecided, fmt.Sprintf("final state has no %s (%s) and no validate in the history followed a settled exhaustion", state.Validations, why))
	}
	return t.result("no validate of an exhausted voucher after its writes settled")
}

// exhausted tells whether the database says nothing is left to redeem.
func (in *Input) exhausted(v state.Voucher) bool {
	if v.Gift() {
		return v.FinalBalance <= 0
	}
	// The database's own counter, not a count of redemption rows: a
	// counter that drifted from the rows is another invariant's finding,
	// and validate rightly answers from the counter.
	return v.Quantity != nil && v.Redeemed >= *v.Quantity
}

func describeExhausted(v state.Voucher) string {
	if v.Gift() {
		return fmt.Sprintf("balance %d", v.FinalBalance)
	}
	return fmt.Sprintf("quantity %d, redeemed %d", *v.Quantity, v.Redeemed)
}

// lastWrite is when the last redeem or rollback on voucher completed; ok
// is false when one of them is indeterminate (it may land any time later).
func (in *Input) lastWrite(voucher string) (last time.Time, ok bool) {
	for _, p := range in.redeemsByVoucher[voucher] {
		o := &in.Ops[p]
		if o.Type() == history.Info {
			return time.Time{}, false
		}
		if o.Completed().After(last) {
			last = o.Completed()
		}
	}
	// Rollbacks are indexed by the redemption they target.
	for _, p := range in.redemptionsByVoucher[voucher] {
		for _, rp := range in.rollbacksByTarget[in.State.Redemptions[p].ID] {
			o := &in.Ops[rp]
			if o.Type() == history.Info {
				return time.Time{}, false
			}
			if o.Completed().After(last) {
				last = o.Completed()
			}
		}
	}
	return last, true
}
