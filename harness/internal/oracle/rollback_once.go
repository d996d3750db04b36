package oracle

import (
	"fmt"
	"strings"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// RollbackOnce checks that no redemption was rolled back twice, from every
// source that can show a second rollback: the ok answers (two different
// rollback ids), the rows (when the service lists rollbacks one by one),
// the audit log (two rollback events with different ids), and the
// counters — a voucher whose redeemed_quantity is below its redemptions
// in effect got quantity back more often than its rows record, and when a
// redemption of it was sent more than one rollback that may have
// committed, that is the second rollback. Without the audit log and
// without listed rollbacks, a counter deficit that no repeated rollback
// explains is undecided (ledger reports the counter); with neither the
// audit log nor the counters, the check is unknown.
type RollbackOnce struct{}

var _ Checker = RollbackOnce{}

func (RollbackOnce) Name() string { return "rollback_once" }

func (c RollbackOnce) Check(in *Input) Result {
	t := newTally(in, c.Name(), "per redemption: at most one committed rollback, by the ok answers, the listed rollbacks, the audit log and the voucher counters; checked counts redemptions with a rollback sent or committed")
	if !t.need(state.Redemptions) {
		return t.result("")
	}
	haveEvents, whyEvents := in.State.Has(state.Events)
	haveCounters, whyCounters := in.State.Has(state.Vouchers)
	haveList, _ := in.State.Has(state.Rollbacks)
	_, derived := in.State.Derived[state.Rollbacks]
	listed := haveList && !derived

	// Rollback events per redemption, by distinct rollback id.
	eventRollbacks := map[string][]string{}
	if haveEvents {
		for _, e := range in.State.Events {
			if e.Type == api.EventRedemptionRolledBack && !contains(eventRollbacks[e.RedemptionID], e.RollbackID) {
				eventRollbacks[e.RedemptionID] = append(eventRollbacks[e.RedemptionID], e.RollbackID)
			}
		}
	}
	done := map[string]bool{}
	check := func(id string) {
		if done[id] {
			return
		}
		done[id] = true
		t.res.Checked++
		rollbackOps := in.rollbacksByTarget[id]
		acked, okOps := in.ackedRollbacks(rollbackOps)
		voucher := ""
		if p, ok := in.redemptionByID[id]; ok {
			voucher = in.State.Redemptions[p].Voucher
		}
		switch {
		case len(acked) > 1:
			t.violate(voucher, fmt.Sprintf("redemption %s: %d rollbacks acknowledged ok (%s)", id, len(acked), strings.Join(acked, ", ")), okOps...)
		case listed && len(in.rollbacksByRedemption[id]) > 1:
			t.violate(voucher, fmt.Sprintf("redemption %s: %d rollbacks committed in the final state", id, len(in.rollbacksByRedemption[id])), in.ops(rollbackOps)...)
		case len(eventRollbacks[id]) > 1:
			t.violate(voucher, fmt.Sprintf("redemption %s: the audit log holds %d different rollbacks (%s)", id, len(eventRollbacks[id]), strings.Join(eventRollbacks[id], ", ")), in.ops(rollbackOps)...)
		}
	}
	for i := range in.Ops {
		if o := &in.Ops[i]; o.F() == history.Rollback && o.RedemptionID() != "" {
			check(o.RedemptionID())
		}
	}
	for _, r := range in.State.Redemptions {
		if r.RolledBack || r.RollbackCount > 0 {
			check(r.ID)
		}
	}
	for _, e := range in.State.Events {
		if len(eventRollbacks[e.RedemptionID]) > 0 {
			check(e.RedemptionID)
		}
	}

	// The counters: quantity given back beyond the rows' rollbacks.
	if !haveCounters {
		if !haveEvents && !listed && t.res.Checked > 0 {
			t.undecided = append(t.undecided, fmt.Sprintf("a second rollback of a redemption cannot be seen: the audit log is unreadable (%s), the service lists no rollbacks of its own, and the voucher counters are unreadable (%s)", whyEvents, whyCounters))
		}
		return t.result("no rollback was sent or committed")
	}
	var unexplained []string
	for _, v := range in.State.Vouchers {
		rows := in.redemptionsByVoucher[v.Code]
		var active int64
		var repeated []*Operation
		var repeatedIDs []string
		for _, p := range rows {
			r := in.State.Redemptions[p]
			if !r.RolledBack {
				active++
			}
			if ops := in.rollbacksByTarget[r.ID]; in.mayHaveCommitted(ops) > 1 {
				repeated = append(repeated, in.ops(ops)...)
				repeatedIDs = append(repeatedIDs, r.ID)
			}
		}
		deficit := active - v.Redeemed
		if deficit <= 0 || len(rows) == 0 {
			continue
		}
		switch {
		case len(repeated) > 0:
			t.violate(v.Code, fmt.Sprintf("voucher %s: redeemed_quantity %d is %d below its %d redemptions in effect, and redemption %s was sent rollbacks that may each have committed: a second rollback gave the quantity back again", v.Code, v.Redeemed, deficit, active, strings.Join(repeatedIDs, ", ")), repeated...)
		case !haveEvents && !listed:
			unexplained = append(unexplained, v.Code)
		}
	}
	if len(unexplained) > 0 {
		t.undecided = append(t.undecided, fmt.Sprintf("the counters of %d vouchers (%s) are below their redemptions in effect; with the audit log unreadable (%s) and no listed rollbacks, a second rollback cannot be told from a lost count (ledger reports the counters)", len(unexplained), firstFew(unexplained), whyEvents))
	}
	return t.result("no rollback was sent or committed")
}

// ackedRollbacks returns the distinct rollbacks acknowledged ok among ops
// (by rollback id, or by operation when the answer carried none) and the
// ok operations.
func (in *Input) ackedRollbacks(ops []int32) (acked []string, okOps []*Operation) {
	for _, p := range ops {
		o := &in.Ops[p]
		if o.Type() != history.OK {
			continue
		}
		okOps = append(okOps, o)
		rb := o.RollbackID()
		if rb == "" {
			rb = "op:" + o.ID()
		}
		if !contains(acked, rb) {
			acked = append(acked, rb)
		}
	}
	return acked, okOps
}

// mayHaveCommitted counts the rollbacks among ops that may each have
// committed: distinct acknowledged ones, and indeterminate ones that share
// no idempotency key with an acknowledged one (a retry with the key of an
// acknowledged rollback is that rollback).
func (in *Input) mayHaveCommitted(ops []int32) int {
	if len(ops) < 2 {
		return len(ops)
	}
	acked, _ := in.ackedRollbacks(ops)
	okKeys := map[string]bool{}
	for _, p := range ops {
		if o := &in.Ops[p]; o.Type() == history.OK && o.IdempotencyKey() != "" {
			okKeys[o.IdempotencyKey()] = true
		}
	}
	n := len(acked)
	infoKeys := map[string]bool{}
	for _, p := range ops {
		o := &in.Ops[p]
		if o.Type() != history.Info {
			continue
		}
		switch k := o.IdempotencyKey(); {
		case k == "":
			n++
		case okKeys[k] || infoKeys[k]:
		default:
			infoKeys[k] = true
			n++
		}
	}
	return n
}

func firstFew(list []string) string {
	if len(list) > 5 {
		return strings.Join(list[:5], ", ") + ", ..."
	}
	return strings.Join(list, ", ")
}
