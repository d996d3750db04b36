package oracle

import (
	"fmt"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/oracle/state"
)

// NoLostAck checks that whatever the service acknowledged survived —
// database crashes and failovers included: every redemption an ok redeem
// returned exists in the final state, and every redemption an ok rollback
// rolled back is rolled back there.
type NoLostAck struct{}

var _ Checker = NoLostAck{}

func (NoLostAck) Name() string { return "no_lost_ack" }

func (c NoLostAck) Check(in *Input) Result {
	t := newTally(in, c.Name(), "every ok redeem's redemption exists in the final state and every ok rollback's redemption is rolled back there; checked counts ok redeems and rollbacks")
	if !t.need(state.Redemptions) {
		return t.result("")
	}
	// Derived rollbacks know only a redemption's last rollback id, so a
	// rollback id is only looked up when the state lists rollbacks.
	haveRollbacks, _ := in.State.Has(state.Rollbacks)
	if _, derived := in.State.Derived[state.Rollbacks]; derived {
		haveRollbacks = false
	}
	for i := range in.Ops {
		o := &in.Ops[i]
		if o.Type() != history.OK {
			continue
		}
		switch o.F() {
		case history.Redeem:
			t.res.Checked++
			id := o.RedemptionID()
			if id == "" {
				t.violate("", fmt.Sprintf("ok redeem on %s returned no redemption id", o.Voucher()), o)
				continue
			}
			if _, ok := in.redemptionByID[id]; !ok {
				t.violate("", fmt.Sprintf("redemption %s on %s was acknowledged but is not in the final state", id, o.Voucher()), o)
			}
		case history.Rollback:
			t.res.Checked++
			id := o.RedemptionID()
			p, ok := in.redemptionByID[id]
			switch {
			case !ok:
				t.violate("", fmt.Sprintf("rollback of redemption %s was acknowledged but the redemption is not in the final state", id), o)
			case !in.State.Redemptions[p].RolledBack:
				t.violate("", fmt.Sprintf("rollback of redemption %s was acknowledged but the redemption is not rolled back in the final state", id), o)
			case haveRollbacks && o.RollbackID() != "" && !in.hasRollback(id, o.RollbackID()):
				t.violate("", fmt.Sprintf("rollback %s of redemption %s was acknowledged but is not in the final state", o.RollbackID(), id), o)
			}
		}
	}
	return t.result("no ok redeem or rollback in the history")
}

// hasRollback tells whether the final state holds rollback rbID of
// redemption id. Rollbacks without ids match any id.
func (in *Input) hasRollback(id, rbID string) bool {
	for _, p := range in.rollbacksByRedemption[id] {
		if got := in.State.Rollbacks[p].ID; got == rbID || got == "" {
			return true
		}
	}
	return false
}
