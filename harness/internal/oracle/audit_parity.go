package oracle

import (
	"fmt"
	"strings"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/internal/oracle/state"
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
	// rollbackEvents lists the rollback id of every rollback event, per
	// redemption.
	rollbackEvents := map[string][]string{}
	for _, e := range in.State.Events {
		switch e.Type {
		case api.EventRedemptionCreated:
			created[e.RedemptionID]++
		case api.EventRedemptionRolledBack:
			rollbackEvents[e.RedemptionID] = append(rollbackEvents[e.RedemptionID], e.RollbackID)
		}
	}
	// Derived rollbacks know only a redemption's last rollback: more
	// rollback events than that are rollback_once's to judge, not ours.
	_, derived := in.State.Derived[state.Rollbacks]
	for _, r := range in.State.Redemptions {
		t.res.Checked++
		switch n := created[r.ID]; {
		case n == 0:
			t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s has no %s event", r.ID, r.Voucher, api.EventRedemptionCreated), in.opsFor(r)...)
		case n > 1:
			t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s has %d %s events", r.ID, r.Voucher, n, api.EventRedemptionCreated), in.opsFor(r)...)
		}
		rbs := in.rollbacksByRedemption[r.ID]
		t.res.Checked += int64(len(rbs))
		if msg := rollbackParity(r, in.State.Rollbacks, rbs, rollbackEvents[r.ID], derived); msg != "" {
			t.violate(r.Voucher, msg, in.ops(in.rollbacksByTarget[r.ID])...)
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

// rollbackParity compares the committed rollbacks of redemption r
// (positions rbs in all) with the rollback ids of its rollback events, and
// says what is wrong ("" when nothing is).
func rollbackParity(r state.Redemption, all []state.Rollback, rbs []int32, events []string, derived bool) string {
	what := api.EventRedemptionRolledBack
	switch {
	case len(rbs) == 0 && len(events) > 0:
		return fmt.Sprintf("redemption %s on %s is not rolled back but has %d %s events", r.ID, r.Voucher, len(events), what)
	case len(rbs) > 0 && len(events) == 0:
		return fmt.Sprintf("redemption %s on %s was rolled back but has no %s event", r.ID, r.Voucher, what)
	}
	count := map[string]int{}
	for _, id := range events {
		count[id]++
		if id != "" && count[id] > 1 {
			return fmt.Sprintf("rollback %s of redemption %s has %d %s events", id, r.ID, count[id], what)
		}
	}
	for _, p := range rbs {
		if id := all[p].ID; id != "" && count[id] == 0 {
			return fmt.Sprintf("rollback %s of redemption %s has no %s event (events name %s)", id, r.ID, what, strings.Join(events, ", "))
		}
	}
	if !derived && len(events) != len(rbs) {
		return fmt.Sprintf("redemption %s on %s: %d rollbacks committed but %d %s events", r.ID, r.Voucher, len(rbs), len(events), what)
	}
	return ""
}
