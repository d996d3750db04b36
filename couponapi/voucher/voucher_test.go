package voucher

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
)

func ptr[T any](v T) *T { return &v }

func TestCheck(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	amount := Voucher{Code: "A", Type: api.DiscountVoucher, DiscountType: api.DiscountAmount, AmountOff: 500, Active: true}
	percent := Voucher{Code: "P", Type: api.DiscountVoucher, DiscountType: api.DiscountPercent, PercentOff: 12.5, Active: true}
	gift := Voucher{Code: "G", Type: api.GiftVoucher, GiftAmount: 1000, GiftBalance: 300, Active: true}
	with := func(v Voucher, f func(*Voucher)) Voucher { f(&v); return v }
	for _, tc := range []struct {
		name          string
		v             Voucher
		order, credit int64
		want          int64
		err           error
	}{
		{"amount", amount, 2000, 0, 500, nil},
		{"amount capped at the order", amount, 300, 0, 300, nil},
		{"amount with a zero order", amount, 0, 0, 0, nil},
		{"percent exact", percent, 1000, 0, 125, nil},
		{"percent rounds down", percent, 999, 0, 124, nil},
		{"percent of nothing", percent, 0, 0, 0, ErrMissingAmount},
		{"percent of a huge order", percent, 1 << 62, 0, (1 << 62) / 8, nil},
		{"percent limit", with(percent, func(v *Voucher) { v.AmountLimit = 100 }), 1000, 0, 100, nil},
		{"gift order amount", gift, 250, 0, 250, nil},
		{"gift whole balance", gift, 300, 0, 300, nil},
		{"gift exceeded", gift, 301, 0, 0, ErrGiftAmountExceeded},
		{"gift credits", gift, 5000, 200, 200, nil},
		{"gift credits exceeded", gift, 0, 301, 0, ErrGiftAmountExceeded},
		{"gift nothing asked", gift, 0, 0, 0, ErrMissingAmount},
		{"negative order", amount, -1, 0, 0, ErrInvalidAmount},
		{"disabled", with(amount, func(v *Voucher) { v.Active = false }), 1000, 0, 0, ErrDisabled},
		{"before start", with(amount, func(v *Voucher) { v.StartDate = ptr(now.Add(time.Second)) }), 1000, 0, 0, ErrNotActiveYet},
		{"at start", with(amount, func(v *Voucher) { v.StartDate = ptr(now) }), 1000, 0, 500, nil},
		{"at expiry", with(amount, func(v *Voucher) { v.ExpirationDate = ptr(now) }), 1000, 0, 0, ErrExpired},
		{"before expiry", with(amount, func(v *Voucher) { v.ExpirationDate = ptr(now.Add(time.Second)) }), 1000, 0, 500, nil},
		{"quantity left", with(amount, func(v *Voucher) { v.Quantity, v.RedeemedQuantity = ptr(int64(2)), 1 }), 1000, 0, 500, nil},
		{"quantity exhausted", with(amount, func(v *Voucher) { v.Quantity, v.RedeemedQuantity = ptr(int64(2)), 2 }), 1000, 0, 0, ErrQuantityExceeded},
		{"minimum order", with(amount, func(v *Voucher) { v.MinOrderAmount = 1001 }), 1000, 0, 0, ErrOrderRules},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.v.Check(tc.order, tc.credit, now)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				require.NotEmpty(t, Key(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	require.Empty(t, Key(errors.New("other")))
}

func TestFromAPI(t *testing.T) {
	q := int64(3)
	for _, tc := range []struct {
		name string
		in   api.Voucher
		err  string
	}{
		{"discount", api.Voucher{Code: "A", Type: api.DiscountVoucher, Discount: &api.Discount{Type: api.DiscountAmount, AmountOff: 5}, Redemption: &api.VoucherRedemption{Quantity: &q}}, ""},
		{"gift", api.Voucher{Code: "G", Type: api.GiftVoucher, Gift: &api.Gift{Amount: 5}}, ""},
		{"no code", api.Voucher{Type: api.GiftVoucher, Gift: &api.Gift{Amount: 5}}, "code is required"},
		{"space in code", api.Voucher{Code: "A B", Type: api.GiftVoucher, Gift: &api.Gift{Amount: 5}}, "printable"},
		{"unknown type", api.Voucher{Code: "A", Type: "X"}, "type must be"},
		{"gift without amount", api.Voucher{Code: "A", Type: api.GiftVoucher}, "positive gift.amount"},
		{"discount without discount", api.Voucher{Code: "A", Type: api.DiscountVoucher}, "needs a discount"},
		{"percent over 100", api.Voucher{Code: "A", Type: api.DiscountVoucher, Discount: &api.Discount{Type: api.DiscountPercent, PercentOff: 101}}, "percent_off"},
		{"dates reversed", api.Voucher{Code: "A", Type: api.GiftVoucher, Gift: &api.Gift{Amount: 5}, StartDate: ptr(time.Unix(10, 0)), ExpirationDate: ptr(time.Unix(5, 0))}, "before expiration_date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := FromAPI(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.True(t, v.Active)
			back := v.API()
			require.Equal(t, tc.in.Code, back.Code)
			require.Equal(t, tc.in.Type, back.Type)
			if v.Type == api.GiftVoucher {
				require.Equal(t, tc.in.Gift.Amount, back.Gift.Balance)
			}
		})
	}
}

// FuzzCheck: whatever the voucher and order, a successful check never takes
// more than the order (discount) or the balance (gift), never a negative
// amount, and a gift card keeps a balance >= 0.
func FuzzCheck(f *testing.F) {
	f.Add(true, int64(500), 12.5, int64(0), int64(1000), int64(300), int64(2000), int64(0))
	f.Add(false, int64(0), 0.0, int64(0), int64(1000), int64(1000), int64(1000), int64(400))
	f.Fuzz(func(t *testing.T, discount bool, amountOff int64, percent float64, limit, giftAmount, balance, order, credits int64) {
		in := api.Voucher{Code: "F"}
		if discount {
			in.Type = api.DiscountVoucher
			in.Discount = &api.Discount{Type: api.DiscountAmount, AmountOff: amountOff, AmountLimit: limit}
			if percent != 0 {
				in.Discount = &api.Discount{Type: api.DiscountPercent, PercentOff: percent, AmountLimit: limit}
			}
		} else {
			in.Type = api.GiftVoucher
			in.Gift = &api.Gift{Amount: giftAmount}
		}
		v, err := FromAPI(in)
		if err != nil {
			return
		}
		if !discount && balance >= 0 && balance <= v.GiftAmount {
			v.GiftBalance = balance
		}
		got, err := v.Check(order, credits, time.Now())
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, got, int64(0))
		if discount {
			require.LessOrEqual(t, got, order)
		} else {
			require.LessOrEqual(t, got, v.GiftBalance)
			require.Positive(t, got)
		}
	})
}
