package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cutover/cutover/couponapi/api"
)

const redemptionCols = `id, voucher_code, customer_id, order_id, order_amount, amount, remaining,
	idempotency_key, created_at, rolled_back, COALESCE(rollback_id, ''), seq`

func scanRedemption(row pgx.Row) (api.Redemption, int64, error) {
	var r api.Redemption
	var orderID string
	var orderAmount, seq int64
	err := row.Scan(&r.ID, &r.Voucher, &r.CustomerID, &orderID, &orderAmount, &r.Amount, &r.Remaining,
		&r.IdempotencyKey, &r.Date, &r.RolledBack, &r.RollbackID, &seq)
	r.Object = "redemption"
	r.Result = api.ResultSuccess
	r.Date = r.Date.UTC()
	r.Order = order(orderID, orderAmount, r.Amount)
	return r, seq, err
}

// Redemption reads one redemption; ErrRedemptionNotFound when there is none.
func (s *Store) Redemption(ctx context.Context, id string) (api.Redemption, error) {
	r, _, err := scanRedemption(s.pool.QueryRow(ctx, `SELECT `+redemptionCols+` FROM redemptions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return api.Redemption{}, ErrRedemptionNotFound
	}
	if err != nil {
		return api.Redemption{}, fmt.Errorf("read redemption %s: %w", id, err)
	}
	return r, nil
}

// RedemptionQuery filters and pages GET /v1/redemptions.
type RedemptionQuery struct {
	Voucher  string
	Customer string
	Result   string
	Limit    int // 1..100
	Page     int // 1-based; ignored when StartingAfter is set
	// StartingAfter is the id of the last redemption of the previous page.
	StartingAfter string
	Ascending     bool
}

// Redemptions lists redemptions, newest first unless Ascending. Only
// successful redemptions are stored, so Result FAILURE lists none.
func (s *Store) Redemptions(ctx context.Context, q RedemptionQuery) (api.RedemptionList, error) {
	out := api.RedemptionList{Object: "list", DataRef: "redemptions", Redemptions: []api.Redemption{}}
	if q.Result != "" && !strings.EqualFold(q.Result, api.ResultSuccess) {
		return out, nil
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Voucher != "" {
		where = append(where, "voucher_code = "+arg(q.Voucher))
	}
	if q.Customer != "" {
		where = append(where, "customer_id = "+arg(q.Customer))
	}
	filter := ""
	if len(where) > 0 {
		filter = " WHERE " + strings.Join(where, " AND ")
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM redemptions`+filter, args...).Scan(&out.Total); err != nil {
		return out, fmt.Errorf("count redemptions: %w", err)
	}
	dir, cmp := "DESC", "<"
	if q.Ascending {
		dir, cmp = "ASC", ">"
	}
	offset := 0
	if q.StartingAfter != "" {
		var seq int64
		err := s.pool.QueryRow(ctx, `SELECT seq FROM redemptions WHERE id = $1`, q.StartingAfter).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return out, fmt.Errorf("starting_after %s: %w", q.StartingAfter, ErrRedemptionNotFound)
		}
		if err != nil {
			return out, fmt.Errorf("read redemption %s: %w", q.StartingAfter, err)
		}
		where = append(where, "seq "+cmp+" "+arg(seq))
	} else if q.Page > 1 {
		offset = (q.Page - 1) * q.Limit
	}
	filter = ""
	if len(where) > 0 {
		filter = " WHERE " + strings.Join(where, " AND ")
	}
	sql := `SELECT ` + redemptionCols + ` FROM redemptions` + filter + ` ORDER BY seq ` + dir +
		` LIMIT ` + arg(q.Limit+1) + ` OFFSET ` + arg(offset)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return out, fmt.Errorf("list redemptions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, _, err := scanRedemption(rows)
		if err != nil {
			return out, fmt.Errorf("list redemptions: %w", err)
		}
		out.Redemptions = append(out.Redemptions, r)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("list redemptions: %w", err)
	}
	if len(out.Redemptions) > q.Limit {
		out.Redemptions = out.Redemptions[:q.Limit]
		out.HasMore = true
		out.MoreStartingAfter = out.Redemptions[q.Limit-1].ID
	}
	return out, nil
}
