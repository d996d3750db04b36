package oracle

import (
	"testing"

	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// booked is a state with both readings: the service's and Postgres' (a
// copy, changed by db when given).
func booked(vs []state.Voucher, rs []state.Redemption, db func(*state.Reading)) *state.State {
	st := full(vs, rs)
	st.Database = state.Reading{Vouchers: append([]state.Voucher(nil), vs...), Redemptions: append([]state.Redemption(nil), rs...)}
	if db != nil {
		db(&st.Database)
	}
	return st
}

func counted(v state.Voucher, n, amount int64) state.Voucher {
	v.Redeemed, v.RedeemedAmount = n, amount
	return v
}

func TestLedger(t *testing.T) {
	r1, r2 := red("r1", "V", "k1", 500), red("r2", "V", "k2", 500)
	g1 := red("g1", "G", "k3", 300)
	ok := []state.Voucher{counted(discount("V", 5, 0), 1, 500), counted(gift("G", 1000, 700), 1, 300)}
	rows := []state.Redemption{r1, rolledBack(r2, "rb2"), g1}
	runCases(t, Ledger{}, []checkCase{
		{name: "the books balance in both readings", state: booked(ok, rows, nil), verdict: Pass},
		{
			name:       "a rollback restored the amount twice",
			state:      booked([]state.Voucher{counted(discount("V", 5, 0), 1, 0), ok[1]}, rows, nil),
			verdict:    Fail,
			violations: 2, // in each reading
		},
		{
			name:       "a gift card's balance drifted from its redemptions",
			state:      booked([]state.Voucher{ok[0], counted(gift("G", 1000, 800), 1, 300)}, rows, nil),
			verdict:    Fail,
			violations: 2,
		},
		{
			name: "Postgres holds another counter than the service reports",
			state: booked(ok, rows, func(db *state.Reading) {
				db.Vouchers[0].Redeemed = 2
			}),
			verdict:    Fail,
			violations: 2, // Postgres' books, and the disagreement
		},
		{
			name: "the service lists a rollback Postgres does not hold",
			state: booked([]state.Voucher{counted(discount("V", 5, 0), 1, 500), ok[1]}, rows, func(db *state.Reading) {
				db.Redemptions[1].RolledBack = false
				db.Vouchers[0].Redeemed, db.Vouchers[0].RedeemedAmount = 2, 1000
			}),
			verdict:    Fail,
			violations: 2, // the voucher's counters and the redemption differ
		},
		{
			name: "a redemption only Postgres holds, listed in another order",
			state: booked(ok, rows, func(db *state.Reading) {
				db.Redemptions = []state.Redemption{g1, r1, rolledBack(r2, "rb2"), red("r9", "V", "k9", 500)}
			}),
			verdict:    Fail,
			violations: 2, // Postgres' books of V, and the extra row
		},
		{
			name: "Postgres unread: the service's books alone cannot pass",
			state: func() *state.State {
				st := booked(ok, rows, nil)
				st.SetMissing(state.Database, "no Postgres URL")
				return st
			}(),
			verdict: Unknown,
		},
		{name: "no voucher at all", state: booked(nil, nil, nil), verdict: Unknown},
	})
}
