package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/voucher"
)

const voucherCols = `id, code, type, COALESCE(discount_type, ''), amount_off, percent_off, amount_limit,
	gift_amount, gift_balance, min_order_amount, quantity, redeemed_quantity, redeemed_amount,
	start_date, expiration_date, active, created_at, updated_at`

func scanVoucher(row pgx.Row) (voucher.Voucher, error) {
	var v voucher.Voucher
	err := row.Scan(&v.ID, &v.Code, &v.Type, &v.DiscountType, &v.AmountOff, &v.PercentOff, &v.AmountLimit,
		&v.GiftAmount, &v.GiftBalance, &v.MinOrderAmount, &v.Quantity, &v.RedeemedQuantity, &v.RedeemedAmount,
		&v.StartDate, &v.ExpirationDate, &v.Active, &v.CreatedAt, &v.UpdatedAt)
	if v.StartDate != nil {
		t := v.StartDate.UTC()
		v.StartDate = &t
	}
	if v.ExpirationDate != nil {
		t := v.ExpirationDate.UTC()
		v.ExpirationDate = &t
	}
	v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
	return v, err
}

// CreateVoucher inserts v (a new id is set) and records voucher.created.
// A code in use gives ErrDuplicate.
func (s *Store) CreateVoucher(ctx context.Context, tx *Tx, v voucher.Voucher) (voucher.Voucher, error) {
	v.ID = NewID("v")
	now := Now()
	v.CreatedAt, v.UpdatedAt = now, now
	var discountType *string
	if v.DiscountType != "" {
		discountType = &v.DiscountType
	}
	tag, err := tx.Exec(ctx, `INSERT INTO vouchers (id, code, type, discount_type, amount_off, percent_off,
		amount_limit, gift_amount, gift_balance, min_order_amount, quantity, start_date, expiration_date,
		active, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
		ON CONFLICT (code) DO NOTHING`,
		v.ID, v.Code, v.Type, discountType, v.AmountOff, v.PercentOff, v.AmountLimit, v.GiftAmount,
		v.GiftBalance, v.MinOrderAmount, v.Quantity, v.StartDate, v.ExpirationDate, v.Active, now)
	if err != nil {
		return voucher.Voucher{}, fmt.Errorf("insert voucher %s: %w", v.Code, err)
	}
	if tag.RowsAffected() == 0 {
		return voucher.Voucher{}, ErrDuplicate
	}
	err = tx.addEvent(ctx, api.Event{Type: api.EventVoucherCreated, Voucher: v.Code, Amount: v.GiftAmount, At: now})
	return v, err
}

// Voucher reads the voucher with code; ErrNotFound when there is none.
func (s *Store) Voucher(ctx context.Context, code string) (voucher.Voucher, error) {
	v, err := scanVoucher(s.pool.QueryRow(ctx, `SELECT `+voucherCols+` FROM vouchers WHERE code = $1`, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return voucher.Voucher{}, voucher.ErrNotFound
	}
	if err != nil {
		return voucher.Voucher{}, fmt.Errorf("read voucher %s: %w", code, err)
	}
	return v, nil
}

// ExportPage reads up to limit vouchers with codes after after, in code
// order: the export walks the table page by page (keyset), so no statement
// runs long and memory holds one page.
func (s *Store) ExportPage(ctx context.Context, after string, limit int) ([]voucher.Voucher, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+voucherCols+` FROM vouchers WHERE code > $1 ORDER BY code LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("export vouchers after %q: %w", after, err)
	}
	defer rows.Close()
	out := make([]voucher.Voucher, 0, limit)
	for rows.Next() {
		v, err := scanVoucher(rows)
		if err != nil {
			return nil, fmt.Errorf("export vouchers: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export vouchers after %q: %w", after, err)
	}
	return out, nil
}

// ImportVouchers inserts a batch of vouchers in one transaction, skipping
// codes already in use, and records one vouchers.imported event for the
// batch. It returns the codes it created.
func (s *Store) ImportVouchers(ctx context.Context, batch []voucher.Voucher) ([]string, error) {
	n := len(batch)
	var (
		ids, codes, types                     = make([]string, n), make([]string, n), make([]string, n)
		discountTypes                         = make([]*string, n)
		amountOff, amountLimit, gift, minimum = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		percent                               = make([]float64, n)
		quantity                              = make([]*int64, n)
		start, expiration                     = make([]*time.Time, n), make([]*time.Time, n)
		active                                = make([]bool, n)
	)
	for i, v := range batch {
		ids[i], codes[i], types[i] = NewID("v"), v.Code, v.Type
		if v.DiscountType != "" {
			dt := v.DiscountType
			discountTypes[i] = &dt
		}
		amountOff[i], amountLimit[i], gift[i], minimum[i] = v.AmountOff, v.AmountLimit, v.GiftAmount, v.MinOrderAmount
		percent[i], quantity[i], active[i] = v.PercentOff, v.Quantity, v.Active
		start[i], expiration[i] = v.StartDate, v.ExpirationDate
	}
	var created []string
	err := s.InTx(ctx, func(ctx context.Context, tx *Tx) error {
		rows, err := tx.Query(ctx, `INSERT INTO vouchers (id, code, type, discount_type, amount_off, percent_off,
			amount_limit, gift_amount, gift_balance, min_order_amount, quantity, start_date, expiration_date, active)
			SELECT id, code, type, discount_type, amount_off, percent_off, amount_limit, gift, gift, minimum,
				quantity, start_date, expiration_date, active
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::float8[], $7::bigint[],
				$8::bigint[], $9::bigint[], $10::bigint[], $11::timestamptz[], $12::timestamptz[], $13::bool[])
				AS t(id, code, type, discount_type, amount_off, percent_off, amount_limit, gift, minimum,
				quantity, start_date, expiration_date, active)
			ON CONFLICT (code) DO NOTHING
			RETURNING code`,
			ids, codes, types, discountTypes, amountOff, percent, amountLimit, gift, minimum, quantity, start, expiration, active)
		if err != nil {
			return fmt.Errorf("import %d vouchers: %w", n, err)
		}
		created, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("import %d vouchers: %w", n, err)
		}
		if len(created) == 0 {
			return nil
		}
		return tx.addEvent(ctx, api.Event{Type: api.EventVouchersImported, Count: int64(len(created)), At: Now()})
	})
	return created, err
}
