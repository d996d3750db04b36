package oracle

import (
	"fmt"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// Bounds checks that the final state holds nothing the clients did not ask
// for: per voucher, the committed redemptions (rolled back or not) are no
// more than the distinct idempotency keys its redeems sent that were ok or
// indeterminate, plus its keyless ok or indeterminate redeems (each may
// have committed once); and every committed redemption carries a key that
// a redeem of its voucher sent and that did not definitely fail. Retries
// of one key count once, so two commits for one key break the bound even
// when the state's keys are unknown. The lower bound — every acknowledged
// redemption committed — is no_lost_ack's, checked there one by one.
type Bounds struct{}

var _ Checker = Bounds{}

func (Bounds) Name() string { return "redemption_bounds" }

func (c Bounds) Check(in *Input) Result {
	t := newTally(in, c.Name(), "per voucher: committed redemptions ≤ distinct keys of ok or indeterminate redeems (+ keyless ones); committed redemptions only under keys sent to their voucher and not definitely failed; checked counts vouchers and keys")
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
	keys := map[string]bool{}
	for _, code := range vouchers {
		committed := int64(len(in.redemptionsByVoucher[code]))
		clear(keys)
		var upper int64
		var maybeOps []*Operation
		for _, p := range in.redeemsByVoucher[code] {
			o := &in.Ops[p]
			if o.Type() == history.Fail {
				continue
			}
			maybeOps = append(maybeOps, o)
			switch k := o.IdempotencyKey(); {
			case k == "":
				upper++
			case !keys[k]:
				keys[k] = true
				upper++
			}
		}
		if committed == 0 && upper == 0 {
			continue
		}
		t.res.Checked++
		if committed > upper {
			t.violate(code, fmt.Sprintf("voucher %s: %d redemptions committed but only %d were asked for (distinct keys of ok or indeterminate redeems, and keyless ones)", code, committed, upper), maybeOps...)
		}
	}
	if !t.needKeys() {
		return t.result("no redeem in the history and no redemption in the final state")
	}
	// Keys: a committed redemption must come from a request to its voucher
	// that was sent and did not definitely fail.
	for _, k := range in.stateKeys {
		t.res.Checked++
		ops := in.redeemsByKey[k]
		for _, rp := range in.redemptionsByKey[k] {
			r := in.State.Redemptions[rp]
			if len(ops) == 0 {
				t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s has idempotency key %q that no redeem in the history sent", r.ID, r.Voucher, k))
				break
			}
			sent, allFailed := false, true
			for _, p := range ops {
				o := &in.Ops[p]
				if o.Voucher() != r.Voucher {
					continue
				}
				sent = true
				if o.Type() != history.Fail {
					allFailed = false
					break
				}
			}
			switch {
			case !sent:
				t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s has idempotency key %q, which the history sent only to other vouchers", r.ID, r.Voucher, k), in.ops(ops)...)
			case allFailed:
				t.violate(r.Voucher, fmt.Sprintf("redemption %s on %s was committed although every redeem with its key %q definitely failed", r.ID, r.Voucher, k), in.ops(ops)...)
			}
		}
	}
	return t.result("no redeem in the history and no redemption in the final state")
}
