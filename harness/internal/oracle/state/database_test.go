package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness/internal/oracle/state"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

// TestReadDatabase reads a real couponapi's final state twice — through
// its API and from its Postgres directly — and expects the two readings
// to agree, and the probes to cover every changed voucher.
func TestReadDatabase(t *testing.T) {
	stk := stacktest.Embedded(t)
	svc := couponapitest.Start(t, stk.Endpoints(), map[string]string{"LOG_LEVEL": "warn"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c := svc.Client
	for _, v := range []api.Voucher{couponapitest.Voucher("DB-D1", 3, 500), couponapitest.GiftCard("DB-G1", 10_000), couponapitest.Voucher("DB-IDLE", 3, 500)} {
		_, err := c.CreateVoucher(ctx, v)
		require.NoError(t, err)
	}
	r1, err := c.Redeem(ctx, "DB-D1", "db-k1", api.RedeemRequest{Customer: api.Customer{SourceID: "c1"}, Order: api.Order{Amount: 2000}})
	require.NoError(t, err)
	_, err = c.Redeem(ctx, "DB-G1", "db-k2", api.RedeemRequest{Customer: api.Customer{SourceID: "c2"}, Order: api.Order{Amount: 2500}})
	require.NoError(t, err)
	_, err = c.Rollback(ctx, r1.ID, "test")
	require.NoError(t, err)

	codes := []string{"DB-D1", "DB-G1", "DB-IDLE"}
	db, err := state.ReadDatabase(ctx, stk.Endpoints().PostgresURL, codes)
	require.NoError(t, err)
	require.Len(t, db.Vouchers, 3)
	require.Len(t, db.Redemptions, 2)
	require.Equal(t, "db-k1", db.Redemptions[0].IdempotencyKey)
	require.Equal(t, "c1", db.Redemptions[0].Customer)
	require.True(t, db.Redemptions[0].RolledBack)

	st, err := state.Read(ctx, state.Source{
		ServiceURL: svc.URL, AppID: couponapitest.AppID, AppToken: couponapitest.AppToken,
		Vouchers: codes, PostgresURL: stk.Endpoints().PostgresURL, CacheBound: 10 * time.Millisecond,
	})
	require.NoError(t, err)
	for _, p := range []state.Part{state.Vouchers, state.Redemptions, state.Database, state.IdempotencyKeys, state.Validations} {
		ok, why := st.Has(p)
		require.True(t, ok, "%s: %s", p, why)
	}
	require.ElementsMatch(t, st.Vouchers, st.Database.Vouchers, "the service and Postgres report the same counters")
	require.ElementsMatch(t, st.Redemptions, func() []state.Redemption {
		out := append([]state.Redemption(nil), st.Database.Redemptions...)
		for i := range out {
			out[i].RollbackCount = map[bool]int{true: 1}[out[i].RolledBack]
		}
		return out
	}(), "the service lists what Postgres holds")
	require.Equal(t, 10*time.Millisecond, st.CacheBound)

	// DB-D1 (rolled back) and DB-G1 changed; DB-IDLE did not.
	var probed []string
	for _, val := range st.Validations {
		probed = append(probed, val.Voucher)
		if val.Voucher == "DB-G1" {
			require.NotNil(t, val.Balance)
			require.EqualValues(t, 7500, *val.Balance)
			require.True(t, val.Valid)
		}
	}
	require.ElementsMatch(t, []string{"DB-D1", "DB-G1"}, probed)

	_, err = state.ReadDatabase(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", nil)
	require.ErrorContains(t, err, "connect to postgres")
}
