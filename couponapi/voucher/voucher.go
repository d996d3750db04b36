// Package voucher holds the business rules of a voucher — whether it can be
// redeemed now for an order and how much it takes off — as pure functions,
// so validate (served from a cache) and redeem (decided in Postgres) apply
// exactly the same rules.
package voucher

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cutover/cutover/couponapi/api"
)

// Voucher is the stored state of a voucher.
type Voucher struct {
	ID   string `json:"id"`
	Code string `json:"code"`
	Type string `json:"type"` // api.DiscountVoucher or api.GiftVoucher

	DiscountType string  `json:"discount_type,omitempty"` // api.DiscountAmount or api.DiscountPercent
	AmountOff    int64   `json:"amount_off,omitempty"`
	PercentOff   float64 `json:"percent_off,omitempty"`
	AmountLimit  int64   `json:"amount_limit,omitempty"`

	GiftAmount  int64 `json:"gift_amount,omitempty"`
	GiftBalance int64 `json:"gift_balance,omitempty"`

	MinOrderAmount int64 `json:"min_order_amount,omitempty"`

	// Quantity nil means unlimited.
	Quantity         *int64 `json:"quantity,omitempty"`
	RedeemedQuantity int64  `json:"redeemed_quantity"`
	RedeemedAmount   int64  `json:"redeemed_amount"`

	StartDate      *time.Time `json:"start_date,omitempty"`
	ExpirationDate *time.Time `json:"expiration_date,omitempty"`
	Active         bool       `json:"active"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Why a voucher cannot be redeemed. Each maps to one api key.
var (
	ErrNotFound           = errors.New("voucher not found")
	ErrDisabled           = errors.New("voucher is disabled")
	ErrNotActiveYet       = errors.New("voucher is not active yet")
	ErrExpired            = errors.New("voucher expired")
	ErrQuantityExceeded   = errors.New("quantity exceeded")
	ErrOrderRules         = errors.New("order does not match validation rules")
	ErrGiftAmountExceeded = errors.New("gift amount exceeded")
	ErrMissingAmount      = errors.New("order amount is missing")
	ErrInvalidAmount      = errors.New("amount is invalid")
)

// Key returns the api error key of err, or "" when err is not one of the
// refusals above.
func Key(err error) string {
	for _, k := range []struct {
		err error
		key string
	}{
		{ErrNotFound, api.KeyNotFound},
		{ErrDisabled, api.KeyVoucherDisabled},
		{ErrNotActiveYet, api.KeyVoucherNotActiveYet},
		{ErrExpired, api.KeyVoucherExpired},
		{ErrQuantityExceeded, api.KeyQuantityExceeded},
		{ErrOrderRules, api.KeyOrderRulesViolated},
		{ErrGiftAmountExceeded, api.KeyGiftAmountExceeded},
		{ErrMissingAmount, api.KeyMissingAmount},
		{ErrInvalidAmount, api.KeyInvalidAmount},
	} {
		if errors.Is(err, k.err) {
			return k.key
		}
	}
	return ""
}

// Check tells whether v can be redeemed at now for an order of orderAmount
// (credits, when > 0, asks a gift card for that amount instead), and returns
// the amount the redemption applies: the discount, or the credits taken from
// the gift card. It never lets a gift balance go below zero.
func (v Voucher) Check(orderAmount, credits int64, now time.Time) (int64, error) {
	if orderAmount < 0 || credits < 0 {
		return 0, ErrInvalidAmount
	}
	switch {
	case !v.Active:
		return 0, ErrDisabled
	case v.StartDate != nil && now.Before(*v.StartDate):
		return 0, ErrNotActiveYet
	case v.ExpirationDate != nil && !now.Before(*v.ExpirationDate):
		return 0, ErrExpired
	case v.Quantity != nil && v.RedeemedQuantity >= *v.Quantity:
		return 0, ErrQuantityExceeded
	case orderAmount < v.MinOrderAmount:
		return 0, ErrOrderRules
	}
	if v.Type == api.GiftVoucher {
		amount := orderAmount
		if credits > 0 {
			amount = credits
		}
		if amount == 0 {
			return 0, ErrMissingAmount
		}
		if amount > v.GiftBalance {
			return 0, fmt.Errorf("%w: balance %d, asked %d", ErrGiftAmountExceeded, v.GiftBalance, amount)
		}
		return amount, nil
	}
	return v.Discount(orderAmount)
}

// Discount is what a discount voucher takes off an order: never more than
// the order, nor than AmountLimit when set.
func (v Voucher) Discount(orderAmount int64) (int64, error) {
	var d int64
	switch v.DiscountType {
	case api.DiscountAmount:
		d = v.AmountOff
	case api.DiscountPercent:
		if orderAmount == 0 {
			return 0, ErrMissingAmount
		}
		// Percent in hundredths, so 12.5% of 1000 is exactly 125.
		// Split the product so no order amount can overflow it.
		hundredths := int64(math.Round(v.PercentOff * 100))
		d = orderAmount/10000*hundredths + orderAmount%10000*hundredths/10000
	default:
		return 0, fmt.Errorf("voucher %s has unknown discount type %q", v.Code, v.DiscountType)
	}
	if v.AmountLimit > 0 && d > v.AmountLimit {
		d = v.AmountLimit
	}
	if d > orderAmount {
		d = orderAmount
	}
	return d, nil
}

// Remaining is the remaining gift balance of a gift card, or the remaining
// quantity of a discount voucher (nil when unlimited).
func (v Voucher) Remaining() *int64 {
	if v.Type == api.GiftVoucher {
		b := v.GiftBalance
		return &b
	}
	if v.Quantity == nil {
		return nil
	}
	r := *v.Quantity - v.RedeemedQuantity
	return &r
}

// MaxCodeLen bounds voucher codes.
const MaxCodeLen = 100

// FromAPI checks the body of a create (or one imported item) and returns the
// voucher to store. It does not set ID or the timestamps.
func FromAPI(in api.Voucher) (Voucher, error) {
	v := Voucher{
		Code:           strings.TrimSpace(in.Code),
		Type:           in.Type,
		MinOrderAmount: in.MinOrderAmount,
		StartDate:      in.StartDate,
		ExpirationDate: in.ExpirationDate,
		Active:         in.Active == nil || *in.Active,
	}
	if v.Code == "" {
		return Voucher{}, errors.New("code is required")
	}
	if len(v.Code) > MaxCodeLen {
		return Voucher{}, fmt.Errorf("code is longer than %d characters", MaxCodeLen)
	}
	for _, r := range v.Code {
		if r < 0x21 || r > 0x7e {
			return Voucher{}, errors.New("code must be printable ASCII without spaces")
		}
	}
	if v.MinOrderAmount < 0 {
		return Voucher{}, errors.New("min_order_amount must not be negative")
	}
	if in.Redemption != nil && in.Redemption.Quantity != nil {
		q := *in.Redemption.Quantity
		if q < 1 {
			return Voucher{}, errors.New("redemption.quantity must be at least 1 (or null for unlimited)")
		}
		v.Quantity = &q
	}
	if v.StartDate != nil && v.ExpirationDate != nil && !v.StartDate.Before(*v.ExpirationDate) {
		return Voucher{}, errors.New("start_date must be before expiration_date")
	}
	switch in.Type {
	case api.DiscountVoucher:
		if in.Discount == nil {
			return Voucher{}, errors.New("a DISCOUNT_VOUCHER needs a discount")
		}
		if in.Gift != nil {
			return Voucher{}, errors.New("a DISCOUNT_VOUCHER has no gift")
		}
		d := in.Discount
		v.DiscountType = d.Type
		v.AmountLimit = d.AmountLimit
		if d.AmountLimit < 0 {
			return Voucher{}, errors.New("discount.amount_limit must not be negative")
		}
		switch d.Type {
		case api.DiscountAmount:
			if d.AmountOff <= 0 {
				return Voucher{}, errors.New("discount.amount_off must be positive")
			}
			v.AmountOff = d.AmountOff
		case api.DiscountPercent:
			if !(d.PercentOff > 0 && d.PercentOff <= 100) {
				return Voucher{}, errors.New("discount.percent_off must be in (0, 100]")
			}
			v.PercentOff = math.Round(d.PercentOff*100) / 100
		default:
			return Voucher{}, fmt.Errorf("discount.type must be %s or %s", api.DiscountAmount, api.DiscountPercent)
		}
	case api.GiftVoucher:
		if in.Gift == nil || in.Gift.Amount <= 0 {
			return Voucher{}, errors.New("a GIFT_VOUCHER needs a positive gift.amount")
		}
		if in.Discount != nil {
			return Voucher{}, errors.New("a GIFT_VOUCHER has no discount")
		}
		v.GiftAmount = in.Gift.Amount
		v.GiftBalance = in.Gift.Amount
	default:
		return Voucher{}, fmt.Errorf("type must be %s or %s", api.DiscountVoucher, api.GiftVoucher)
	}
	return v, nil
}

// API returns the wire shape of v.
func (v Voucher) API() api.Voucher {
	active := v.Active
	out := api.Voucher{
		ID:             v.ID,
		Code:           v.Code,
		Object:         "voucher",
		Type:           v.Type,
		MinOrderAmount: v.MinOrderAmount,
		StartDate:      v.StartDate,
		ExpirationDate: v.ExpirationDate,
		Active:         &active,
		Redemption: &api.VoucherRedemption{
			Quantity:         v.Quantity,
			RedeemedQuantity: v.RedeemedQuantity,
			RedeemedAmount:   v.RedeemedAmount,
		},
	}
	if !v.CreatedAt.IsZero() {
		c, u := v.CreatedAt, v.UpdatedAt
		out.CreatedAt, out.UpdatedAt = &c, &u
	}
	if v.Type == api.GiftVoucher {
		out.Gift = &api.Gift{Amount: v.GiftAmount, Balance: v.GiftBalance}
	} else {
		out.Discount = v.APIDiscount()
	}
	return out
}

// APIDiscount is the discount definition of a discount voucher (nil for a gift card).
func (v Voucher) APIDiscount() *api.Discount {
	if v.Type == api.GiftVoucher {
		return nil
	}
	return &api.Discount{Type: v.DiscountType, AmountOff: v.AmountOff, PercentOff: v.PercentOff, AmountLimit: v.AmountLimit}
}
