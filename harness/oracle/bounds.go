package oracle

import (
	"fmt"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/oracle/state"
)

// Bounds checks that the final state is explained by the history: per
// voucher, the distinct redemptions acknowledged ok ≤ the redemptions
// committed ≤ the redeems that were ok or indeterminate (info); and no
// committed redemption carries an idempotency key whose every request
// definitely failed or that was never sent.
type Bounds struct{}

var _ Checker = Bounds{}

func (Bounds) Name() string { return "redemption_bounds" }

func (c Bounds) Check(in *Input) Result {
	t := newTally(in, c.Name(), "per voucher: ok redemptions ≤ committed redemptions ≤ ok + info redeems; committed redemptions only under keys that were sent and not definitely failed; checked counts vouchers and keys")
	if !t.need(state.Redemptions) {
		return t.result("")
	}
	// Vouchers seen in the history or holding redemptions.
	vouchers := append([]string(nil), in.historyVouchers...)
	seen := make(map[string]bool, len(vouchers))
	for _, v := range vouchers {
		seen[v] = true
	}
	for _, r := range in.State.Redemptions {
		if !seen[r.Voucher] {
			seen[r.Voucher] = true
			vouchers = append(vouchers, r.Voucher)
		}
	}
	for _, code := range vouchers {
		committed := int64(len(in.redemptionsByVoucher[code]))
		okIDs := map[string]bool{}
		var upper int64
		var okOps, maybeOps []*Operation
		for _, p := range in.redeemsByVoucher[code] {
			o := &in.Ops[p]
			switch o.Type() {
			case history.OK:
				upper++
				id := o.RedemptionID()
				if id == "" {
					id = "op:" + o.ID()
				}
				if !okIDs[id] {
					okIDs[id] = true
					okOps = append(okOps, o)
				}
				maybeOps = append(maybeOps, o)
			case history.Info:
				upper++
				maybeOps = append(maybeOps, o)
			}
		}
		if committed == 0 && upper == 0 {
			continue
		}
		t.res.Checked++
		lower := int64(len(okIDs))
		switch {
		case committed < lower:
			t.violate(code, fmt.Sprintf("voucher %s: %d redemptions acknowledged ok but only %d committed", code, lower, committed), okOps...)
		case committed > upper:
			t.violate(code, fmt.Sprintf("voucher %s: %d redemptions committed but only %d redeems were ok or indeterminate", code, committed, upper), maybeOps...)
		}
	}
	// Keys: a committed redemption must come from a request that was sent
	// and did not definitely fail.
	for _, k := range in.stateKeys {
		t.res.Checked++
		ops := in.redeemsByKey[k]
		r := in.State.Redemptions[in.redemptionsByKey[k][0]]
		if len(ops) == 0 {
			t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s has idempotency key %q that no redeem in the history sent", r.ID, r.Voucher, k))
			continue
		}
		allFailed := true
		for _, p := range ops {
			if in.Ops[p].Type() != history.Fail {
				allFailed = false
				break
			}
		}
		if allFailed {
			t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s was committed although every redeem with its key %q definitely failed", r.ID, r.Voucher, k), in.ops(ops)...)
		}
	}
	return t.result("no redeem in the history and no redemption in the final state")
}
