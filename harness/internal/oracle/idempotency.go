package oracle

import (
	"fmt"
	"strings"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// Idempotency checks that an idempotency key commits at most one
// redemption, and that every ok answer for a key carries the same
// redemption id — the committed one. Without the keys in the final state
// (a service whose listing does not expose idempotency_key) it can only
// compare the answers, and says unknown.
type Idempotency struct{}

var _ Checker = Idempotency{}

func (Idempotency) Name() string { return "idempotency" }

func (c Idempotency) Check(in *Input) Result {
	t := newTally(in, c.Name(), "per idempotency key: at most one committed redemption, and every ok redeem with the key returned that redemption's id; checked counts keys")
	haveState := t.need(state.Redemptions) && t.needKeys()
	checked := map[string]bool{}
	for _, k := range in.historyKeys {
		checked[k] = true
		var ids []string
		var okOps []*Operation
		for _, p := range in.redeemsByKey[k] {
			o := &in.Ops[p]
			if o.Type() != history.OK || o.RedemptionID() == "" {
				continue
			}
			okOps = append(okOps, o)
			if !contains(ids, o.RedemptionID()) {
				ids = append(ids, o.RedemptionID())
			}
		}
		t.res.Checked++
		var committed []int32
		if haveState {
			committed = in.redemptionsByKey[k]
		}
		switch {
		case len(ids) > 1:
			t.violate("", fmt.Sprintf("key %q: ok answers carry %d different redemption ids (%s)", k, len(ids), strings.Join(ids, ", ")), okOps...)
		case len(committed) > 1:
			t.violate(in.State.Redemptions[committed[0]].Voucher, fmt.Sprintf("key %q: %d redemptions committed (%s)", k, len(committed), in.redemptionIDs(committed)), in.ops(in.redeemsByKey[k])...)
		case len(committed) == 1 && len(ids) == 1 && in.State.Redemptions[committed[0]].ID != ids[0]:
			t.violate("", fmt.Sprintf("key %q: ok answers carry redemption %s but %s was committed", k, ids[0], in.State.Redemptions[committed[0]].ID), okOps...)
		}
	}
	if haveState {
		for _, k := range in.stateKeys {
			if checked[k] {
				continue
			}
			t.res.Checked++
			if rs := in.redemptionsByKey[k]; len(rs) > 1 {
				t.violate(in.State.Redemptions[rs[0]].Voucher, fmt.Sprintf("key %q: %d redemptions committed (%s)", k, len(rs), in.redemptionIDs(rs)))
			}
		}
	}
	return t.result("no redeem carried an idempotency key")
}

func (in *Input) redemptionIDs(pos []int32) string {
	ids := make([]string, 0, len(pos))
	for i, p := range pos {
		if i == 5 {
			ids = append(ids, "...")
			break
		}
		ids = append(ids, in.State.Redemptions[p].ID)
	}
	return strings.Join(ids, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
