package oracle

import (
	"testing"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/oracle/state"
)

func TestRollbackOnce(t *testing.T) {
	v := []state.Voucher{discount("V", 10, 0)}
	once := full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb1")})
	twice := &state.State{
		Vouchers:    v,
		Redemptions: []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb2")},
		Rollbacks:   []state.Rollback{{ID: "rb1", RedemptionID: "r1", Voucher: "V", Amount: 5}, {ID: "rb2", RedemptionID: "r1", Voucher: "V", Amount: 5}},
	}
	twice.CountRollbacks()
	eventsTwice := full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb2")})
	eventsTwice.Events = []api.Event{
		{ID: "e1", Type: api.EventRedemptionCreated, Voucher: "V", RedemptionID: "r1"},
		{ID: "e2", Type: api.EventRedemptionRolledBack, Voucher: "V", RedemptionID: "r1", RollbackID: "rb1"},
		{ID: "e3", Type: api.EventRedemptionRolledBack, Voucher: "V", RedemptionID: "r1", RollbackID: "rb2"},
	}
	runCases(t, RollbackOnce{}, []checkCase{
		{
			name: "a second rollback is refused",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("b", OK, 20, 30, "V", "r1", "rb1"),
				rollback("c", Failed, 40, 50, "V", "r1", ""),
			},
			state:   once,
			verdict: Pass,
		},
		{
			name: "a rollback retried after a timeout returns the same rollback",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("b", Info, 20, 5000, "V", "r1", ""),
				rollback("c", OK, 5001, 5010, "V", "r1", "rb1"),
			},
			state:   once,
			verdict: Pass,
		},
		{
			name: "two rollbacks acknowledged",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("b", OK, 20, 30, "V", "r1", "rb1"),
				rollback("c", OK, 40, 50, "V", "r1", "rb2"),
			},
			state:      once,
			verdict:    Fail,
			violations: 1,
			ops:        []string{"b", "c"},
		},
		{
			name: "two rollbacks committed, the second answer lost",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("b", OK, 20, 30, "V", "r1", "rb1"),
				rollback("c", Info, 40, 5000, "V", "r1", ""),
			},
			state:      twice,
			verdict:    Fail,
			violations: 1,
		},
		{
			name: "the audit log shows two rollbacks",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("b", Info, 20, 5000, "V", "r1", ""),
				rollback("c", Info, 40, 5000, "V", "r1", ""),
			},
			state:      eventsTwice,
			verdict:    Fail,
			violations: 1,
		},
		{
			name:    "no rollbacks",
			calls:   []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Unknown,
		},
	})
}
