package oracle

import (
	"fmt"
	"sort"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// CacheCoherence checks that validate answers from a state no older than
// the service's documented cache bound allows, during the run and after
// it:
//
//   - during the run, a validate that answered valid while its voucher was
//     certainly exhausted — by acknowledged redemptions the final state
//     holds, with no rollback of them sent — throughout the bound (plus
//     state.CacheFillSlack) before it was sent, until it completed;
//   - after the drain, every voucher whose state changed, probed on every
//     probe target (each replica of each platform): it must be valid
//     exactly when the database's counters leave something to redeem, and
//     a gift card must report the database's balance.
//
// Validates of a voucher whose counters disagree with its rows are not
// judged during the run (validate rightly answers from the counters; the
// ledger invariant reports the disagreement).
type CacheCoherence struct {
	// Bound is the documented staleness bound used when the final state
	// carries none (State.CacheBound); zero means DefaultCacheBound.
	Bound time.Duration
}

var _ Checker = CacheCoherence{}

// DefaultCacheBound is couponapi's documented bound: its validate cache
// lives VALIDATE_CACHE_TTL, 2 s by default, and is dropped after every
// committed redemption or rollback of the voucher.
const DefaultCacheBound = 2 * time.Second

func (CacheCoherence) Name() string { return "cache_coherence" }

// Grace is how long after a change validate may still answer from the
// state before it.
func (c CacheCoherence) Grace(st *state.State) time.Duration {
	b := c.Bound
	if st != nil && st.CacheBound > 0 {
		b = st.CacheBound
	}
	if b <= 0 {
		b = DefaultCacheBound
	}
	return b + state.CacheFillSlack
}

func (c CacheCoherence) Check(in *Input) Result {
	grace := c.Grace(in.State)
	t := newTally(in, c.Name(), fmt.Sprintf("no validate during the run calls a voucher valid that was certainly exhausted for the grace of %s before it; after the drain every changed voucher, on every probe target, answers as its counters say; checked counts judged validates and probes", grace))
	okV := t.need(state.Vouchers)
	okR := t.need(state.Redemptions)
	if !okV || !okR {
		return t.result("")
	}
	t.duringRun(grace)
	t.afterDrain(grace)
	return t.result("no validate during the run fell in a certainly exhausted stretch, and no probe was sent after the drain")
}

// step is the least a voucher's redemptions in effect were from at on:
// how many, and their amount.
type step struct {
	at        time.Time
	n, amount int64
}

// duringRun judges the history's validates.
func (t *tally) duringRun(grace time.Duration) {
	in := t.in
	var okValidates, answered int
	acks := map[string]time.Time{}
	for _, code := range in.historyVouchers {
		ps := in.validatesBy[code]
		if len(ps) == 0 {
			continue
		}
		v, known := in.voucher(code)
		var steps []step
		judge := known && (v.Quantity != nil || v.Gift()) && in.booksBalance(v)
		if judge {
			steps = in.certainlyInEffect(code, acks)
			judge = everExhausted(v, steps)
		}
		for _, p := range ps {
			o := &in.Ops[p]
			if o.Type() != history.OK {
				continue
			}
			okValidates++
			if !judge && answered > 0 {
				continue
			}
			valid, ok := o.Valid()
			if !ok {
				continue
			}
			answered++
			if !judge || !exhaustedThroughout(v, steps, o.Invoked().Add(-grace), o.Completed()) {
				continue
			}
			t.res.Checked++
			if valid {
				t.violate(code, fmt.Sprintf("validate called %s valid, but its acknowledged redemptions had used it up since at least %s before it was sent (%s)", code, grace, describeLimit(v)), o)
			}
		}
	}
	if okValidates > 0 && answered == 0 {
		t.undecided = append(t.undecided, fmt.Sprintf("none of the %d ok validates in the history records its answer (valid or not)", okValidates))
	}
}

// booksBalance tells whether v's counters match its rows, as far as
// validate reads them (quantity and gift balance).
func (in *Input) booksBalance(v state.Voucher) bool {
	var n, amount int64
	for _, p := range in.redemptionsByVoucher[v.Code] {
		if r := in.State.Redemptions[p]; !r.RolledBack {
			n++
			amount += r.Amount
		}
	}
	if v.Gift() && v.FinalBalance != v.InitialBalance-amount {
		return false
	}
	return v.Quantity == nil || v.Redeemed == n
}

// certainlyInEffect returns, in time order, the least number and amount of
// voucher code's redemptions in effect: a redemption the final state holds
// counts from the first ok answer that named it until the first rollback
// of it that was sent and did not definitely fail (a redemption rolled back
// in the final state with no such rollback is left out). acks is scratch
// space.
func (in *Input) certainlyInEffect(code string, acks map[string]time.Time) []step {
	clear(acks)
	for _, p := range in.redeemsByVoucher[code] {
		o := &in.Ops[p]
		if o.Type() != history.OK || o.RedemptionID() == "" {
			continue
		}
		if at, seen := acks[o.RedemptionID()]; !seen || o.Completed().Before(at) {
			acks[o.RedemptionID()] = o.Completed()
		}
	}
	type edge struct {
		at     time.Time
		delta  int64
		amount int64
	}
	var edges []edge
	for _, p := range in.redemptionsByVoucher[code] {
		r := in.State.Redemptions[p]
		start, ok := acks[r.ID]
		if !ok {
			continue
		}
		var end time.Time
		for _, rp := range in.rollbacksByTarget[r.ID] {
			o := &in.Ops[rp]
			if o.Type() != history.Fail && (end.IsZero() || o.Invoked().Before(end)) {
				end = o.Invoked()
			}
		}
		if r.RolledBack && end.IsZero() {
			continue
		}
		edges = append(edges, edge{at: start, delta: 1, amount: r.Amount})
		if r.RolledBack {
			edges = append(edges, edge{at: end, delta: -1, amount: -r.Amount})
		}
	}
	// Ends before starts at one instant: never count an overlap that might
	// not have been one.
	sort.Slice(edges, func(i, j int) bool {
		if !edges[i].at.Equal(edges[j].at) {
			return edges[i].at.Before(edges[j].at)
		}
		return edges[i].delta < edges[j].delta
	})
	steps := make([]step, 1, len(edges)+1)
	for _, e := range edges {
		last := steps[len(steps)-1]
		steps = append(steps, step{at: e.at, n: last.n + e.delta, amount: last.amount + e.amount})
	}
	return steps
}

// exhausted tells whether s certainly leaves nothing of v to redeem.
func exhausted(v state.Voucher, s step) bool {
	return (v.Quantity != nil && s.n >= *v.Quantity) || (v.Gift() && s.amount >= v.InitialBalance)
}

// everExhausted tells whether v was certainly exhausted at some instant.
func everExhausted(v state.Voucher, steps []step) bool {
	for _, s := range steps {
		if exhausted(v, s) {
			return true
		}
	}
	return false
}

// exhaustedThroughout tells whether v was certainly exhausted at every
// instant of [from, to].
func exhaustedThroughout(v state.Voucher, steps []step, from, to time.Time) bool {
	// The step in force at from: the last one that started at or before
	// it (the first step, nothing in effect, holds from the beginning).
	i := sort.Search(len(steps), func(k int) bool { return k > 0 && steps[k].at.After(from) }) - 1
	for k := i; k < len(steps); k++ {
		if k > i && steps[k].at.After(to) {
			break
		}
		if !exhausted(v, steps[k]) {
			return false
		}
	}
	return true
}

func describeLimit(v state.Voucher) string {
	if v.Gift() {
		return fmt.Sprintf("gift card of %d", v.InitialBalance)
	}
	return fmt.Sprintf("quantity %d", *v.Quantity)
}

// afterDrain judges the probes: every changed voucher on every target, each
// answer as the voucher's counters say.
func (t *tally) afterDrain(grace time.Duration) {
	in := t.in
	ok, why := in.State.Has(state.Validations)
	if !ok {
		t.undecided = append(t.undecided, fmt.Sprintf("final state has no %s (%s)", state.Validations, why))
		return
	}
	targets := in.State.ProbeTargets
	if len(targets) == 0 {
		seen := map[string]bool{}
		for _, val := range in.State.Validations {
			if !seen[val.Target] {
				seen[val.Target] = true
				targets = append(targets, val.Target)
			}
		}
	}
	probed := make(map[[2]string]bool, len(in.State.Validations))
	lastWrite := map[string]time.Time{}
	var early int
	for _, val := range in.State.Validations {
		probed[[2]string{val.Voucher, val.Target}] = true
		v, known := in.voucher(val.Voucher)
		if !known {
			continue
		}
		last, seen := lastWrite[v.Code]
		if !seen {
			last = in.lastWrite(v.Code)
			lastWrite[v.Code] = last
		}
		if !last.IsZero() && val.At.Before(last.Add(grace)) {
			early++
			continue
		}
		t.res.Checked++
		switch {
		case v.Exhausted() && val.Valid:
			t.violate(v.Code, fmt.Sprintf("after the drain, %s called %s valid at %s, but it is exhausted (%s)", val.Target, v.Code, val.At.Format(time.RFC3339Nano), describeExhausted(v)))
		case !v.Exhausted() && !val.Valid && (val.Key == api.KeyQuantityExceeded ||
			(val.Key == api.KeyGiftAmountExceeded && val.Amount > 0 && val.Amount <= v.FinalBalance)):
			t.violate(v.Code, fmt.Sprintf("after the drain, %s called %s used up (%s) at %s, but it is not (%s)", val.Target, v.Code, val.Key, val.At.Format(time.RFC3339Nano), describeExhausted(v)))
		case v.Gift() && val.Balance != nil && *val.Balance != v.FinalBalance:
			t.violate(v.Code, fmt.Sprintf("after the drain, %s reported balance %d for %s at %s, but it is %d", val.Target, *val.Balance, v.Code, val.At.Format(time.RFC3339Nano), v.FinalBalance))
		}
	}
	if early > 0 {
		t.undecided = append(t.undecided, fmt.Sprintf("%d probes were sent less than %s after their voucher's last write", early, grace))
	}
	var unprobed []string
	changed := state.Changed(in.State)
	for _, v := range changed {
		for _, target := range targets {
			if !probed[[2]string{v.Code, target}] {
				unprobed = append(unprobed, v.Code+" on "+target)
			}
		}
	}
	if len(targets) == 0 && len(changed) > 0 {
		unprobed = append(unprobed, "every changed voucher (no probe target)")
	}
	if len(unprobed) > 0 {
		t.undecided = append(t.undecided, fmt.Sprintf("%d changed vouchers were not probed after the drain: %s", len(unprobed), firstFew(unprobed)))
	}
}

func describeExhausted(v state.Voucher) string {
	if v.Gift() {
		return fmt.Sprintf("balance %d", v.FinalBalance)
	}
	if v.Quantity == nil {
		return fmt.Sprintf("unlimited, redeemed %d", v.Redeemed)
	}
	return fmt.Sprintf("quantity %d, redeemed %d", *v.Quantity, v.Redeemed)
}

// lastWrite is when the last redeem or rollback that may have changed
// voucher ended (completed, or was sent if it never completed).
func (in *Input) lastWrite(voucher string) time.Time {
	var last time.Time
	for _, p := range in.redeemsByVoucher[voucher] {
		if at := in.Ops[p].Last().Time; at.After(last) {
			last = at
		}
	}
	for _, p := range in.redemptionsByVoucher[voucher] {
		for _, rp := range in.rollbacksByTarget[in.State.Redemptions[p].ID] {
			if at := in.Ops[rp].Last().Time; at.After(last) {
				last = at
			}
		}
	}
	return last
}
