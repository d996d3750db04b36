package oracle

import (
	"testing"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// noEvents is st with the audit log unreadable and rollbacks known only
// from the redemptions' marks.
func noEvents(st *state.State) *state.State {
	st.DeriveRollbacks()
	st.SetMissing(state.Events, "mongo unreachable")
	return st
}

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
			name: "audit log unreadable: the counters show each rollback restored once",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("b", OK, 20, 30, "V", "r1", "rb1"),
				rollback("c", Info, 40, 5000, "V", "r1", ""),
			},
			state:   noEvents(full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb1")})),
			verdict: Pass,
		},
		{
			name: "audit log and counters unreadable, rollbacks not listed: a second rollback cannot be seen",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("b", OK, 20, 30, "V", "r1", "rb1"),
			},
			state: func() *state.State {
				st := noEvents(full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb1")}))
				st.SetMissing(state.Vouchers, "export failed")
				return st
			}(),
			verdict: Unknown,
		},
		{
			name: "audit log unreadable: a counter deficit no repeated rollback explains",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 0, 10, "V", "k2", "r2"),
				rollback("c", OK, 20, 30, "V", "r1", "rb1"),
			},
			state:   noEvents(full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb1"), red("r2", "V", "k2", 5)})),
			verdict: Unknown,
		},
		{
			name: "a counter deficit with the audit log showing one rollback each is the ledger's",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 0, 10, "V", "k2", "r2"),
				rollback("c", OK, 20, 30, "V", "r1", "rb1"),
			},
			state: func() *state.State {
				st := full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb1"), red("r2", "V", "k2", 5)})
				st.Events = []api.Event{{ID: "e1", Type: api.EventRedemptionRolledBack, Voucher: "V", RedemptionID: "r1", RollbackID: "rb1"}}
				return st
			}(),
			verdict: Pass,
		},
		{
			name: "a retry with the key of an acknowledged rollback is that rollback",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 0, 10, "V", "k2", "r2"),
				{id: "c", f: "rollback", typ: OK, from: 20, to: 30, voucher: "V", key: "rk1", rid: "r1", rbid: "rb1", platform: "aws"},
				{id: "d", f: "rollback", typ: Info, from: 40, to: 5000, voucher: "V", key: "rk1", rid: "r1", platform: "aws"},
			},
			state: func() *state.State {
				st := full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb1"), red("r2", "V", "k2", 5)})
				st.Events = []api.Event{{ID: "e1", Type: api.EventRedemptionRolledBack, Voucher: "V", RedemptionID: "r1", RollbackID: "rb1"}}
				return st
			}(),
			verdict: Pass,
		},
		{
			name:    "no rollbacks",
			calls:   []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Unknown,
		},
	})
}
