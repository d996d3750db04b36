package oracle

import (
	"fmt"
	"strings"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// NoLostAck checks that what the service acknowledged is what the final
// state holds — database crashes and failovers included: every ok redeem
// was answered with a committed redemption made for that very request (the
// same idempotency key, voucher, customer and amount), still in effect
// unless the client sent a rollback of it; and every redemption an ok
// rollback rolled back is rolled back there. It is the lower bound of what
// was committed, checked redemption by redemption (redemption_bounds holds
// the upper bound).
type NoLostAck struct{}

var _ Checker = NoLostAck{}

func (NoLostAck) Name() string { return "no_lost_ack" }

func (c NoLostAck) Check(in *Input) Result {
	t := newTally(in, c.Name(), "every ok redeem's answer is a committed redemption with the request's idempotency key, voucher, customer and amount, in effect unless a rollback of it was sent; every ok rollback's redemption is rolled back; checked counts ok redeems and rollbacks")
	if !t.need(state.Redemptions) {
		return t.result("")
	}
	keys := t.needKeys()
	customers := in.customersKnown
	sentCustomers := false
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
			sentCustomers = sentCustomers || o.Invoke.Customer != ""
			id := o.RedemptionID()
			if id == "" {
				t.violate("", fmt.Sprintf("ok redeem on %s returned no redemption id", o.Voucher()), o)
				continue
			}
			p, ok := in.redemptionByID[id]
			if !ok {
				t.violate("", fmt.Sprintf("redemption %s on %s was acknowledged but is not in the final state", id, o.Voucher()), o)
				continue
			}
			r := in.State.Redemptions[p]
			if diff := in.ackDiff(o, r, keys, customers); diff != "" {
				ops := append([]*Operation{o}, in.ownersOf(r, o)...)
				t.violate(o.Voucher(), fmt.Sprintf("ok redeem %s (%s) was answered with redemption %s, which the final state holds with %s", o.ID(), describeRedeem(o), id, diff), ops...)
				continue
			}
			if r.RolledBack && !in.rollbackSent(id) {
				t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s was acknowledged and no rollback of it was sent, but it is rolled back in the final state", id, r.Voucher), o)
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
	if sentCustomers && !customers && len(in.State.Redemptions) > 0 {
		t.undecided = append(t.undecided, "the final state's redemptions name no customer, so an answer cannot be matched to its customer")
	}
	return t.result("no ok redeem or rollback in the history")
}

// ackDiff says how redemption r differs from what ok redeem o asked for
// ("" when it does not): its voucher, idempotency key (when the state's
// keys are known), customer (when the state names customers) and amount.
func (in *Input) ackDiff(o *Operation, r state.Redemption, keys, customers bool) string {
	var d []string
	if r.Voucher != o.Voucher() {
		d = append(d, fmt.Sprintf("voucher %s", r.Voucher))
	}
	if keys && r.IdempotencyKey != o.IdempotencyKey() {
		d = append(d, fmt.Sprintf("key %q", r.IdempotencyKey))
	}
	if customers && o.Invoke.Customer != "" && r.Customer != o.Invoke.Customer {
		d = append(d, fmt.Sprintf("customer %q", r.Customer))
	}
	if o.Done != nil && r.Amount != o.Done.Applied {
		d = append(d, fmt.Sprintf("amount %d", r.Amount))
	}
	return strings.Join(d, ", ")
}

func describeRedeem(o *Operation) string {
	s := fmt.Sprintf("key %q, voucher %s", o.IdempotencyKey(), o.Voucher())
	if c := o.Invoke.Customer; c != "" {
		s += fmt.Sprintf(", customer %q", c)
	}
	if o.Done != nil {
		s += fmt.Sprintf(", amount %d", o.Done.Applied)
	}
	return s
}

// ownersOf returns the redeems that sent redemption r's own key, other
// than o, for examples.
func (in *Input) ownersOf(r state.Redemption, o *Operation) []*Operation {
	var out []*Operation
	for _, p := range in.redeemsByKey[r.IdempotencyKey] {
		if q := &in.Ops[p]; q != o && r.IdempotencyKey != "" {
			out = append(out, q)
		}
	}
	return out
}

// rollbackSent tells whether a rollback of redemption id was sent and did
// not definitely fail.
func (in *Input) rollbackSent(id string) bool {
	for _, p := range in.rollbacksByTarget[id] {
		if in.Ops[p].Type() != history.Fail {
			return true
		}
	}
	return false
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
