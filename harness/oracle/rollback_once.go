package oracle

import (
	"fmt"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/oracle/state"
)

// RollbackOnce checks that no redemption was rolled back twice: not by two
// ok rollbacks with different rollback ids, not in the final state, and not
// in the audit log (when it was read).
type RollbackOnce struct{}

var _ Checker = RollbackOnce{}

func (RollbackOnce) Name() string { return "rollback_once" }

func (c RollbackOnce) Check(in *Input) Result {
	t := newTally(in, c.Name(), "per redemption: at most one committed rollback (ok answers, final state, audit log); checked counts redemptions with a rollback sent or committed")
	haveState := t.need(state.Redemptions) && t.need(state.Rollbacks)
	haveEvents, _ := in.State.Has(state.Events)

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
	check := func(id string, rollbackOps []int32) {
		if done[id] {
			return
		}
		done[id] = true
		t.res.Checked++
		// Distinct acknowledged rollbacks: by rollback id, or by
		// operation when the answer carried none.
		var acked []string
		var okOps []*Operation
		for _, p := range rollbackOps {
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
		voucher := ""
		if p, ok := in.redemptionByID[id]; ok {
			voucher = in.State.Redemptions[p].Voucher
		}
		switch {
		case len(acked) > 1:
			t.violate(voucher, fmt.Sprintf("redemption %s: %d rollbacks acknowledged ok", id, len(acked)), okOps...)
		case haveState && len(in.rollbacksByRedemption[id]) > 1:
			t.violate(voucher, fmt.Sprintf("redemption %s: %d rollbacks committed in the final state", id, len(in.rollbacksByRedemption[id])), in.ops(rollbackOps)...)
		case len(eventRollbacks[id]) > 1:
			t.violate(voucher, fmt.Sprintf("redemption %s: the audit log holds %d different rollbacks", id, len(eventRollbacks[id])), in.ops(rollbackOps)...)
		}
	}
	for i := range in.Ops {
		if o := &in.Ops[i]; o.F() == history.Rollback && o.RedemptionID() != "" {
			check(o.RedemptionID(), in.rollbacksByTarget[o.RedemptionID()])
		}
	}
	if haveState {
		for _, rb := range in.State.Rollbacks {
			check(rb.RedemptionID, in.rollbacksByTarget[rb.RedemptionID])
		}
	}
	if haveEvents {
		for _, e := range in.State.Events {
			if id := e.RedemptionID; len(eventRollbacks[id]) > 1 {
				check(id, in.rollbacksByTarget[id])
			}
		}
	}
	return t.result("no rollback was sent or committed")
}
