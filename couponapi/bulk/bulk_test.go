package bulk

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/voucher"
)

type item struct {
	pos  int
	code string
	err  string
}

func readAll(read func(r *strings.Reader, fn ItemFunc) error, in string) ([]item, error) {
	var out []item
	err := read(strings.NewReader(in), func(pos int, v api.Voucher, err error) error {
		it := item{pos: pos, code: v.Code}
		if err != nil {
			it.err = err.Error()
		}
		out = append(out, it)
		return nil
	})
	return out, err
}

func TestReadJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		items    []item
		err      string
	}{
		{"empty array", `[]`, nil, ""},
		{"two", `[{"code":"A"},{"code":"B"}]`, []item{{1, "A", ""}, {2, "B", ""}}, ""},
		{"wrong field type is per item", `[{"code":"A","min_order_amount":"x"},{"code":"B"}]`,
			[]item{{1, "A", `item 1: field min_order_amount`}, {2, "B", ""}}, ""},
		{"not an array", `{"code":"A"}`, nil, "must be a JSON array"},
		{"broken", `[{"code":"A"},{"co`, []item{{1, "A", ""}}, "item 2"},
		{"trailing data", `[] []`, nil, "data after the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(func(r *strings.Reader, fn ItemFunc) error { return ReadJSON(r, fn) }, tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			require.Len(t, got, len(tc.items))
			for i, want := range tc.items {
				require.Equal(t, want.pos, got[i].pos)
				require.Equal(t, want.code, got[i].code)
				if want.err == "" {
					require.Empty(t, got[i].err)
				} else {
					require.Contains(t, got[i].err, want.err)
				}
			}
		})
	}
}

func TestReadCSV(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		items    []item
		err      string
	}{
		{"minimal", "code,type,gift_amount\nA,GIFT_VOUCHER,5\n", []item{{2, "A", ""}}, ""},
		{"any column order, unknown ignored, BOM", "\ufeffnote,type,code\nhi,gift_voucher,A\n", []item{{2, "A", ""}}, ""},
		{"bad integer names line and column", "code,type,quantity\nA,GIFT_VOUCHER,x\nB,GIFT_VOUCHER,2\n",
			[]item{{2, "A", "line 2: column quantity"}, {3, "B", ""}}, ""},
		{"bad date", "code,type,start_date\nA,GIFT_VOUCHER,yesterday\n", []item{{2, "A", "column start_date"}}, ""},
		{"wrong field count is per line", "code,type\nA,GIFT_VOUCHER,extra\nB,GIFT_VOUCHER\n",
			[]item{{2, "", "line 2"}, {3, "B", ""}}, ""},
		{"missing type column", "code\nA\n", nil, `missing column "type"`},
		{"duplicate column", "code,type,code\n", nil, "appears twice"},
		{"empty", "", nil, "read CSV header"},
		{"broken quote", "code,type\n\"A,GIFT_VOUCHER\n", nil, "read CSV"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(func(r *strings.Reader, fn ItemFunc) error { return ReadCSV(r, fn) }, tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, len(tc.items))
			for i, want := range tc.items {
				require.Equal(t, want.pos, got[i].pos)
				require.Equal(t, want.code, got[i].code)
				if want.err == "" {
					require.Empty(t, got[i].err)
				} else {
					require.Contains(t, got[i].err, want.err)
				}
			}
		})
	}
}

func TestStop(t *testing.T) {
	n := 0
	err := ReadJSON(strings.NewReader(`[{"code":"A"},{"code":"B"}]`), func(int, api.Voucher, error) error {
		n++
		return ErrStop
	})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	boom := errors.New("boom")
	err = ReadCSV(strings.NewReader("code,type\nA,B\n"), func(int, api.Voucher, error) error { return boom })
	require.ErrorIs(t, err, boom)
}

// TestExportImportRoundTrip: what the export writes, the import reads back
// into the same vouchers (state columns aside).
func TestExportImportRoundTrip(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	q := int64(7)
	in := []api.Voucher{
		{Code: "D1", Type: api.DiscountVoucher, Discount: &api.Discount{Type: api.DiscountPercent, PercentOff: 12.5, AmountLimit: 300}, MinOrderAmount: 1000, Redemption: &api.VoucherRedemption{Quantity: &q}, StartDate: &start},
		{Code: "D2,\"quoted\"", Type: api.DiscountVoucher, Discount: &api.Discount{Type: api.DiscountAmount, AmountOff: 250}},
		{Code: "G1", Type: api.GiftVoucher, Gift: &api.Gift{Amount: 5000}, Active: new(bool)},
	}
	var buf bytes.Buffer
	w, err := NewCSVWriter(&buf)
	require.NoError(t, err)
	for _, a := range in {
		v, err := voucher.FromAPI(a) // a code may hold commas and quotes: the writer quotes it
		require.NoError(t, err)
		v.RedeemedQuantity = 2
		require.NoError(t, w.Write(v))
	}
	require.NoError(t, w.Flush())
	var out []api.Voucher
	require.NoError(t, ReadCSV(&buf, func(_ int, v api.Voucher, err error) error {
		require.NoError(t, err)
		out = append(out, v)
		return nil
	}))
	require.Len(t, out, 3)
	require.Equal(t, in[0].Discount, out[0].Discount)
	require.Equal(t, int64(7), *out[0].Redemption.Quantity)
	require.True(t, start.Equal(*out[0].StartDate))
	require.Equal(t, in[1].Code, out[1].Code)
	require.Equal(t, int64(5000), out[2].Gift.Amount)
	require.False(t, *out[2].Active)
}

// FuzzReadCSV: the CSV reader never panics, reports every line it cannot
// read as an item error or the whole input as an error, and each item it
// accepts survives voucher.FromAPI or is refused with an error.
func FuzzReadCSV(f *testing.F) {
	f.Add("code,type,gift_amount\nA,GIFT_VOUCHER,5\n")
	f.Add("code,type,discount_type,percent_off,quantity,active\nP,DISCOUNT_VOUCHER,PERCENT,12.5,3,false\n")
	f.Add("code,type\n\"x\ny\",GIFT_VOUCHER\n")
	f.Fuzz(func(t *testing.T, in string) {
		_ = ReadCSV(strings.NewReader(in), func(pos int, v api.Voucher, err error) error {
			if pos < 1 {
				t.Fatalf("line %d", pos)
			}
			if err == nil {
				_, _ = voucher.FromAPI(v)
			}
			return nil
		})
	})
}

// FuzzReadJSON: the JSON reader never panics and numbers items from 1.
func FuzzReadJSON(f *testing.F) {
	f.Add(`[{"code":"A","type":"GIFT_VOUCHER","gift":{"amount":5}}]`)
	f.Add(`[{"code":1},{"gift":{"amount":"x"}}]`)
	f.Fuzz(func(t *testing.T, in string) {
		next := 1
		_ = ReadJSON(strings.NewReader(in), func(pos int, v api.Voucher, err error) error {
			if pos != next {
				t.Fatalf("item %d after %d", pos, next-1)
			}
			next++
			return nil
		})
	})
}
