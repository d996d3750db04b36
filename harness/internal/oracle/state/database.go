package state

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// databaseTimeout bounds the whole direct read.
const databaseTimeout = 30 * time.Second

// ReadDatabase reads vouchers and redemptions from the service's Postgres
// directly, in couponapi's schema, bypassing the service and its caches:
// the second reading of the ledger. codes restricts the read to those
// vouchers (empty: all). A database with another schema gives an error
// naming the query.
func ReadDatabase(ctx context.Context, postgresURL string, codes []string) (Reading, error) {
	ctx, cancel := context.WithTimeout(ctx, databaseTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresURL)
	if err != nil {
		return Reading{}, fmt.Errorf("connect to postgres: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()

	var out Reading
	filter, args := "", []any{}
	if len(codes) > 0 {
		filter, args = " WHERE code = ANY($1)", []any{codes}
	}
	rows, err := conn.Query(ctx, `SELECT code, type, quantity, redeemed_quantity, redeemed_amount, gift_amount, gift_balance
		FROM vouchers`+filter+` ORDER BY code`, args...)
	if err != nil {
		return Reading{}, fmt.Errorf("read vouchers from postgres: %w", err)
	}
	out.Vouchers, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Voucher, error) {
		var v Voucher
		err := row.Scan(&v.Code, &v.Type, &v.Quantity, &v.Redeemed, &v.RedeemedAmount, &v.InitialBalance, &v.FinalBalance)
		return v, err
	})
	if err != nil {
		return Reading{}, fmt.Errorf("read vouchers from postgres: %w", err)
	}

	if len(codes) > 0 {
		filter = " WHERE voucher_code = ANY($1)"
	}
	rows, err = conn.Query(ctx, `SELECT id, voucher_code, customer_id, idempotency_key, amount, rolled_back, COALESCE(rollback_id, '')
		FROM redemptions`+filter+` ORDER BY seq`, args...)
	if err != nil {
		return Reading{}, fmt.Errorf("read redemptions from postgres: %w", err)
	}
	out.Redemptions, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Redemption, error) {
		var r Redemption
		err := row.Scan(&r.ID, &r.Voucher, &r.Customer, &r.IdempotencyKey, &r.Amount, &r.RolledBack, &r.RollbackID)
		return r, err
	})
	if err != nil {
		return Reading{}, fmt.Errorf("read redemptions from postgres: %w", err)
	}
	return out, nil
}
