package oracle

import (
	"testing"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

func TestAuditParity(t *testing.T) {
	v := []state.Voucher{discount("V", 10, 0)}
	rs := []state.Redemption{red("r1", "V", "k1", 5), rolledBack(red("r2", "V", "k2", 5), "rb2")}
	calls := []call{
		redeem("a", OK, 0, 10, "V", "k1", "r1"),
		redeem("b", OK, 1, 11, "V", "k2", "r2"),
		rollback("c", OK, 20, 30, "V", "r2", "rb2"),
	}
	created := func(id, rid string) api.Event {
		return api.Event{ID: id, Type: api.EventRedemptionCreated, Voucher: "V", RedemptionID: rid}
	}
	rolled := func(id, rid, rbid string) api.Event {
		return api.Event{ID: id, Type: api.EventRedemptionRolledBack, Voucher: "V", RedemptionID: rid, RollbackID: rbid}
	}
	with := func(events ...api.Event) *state.State {
		st := full(v, rs)
		st.Events = append([]api.Event{{ID: "e0", Type: api.EventVoucherCreated, Voucher: "V"}}, events...)
		return st
	}
	runCases(t, AuditParity{}, []checkCase{
		{
			name:    "one event each",
			calls:   calls,
			state:   with(created("e1", "r1"), created("e2", "r2"), rolled("e3", "r2", "rb2")),
			verdict: Pass,
		},
		{
			name:       "a redemption event is missing",
			calls:      calls,
			state:      with(created("e2", "r2"), rolled("e3", "r2", "rb2")),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"a"},
		},
		{
			name:       "a rollback event is missing",
			calls:      calls,
			state:      with(created("e1", "r1"), created("e2", "r2")),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"c"},
		},
		{
			name:       "an event published twice",
			calls:      calls,
			state:      with(created("e1", "r1"), created("e1b", "r1"), created("e2", "r2"), rolled("e3", "r2", "rb2")),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:       "an event for a redemption that never committed",
			calls:      calls,
			state:      with(created("e1", "r1"), created("e2", "r2"), rolled("e3", "r2", "rb2"), created("e4", "r9")),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:       "a rollback event with the wrong rollback id",
			calls:      calls,
			state:      with(created("e1", "r1"), created("e2", "r2"), rolled("e3", "r2", "rb9")),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:  "Mongo unreadable",
			calls: calls,
			state: func() *state.State {
				st := full(v, rs)
				st.SetMissing(state.Events, "dial tcp: connection refused")
				return st
			}(),
			verdict: Unknown,
		},
		{
			name:    "nothing committed",
			calls:   []call{redeem("a", Failed, 0, 10, "V", "k1", "")},
			state:   full(v, nil),
			verdict: Unknown,
		},
	})
}
