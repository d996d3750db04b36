package oracle

import (
	"fmt"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// GiftCardConservation checks that no gift-card money was created or
// destroyed: initial balance − Σ committed redemptions + Σ committed
// rollbacks = final balance, and no balance is negative.
type GiftCardConservation struct{}

var _ Checker = GiftCardConservation{}

func (GiftCardConservation) Name() string { return "gift_card_conservation" }

func (c GiftCardConservation) Check(in *Input) Result {
	t := newTally(in, c.Name(), "per gift card: initial − Σ committed redemptions + Σ committed rollbacks = final balance ≥ 0; checked counts gift cards")
	okV := t.need(state.Vouchers)
	okR := t.need(state.Redemptions)
	okRB := t.need(state.Rollbacks)
	if !okV || !okR || !okRB {
		return t.result("")
	}
	rolledBack := map[string]int64{}
	for _, rb := range in.State.Rollbacks {
		rolledBack[rb.Voucher] += rb.Amount
	}
	for _, v := range in.State.Vouchers {
		if !v.Gift() {
			continue
		}
		t.res.Checked++
		var redeemed int64
		for _, p := range in.redemptionsByVoucher[v.Code] {
			redeemed += in.State.Redemptions[p].Amount
		}
		want := v.InitialBalance - redeemed + rolledBack[v.Code]
		switch {
		case v.FinalBalance < 0:
			t.violate(v.Code, fmt.Sprintf("gift card %s: balance is negative (%d)", v.Code, v.FinalBalance), in.okRedeems(v.Code)...)
		case want != v.FinalBalance:
			t.violate(v.Code, fmt.Sprintf("gift card %s: initial %d − redeemed %d + rolled back %d = %d, but the balance is %d", v.Code, v.InitialBalance, redeemed, rolledBack[v.Code], want, v.FinalBalance), in.okRedeems(v.Code)...)
		}
	}
	return t.result("no gift card in the final state")
}

// okRedeems returns a voucher's ok redeems, for examples.
func (in *Input) okRedeems(voucher string) []*Operation {
	var out []*Operation
	for _, p := range in.redeemsByVoucher[voucher] {
		if o := &in.Ops[p]; o.Type() == history.OK {
			out = append(out, o)
			if len(out) == 10 {
				break
			}
		}
	}
	return out
}
