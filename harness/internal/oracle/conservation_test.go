package oracle

import (
	"testing"

	"github.com/cutover/cutover/harness/internal/oracle/state"
)

func TestGiftCardConservation(t *testing.T) {
	calls := []call{
		redeem("a", OK, 0, 10, "G", "k1", "r1"),
		redeem("b", OK, 1, 11, "G", "k2", "r2"),
	}
	withRollbacks := func(rbs ...state.Rollback) *state.State {
		st := &state.State{
			Vouchers:    []state.Voucher{gift("G", 10000, 7000)},
			Redemptions: []state.Redemption{red("r1", "G", "k1", 3000), rolledBack(red("r2", "G", "k2", 2000), "rb1")},
			Rollbacks:   rbs,
		}
		st.CountRollbacks()
		return st
	}
	runCases(t, GiftCardConservation{}, []checkCase{
		{
			name:    "partial redemptions and a rollback add up",
			calls:   calls,
			state:   full([]state.Voucher{gift("G", 10000, 7000)}, []state.Redemption{red("r1", "G", "k1", 3000), rolledBack(red("r2", "G", "k2", 2000), "rb1")}),
			verdict: Pass,
		},
		{
			name:       "a lost update: two redemptions, one deduction",
			calls:      calls,
			state:      full([]state.Voucher{gift("G", 10000, 7000)}, []state.Redemption{red("r1", "G", "k1", 3000), red("r2", "G", "k2", 3000)}),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"a", "b"},
		},
		{
			name:       "overdrawn",
			calls:      calls,
			state:      full([]state.Voucher{gift("G", 5000, -1000)}, []state.Redemption{red("r1", "G", "k1", 3000), red("r2", "G", "k2", 3000)}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:       "a rollback credited twice but recorded once",
			calls:      calls,
			state:      full([]state.Voucher{gift("G", 10000, 9000)}, []state.Redemption{red("r1", "G", "k1", 3000), rolledBack(red("r2", "G", "k2", 2000), "rb1")}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:  "a rollback credited twice and recorded twice still conserves money",
			calls: calls,
			state: func() *state.State {
				st := withRollbacks(state.Rollback{ID: "rb1", RedemptionID: "r2", Voucher: "G", Amount: 2000}, state.Rollback{ID: "rb2", RedemptionID: "r2", Voucher: "G", Amount: 2000})
				st.Vouchers[0].FinalBalance = 9000
				return st
			}(),
			verdict: Pass,
		},
		{
			name:    "no gift cards",
			calls:   calls,
			state:   full([]state.Voucher{discount("V", 1, 0)}, nil),
			verdict: Unknown,
		},
		{
			name:    "rollbacks unreadable",
			calls:   calls,
			state:   &state.State{Vouchers: []state.Voucher{gift("G", 10000, 7000)}, Missing: map[state.Part]string{state.Rollbacks: "unreadable"}},
			verdict: Unknown,
		},
	})
}
