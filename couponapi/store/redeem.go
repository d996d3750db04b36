package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/couponapi/voucher"
)

// RedeemInput is one redemption request.
type RedeemInput struct {
	Code           string
	CustomerID     string
	OrderID        string
	OrderAmount    int64
	Credits        int64 // gift card: amount to take instead of the order amount
	AppID          string
	IdempotencyKey string
	Now            time.Time
}

// Redeem applies one redemption inside tx. The voucher row is locked
// (SELECT ... FOR UPDATE) before it is checked, so the check and the write
// are one atomic step: concurrent redemptions of one voucher queue on that
// row and each sees the counters the previous one committed. A refusal
// (voucher.Err*) leaves the voucher untouched.
func (s *Store) Redeem(ctx context.Context, tx *Tx, in RedeemInput) (api.Redemption, voucher.Voucher, error) {
	if in.Now.IsZero() {
		in.Now = Now()
	}
	checkThenAct := s.opts.Bugs.Has(bugs.CheckThenAct)
	lock := " FOR UPDATE"
	if checkThenAct {
		lock = "" // planted bug: read without a lock, then write what we computed
	}
	v, err := scanVoucher(tx.QueryRow(ctx, `SELECT `+voucherCols+` FROM vouchers WHERE code = $1`+lock, in.Code))
	if errors.Is(err, pgx.ErrNoRows) {
		return api.Redemption{}, voucher.Voucher{}, voucher.ErrNotFound
	}
	if err != nil {
		return api.Redemption{}, voucher.Voucher{}, fmt.Errorf("read voucher %s: %w", in.Code, err)
	}
	amount, err := v.Check(in.OrderAmount, in.Credits, in.Now)
	if err != nil {
		return api.Redemption{}, v, err
	}
	giftTaken := int64(0)
	if v.Type == api.GiftVoucher {
		giftTaken = amount
	}
	// The row is locked (or, under the bug, was read without a lock), so the
	// new counters are known here; the writes go out with the commit.
	v.RedeemedQuantity++
	v.RedeemedAmount += amount
	v.GiftBalance -= giftTaken
	if checkThenAct {
		tx.later("update voucher "+in.Code, `UPDATE vouchers SET redeemed_quantity = $2, redeemed_amount = $3,
			gift_balance = $4, updated_at = now() WHERE id = $1`,
			v.ID, v.RedeemedQuantity, v.RedeemedAmount, v.GiftBalance)
	} else {
		tx.later("update voucher "+in.Code, `UPDATE vouchers SET redeemed_quantity = redeemed_quantity + 1,
			redeemed_amount = redeemed_amount + $2, gift_balance = gift_balance - $3, updated_at = now()
			WHERE id = $1`, v.ID, amount, giftTaken)
	}
	r := api.Redemption{
		ID:             NewID("r"),
		Object:         "redemption",
		Date:           in.Now,
		CustomerID:     in.CustomerID,
		Voucher:        v.Code,
		Order:          order(in.OrderID, in.OrderAmount, amount),
		Amount:         amount,
		Result:         api.ResultSuccess,
		Remaining:      v.Remaining(),
		IdempotencyKey: in.IdempotencyKey,
	}
	tx.later("insert redemption", `INSERT INTO redemptions (id, voucher_id, voucher_code, customer_id, order_id,
		order_amount, amount, remaining, app_id, idempotency_key, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.ID, v.ID, v.Code, in.CustomerID, in.OrderID, in.OrderAmount, amount, r.Remaining, in.AppID,
		in.IdempotencyKey, in.Now)
	err = tx.addEvent(ctx, api.Event{Type: api.EventRedemptionCreated, Voucher: v.Code, RedemptionID: r.ID,
		Amount: amount, At: in.Now, CustomerID: in.CustomerID, OrderID: in.OrderID})
	return r, v, err
}

func order(id string, amount, applied int64) api.Order {
	total := amount - applied
	if total < 0 {
		total = 0
	}
	return api.Order{ID: id, Amount: amount, DiscountAmount: applied, TotalAmount: total}
}

// Rollback undoes redemption id inside tx: it gives the quantity (and the
// gift credits) back to the voucher exactly once. The redemption row is
// locked first, so of two concurrent rollbacks one wins and the other sees
// ErrAlreadyRolledBack.
func (s *Store) Rollback(ctx context.Context, tx *Tx, id, reason string, now time.Time) (api.RollbackResponse, voucher.Voucher, error) {
	if now.IsZero() {
		now = Now()
	}
	twice := s.opts.Bugs.Has(bugs.RollbackTwice)
	lock := " FOR UPDATE"
	if twice {
		lock = ""
	}
	var voucherID, code, customer string
	var amount int64
	var rolledBack bool
	err := tx.QueryRow(ctx, `SELECT voucher_id, voucher_code, customer_id, amount, rolled_back
		FROM redemptions WHERE id = $1`+lock, id).Scan(&voucherID, &code, &customer, &amount, &rolledBack)
	if errors.Is(err, pgx.ErrNoRows) {
		return api.RollbackResponse{}, voucher.Voucher{}, ErrRedemptionNotFound
	}
	if err != nil {
		return api.RollbackResponse{}, voucher.Voucher{}, fmt.Errorf("read redemption %s: %w", id, err)
	}
	if rolledBack && !twice {
		return api.RollbackResponse{}, voucher.Voucher{}, ErrAlreadyRolledBack
	}
	v, err := scanVoucher(tx.QueryRow(ctx, `UPDATE vouchers SET redeemed_quantity = redeemed_quantity - 1,
		redeemed_amount = redeemed_amount - $2,
		gift_balance = gift_balance + CASE WHEN type = 'GIFT_VOUCHER' THEN $2 ELSE 0 END,
		updated_at = now()
		WHERE id = $1 RETURNING `+voucherCols, voucherID, amount))
	if err != nil {
		return api.RollbackResponse{}, voucher.Voucher{}, fmt.Errorf("restore voucher %s: %w", code, err)
	}
	rr := api.RollbackResponse{
		ID:         NewID("rr"),
		Object:     "redemption_rollback",
		Date:       now,
		Redemption: id,
		Voucher:    code,
		CustomerID: customer,
		Reason:     reason,
		Amount:     amount,
		Result:     api.ResultSuccess,
		Remaining:  v.Remaining(),
	}
	tx.later("mark redemption "+id+" rolled back", `UPDATE redemptions SET rolled_back = true, rollback_id = $2,
		rollback_reason = $3, rolled_back_at = $4 WHERE id = $1`, id, rr.ID, reason, now)
	if s.opts.Bugs.Has(bugs.RollbackRestoresTwice) {
		// Planted bug: the restore of the amount, left here too.
		tx.later("restore voucher "+code+" amount", `UPDATE vouchers SET redeemed_amount = redeemed_amount - $2
			WHERE id = $1`, voucherID, amount)
	}
	err = tx.addEvent(ctx, api.Event{Type: api.EventRedemptionRolledBack, Voucher: code, RedemptionID: id,
		RollbackID: rr.ID, Amount: amount, At: now, CustomerID: customer})
	return rr, v, err
}
