package oracle

import (
	"fmt"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/oracle/state"
)

// AuditParity checks that, once the outbox drained (the state reader waits
// for it, bounded), the audit log in Mongo holds exactly one
// redemption.created event per committed redemption and one
// redemption.rolled_back event per committed rollback, and nothing else.
type AuditParity struct{}

var _ Checker = AuditParity{}

func (AuditParity) Name() string { return "audit_parity" }

func (c AuditParity) Check(in *Input) Result {
	t := newTally(in, c.Name(), "exactly one audit event per committed redemption and rollback, none for anything else; checked counts expected events")
	okR := t.need(state.Redemptions)
	okRB := t.need(state.Rollbacks)
	okE := t.need(state.Events)
	if !okR || !okRB || !okE {
		return t.result("")
	}
	created := make(map[string]int, len(in.State.Redemptions))
	// rolledBack counts rollback events per redemption, and per rollback id.
	rolledBack := map[string]int{}
	byRollbackID := map[string]int{}
	for _, e := range in.State.Events {
		switch e.Type {
		case api.EventRedemptionCreated:
			created[e.RedemptionID]++
		case api.EventRedemptionRolledBack:
			rolledBack[e.RedemptionID]++
			if e.RollbackID != "" {
				byRollbackID[e.RollbackID]++
			}
		}
	}
	for _, r := range in.State.Redemptions {
		t.res.Checked++
		switch n := created[r.ID]; {
		case n == 0:
			t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s has no %s event", r.ID, r.Voucher, api.EventRedemptionCreated), in.redeemOpsFor(r.Voucher, r.ID)...)
		case n > 1:
			t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s has %d %s events", r.ID, r.Voucher, n, api.EventRedemptionCreated), in.redeemOpsFor(r.Voucher, r.ID)...)
		}
		rbs := in.rollbacksByRedemption[r.ID]
		t.res.Checked += int64(len(rbs))
		if n := rolledBack[r.ID]; n != len(rbs) {
			t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s: %d rollbacks committed but %d %s events", r.ID, r.Voucher, len(rbs), n, api.EventRedemptionRolledBack), in.ops(in.rollbacksByTarget[r.ID])...)
			continue
		}
		for _, p := range rbs {
			rb := in.State.Rollbacks[p]
			if rb.ID != "" && byRollbackID[rb.ID] != 1 {
				t.violate(r.Voucher, fmt.Sprintf("rollback %s of redemption %s has %d %s events", rb.ID, r.ID, byRollbackID[rb.ID], api.EventRedemptionRolledBack), in.ops(in.rollbacksByTarget[r.ID])...)
				break
			}
		}
	}
	// Events about redemptions that were never committed.
	reported := map[string]bool{}
	for _, e := range in.State.Events {
		if e.Type != api.EventRedemptionCreated && e.Type != api.EventRedemptionRolledBack {
			continue
		}
		if _, ok := in.redemptionByID[e.RedemptionID]; ok || reported[e.RedemptionID] {
			continue
		}
		reported[e.RedemptionID] = true
		t.violate(e.Voucher, fmt.Sprintf("event %s (%s) names redemption %q, which is not in the final state", e.ID, e.Type, e.RedemptionID))
	}
	return t.result("no committed redemption")
}
