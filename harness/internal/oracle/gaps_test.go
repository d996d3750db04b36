package oracle

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// created is the audit event of a committed redemption.
func created(r state.Redemption) api.Event {
	return api.Event{ID: "e-" + r.ID, Type: api.EventRedemptionCreated, Voucher: r.Voucher, RedemptionID: r.ID, Amount: r.Amount}
}

// withCustomer sets who redeemed.
func withCustomer(r state.Redemption, customer string) state.Redemption {
	r.Customer = customer
	return r
}

// TestGaps holds one hand-written history and final state per hole a
// reviewer found in the oracle: each must make the named invariant give
// the named verdict, where the checkers before the fix said pass.
func TestGaps(t *testing.T) {
	r1 := withCustomer(red("r1", "V", "k1", 500), "c1")
	r2 := withCustomer(red("r2", "V", "k2", 500), "c2")
	for _, tc := range []struct {
		name      string
		calls     []call
		state     *state.State
		invariant string
		want      Verdict
		// atLeast is the fewest violations expected.
		atLeast int64
	}{
		{
			name: "an ok redeem answered with the redemption of another key",
			calls: []call{
				{id: "a", f: "redeem", typ: OK, from: 0, to: 10, voucher: "V", key: "k1", rid: "r1", customer: "c1", applied: 500},
				{id: "b", f: "redeem", typ: OK, from: 20, to: 30, voucher: "V", key: "k2", rid: "r1", customer: "c2", applied: 500},
			},
			state:     full([]state.Voucher{discount("V", 10, 1)}, []state.Redemption{r1}),
			invariant: "no_lost_ack", want: Fail, atLeast: 1,
		},
		{
			name: "an ok redeem whose redemption holds another amount",
			calls: []call{
				{id: "a", f: "redeem", typ: OK, from: 0, to: 10, voucher: "V", key: "k1", rid: "r1", customer: "c1", applied: 700},
			},
			state:     full([]state.Voucher{discount("V", 10, 1)}, []state.Redemption{r1}),
			invariant: "no_lost_ack", want: Fail, atLeast: 1,
		},
		{
			name: "a service that lists no idempotency keys: idempotency cannot decide",
			calls: []call{
				redeem("a", Info, 0, 5000, "V", "k1", ""),
				redeem("b", OK, 5001, 5010, "V", "k1", "r2"),
			},
			state:     full([]state.Voucher{discount("V", 10, 2)}, []state.Redemption{red("r1", "V", "", 0), red("r2", "V", "", 0)}),
			invariant: "idempotency", want: Unknown,
		},
		{
			name: "a service that lists no idempotency keys: two commits for one key exceed the bound",
			calls: []call{
				redeem("a", Info, 0, 5000, "V", "k1", ""),
				redeem("b", OK, 5001, 5010, "V", "k1", "r2"),
			},
			state:     full([]state.Voucher{discount("V", 10, 2)}, []state.Redemption{red("r1", "V", "", 0), red("r2", "V", "", 0)}),
			invariant: "redemption_bounds", want: Fail, atLeast: 1,
		},
		{
			name: "a double rollback drove the counter below the rows",
			calls: []call{
				{id: "a", f: "redeem", typ: OK, from: 0, to: 10, voucher: "V", key: "k1", rid: "r1", customer: "c1", applied: 500},
				{id: "b", f: "redeem", typ: OK, from: 20, to: 30, voucher: "V", key: "k2", rid: "r2", customer: "c2", applied: 500},
				rollback("c", OK, 40, 50, "V", "r2", "rb2"),
			},
			state:     full([]state.Voucher{discount("V", 5, 0)}, []state.Redemption{r1, rolledBack(r2, "rb2")}),
			invariant: "ledger", want: Fail, atLeast: 1,
		},
		{
			name: "an acknowledged-once double rollback with the audit log unreadable",
			calls: []call{
				{id: "a", f: "redeem", typ: OK, from: 0, to: 10, voucher: "V", key: "k1", rid: "r1", customer: "c1", applied: 500},
				{id: "b", f: "redeem", typ: OK, from: 20, to: 30, voucher: "V", key: "k2", rid: "r2", customer: "c2", applied: 500},
				rollback("c", OK, 40, 50, "V", "r2", "rb2"),
				rollback("d", Info, 60, 5060, "V", "r2", ""),
			},
			state: func() *state.State {
				st := full([]state.Voucher{discount("V", 5, 0)}, []state.Redemption{r1, rolledBack(r2, "rb3")})
				st.DeriveRollbacks()
				st.SetMissing(state.Events, "mongo unreachable")
				return st
			}(),
			invariant: "rollback_once", want: Fail, atLeast: 1,
		},
		{
			name: "an acknowledged redemption nobody asked to roll back is rolled back",
			calls: []call{
				{id: "a", f: "redeem", typ: OK, from: 0, to: 10, voucher: "V", key: "k1", rid: "r1", customer: "c1", applied: 500},
			},
			state:     full([]state.Voucher{discount("V", 5, 0)}, []state.Redemption{rolledBack(r1, "rb1")}),
			invariant: "no_lost_ack", want: Fail, atLeast: 1,
		},
		{
			name: "validates during the run say valid seconds after the voucher ran out",
			calls: []call{
				{id: "a", f: "redeem", typ: OK, from: 0, to: 100, voucher: "V", key: "k1", rid: "r1", customer: "c1", applied: 500},
				validate("v1", 3200, 3210, "V", yes()),
				validate("v2", 3500, 3510, "V", yes()),
				validate("v3", 4000, 4010, "V", yes()),
				validate("v4", 4500, 4510, "V", yes()),
			},
			state: func() *state.State {
				st := full([]state.Voucher{discount("V", 1, 1)}, []state.Redemption{r1})
				st.Validations = []state.Validation{{Voucher: "V", Target: "http://probe", Valid: false, At: ms(3_600_000)}}
				return st
			}(),
			invariant: "cache_coherence", want: Fail, atLeast: 4,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.state
			for _, r := range st.Redemptions {
				st.Events = append(st.Events, created(r))
			}
			results, err := Check(hist(tc.calls...), st, All()...)
			require.NoError(t, err)
			var got *Result
			for i := range results {
				t.Logf("%s", results[i])
				if results[i].Name == tc.invariant {
					got = &results[i]
				}
			}
			require.NotNil(t, got, "no invariant named %s", tc.invariant)
			require.Equal(t, tc.want, got.Verdict, "%s\n%+v", got, got.Examples)
			require.GreaterOrEqual(t, got.Violations, tc.atLeast, "%s", got)
			if got.Verdict == Unknown {
				require.NotEmpty(t, got.Reason)
			}
		})
	}
}

// TestNothingComparedIsNeverPass feeds every checker an empty final state
// (every part read, nothing in it) and an empty history, then a state
// whose redemptions carry no idempotency key: none may pass having
// compared nothing.
func TestNothingComparedIsNeverPass(t *testing.T) {
	results, err := Check(nil, full(nil, nil), All()...)
	require.NoError(t, err)
	for _, r := range results {
		require.NotEqual(t, Pass, r.Verdict, "%s passed an empty state", r.Name)
		require.NotEmpty(t, r.Reason, r.Name)
	}

	keyless := full([]state.Voucher{discount("V", 10, 1)}, []state.Redemption{red("r1", "V", "", 0)})
	results, err = Check(hist(redeem("a", OK, 0, 10, "V", "k1", "r1")), keyless, All()...)
	require.NoError(t, err)
	for _, r := range results {
		if r.Name == "idempotency" || r.Name == "redemption_bounds" {
			require.Equal(t, Unknown, r.Verdict, "%s on a keyless state: %s", r.Name, r)
			require.Contains(t, r.Reason, "idempotency key", r.Name)
		}
	}
}
