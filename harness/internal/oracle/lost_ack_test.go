package oracle

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

func TestNoLostAck(t *testing.T) {
	v := []state.Voucher{discount("V", 10, 0)}
	runCases(t, NoLostAck{}, []checkCase{
		{
			name: "everything acknowledged survived; an info redeem may be gone",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", Info, 1, 11, "V", "k2", ""),
				rollback("c", OK, 20, 30, "V", "r1", "rb1"),
			},
			state:   full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb1")}),
			verdict: Pass,
		},
		{
			name: "an acknowledged redemption vanished",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 1, 11, "V", "k2", "r2"),
			},
			state:      full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"b"},
		},
		{
			name: "an acknowledged rollback did not stick",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("c", OK, 20, 30, "V", "r1", "rb1"),
			},
			state:      full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"c"},
		},
		{
			name: "a failed rollback leaves the redemption alone",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("c", Failed, 20, 30, "V", "r1", ""),
			},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Pass,
		},
		{
			name: "listed rollbacks: the acknowledged rollback is not among them",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("c", OK, 20, 30, "V", "r1", "rb1"),
			},
			state:      full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb2")}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name: "derived rollbacks know only the last rollback id",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("c", OK, 20, 30, "V", "r1", "rb1"),
			},
			state: func() *state.State {
				st := full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb2")})
				st.DeriveRollbacks()
				return st
			}(),
			verdict: Pass,
		},
		{
			name: "answered with a redemption of another voucher",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
			},
			state:      full(append(v, discount("W", 10, 1)), []state.Redemption{red("r1", "W", "k1", 5)}),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"a"},
		},
		{
			name: "answered with another customer's redemption",
			calls: []call{
				{id: "a", f: "redeem", typ: OK, from: 0, to: 10, voucher: "V", key: "k1", rid: "r1", customer: "c1", applied: 5},
			},
			state:      full(v, []state.Redemption{withCustomer(red("r1", "V", "k1", 5), "c2")}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name: "the listing names no customer: the match is undecided",
			calls: []call{
				{id: "a", f: "redeem", typ: OK, from: 0, to: 10, voucher: "V", key: "k1", rid: "r1", customer: "c1", applied: 5},
			},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Unknown,
		},
		{
			name:    "the listing carries no keys: the match is undecided",
			calls:   []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:   full(v, []state.Redemption{red("r1", "V", "", 5)}),
			verdict: Unknown,
		},
		{
			name: "rolled back although only a refused rollback was sent",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("c", Failed, 20, 30, "V", "r1", ""),
			},
			state:      full(v, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb1")}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:    "nothing acknowledged",
			calls:   []call{redeem("a", Failed, 0, 10, "V", "k1", "")},
			state:   full(v, nil),
			verdict: Unknown,
		},
	})
}

func TestNoLostAckNamesTheFaultBefore(t *testing.T) {
	ops := hist(redeem("a", OK, 0, 10, "V", "k1", "r1"), redeem("b", OK, 200, 210, "V", "k2", "r2"))
	crash := history.Op{ID: "f1", Type: history.Info, Process: history.Nemesis, F: "postgres-crash", Time: ms(100), Value: map[string]string{"target": "postgres"}}
	ops = append(ops, crash)
	results, err := Check(ops, full([]state.Voucher{discount("V", 10, 0)}, []state.Redemption{red("r1", "V", "k1", 5)}), NoLostAck{})
	require.NoError(t, err)
	require.Equal(t, Fail, results[0].Verdict)
	ex := results[0].Examples[0]
	require.Equal(t, []string{"b"}, ex.Ops)
	require.Equal(t, "V", ex.Voucher)
	require.Equal(t, "heroku", ex.Platform)
	require.Equal(t, ms(200), ex.Intended)
	require.Equal(t, ms(210), ex.Time)
	require.Contains(t, ex.Fault, "postgres-crash")
	require.Contains(t, ex.Fault, "on postgres")
}
