// Package bulk streams vouchers in and out: the JSON-array and CSV decoders
// behind POST /v1/vouchers/import and the CSV encoder behind GET
// /v1/vouchers/export. Both directions hold one item at a time, so memory
// does not grow with the size of the upload or of the table.
package bulk

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/voucher"
)

// ItemFunc receives one item of an upload: its position (1-based item
// number for JSON, line number for CSV), the voucher, or the error that made
// this one item unreadable. Returning an error stops the stream.
type ItemFunc func(pos int, v api.Voucher, err error) error

// ErrStop can be returned by an ItemFunc to stop reading without an error.
var ErrStop = errors.New("stop")

// ReadJSON streams a JSON array of voucher objects. A malformed stream is an
// error; an item of the wrong shape is reported to fn and skipped.
func ReadJSON(r io.Reader, fn ItemFunc) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("read JSON array: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("read JSON array: the body must be a JSON array of vouchers, starts with %v", tok)
	}
	for n := 1; dec.More(); n++ {
		var v api.Voucher
		err := dec.Decode(&v)
		var typeErr *json.UnmarshalTypeError
		if err != nil && !errors.As(err, &typeErr) {
			return fmt.Errorf("read JSON array: item %d: %w", n, err)
		}
		if err != nil {
			err = fmt.Errorf("item %d: field %s: %w", n, typeErr.Field, err)
		}
		if err := fn(n, v, err); err != nil {
			return stopped(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("read JSON array: end of array: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("read JSON array: data after the end of the array")
	}
	return nil
}

// Columns of the CSV format, in export order. Import needs a header line
// naming its columns (any order, unknown ones ignored) and at least "code"
// and "type". An empty cell is an unset field: no quantity is unlimited,
// no active is true. Dates are RFC 3339.
var (
	ImportColumns = []string{"code", "type", "discount_type", "amount_off", "percent_off", "amount_limit",
		"gift_amount", "min_order_amount", "quantity", "start_date", "expiration_date", "active"}
	// StateColumns are exported too, and ignored on import.
	StateColumns = []string{"gift_balance", "redeemed_quantity", "redeemed_amount", "created_at"}
)

// ReadCSV streams CSV vouchers (see ImportColumns). A broken header or
// broken CSV quoting is an error; a bad cell is reported to fn and its line
// skipped.
func ReadCSV(r io.Reader, fn ItemFunc) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = 0
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("read CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup {
			return fmt.Errorf("read CSV header: column %q appears twice", h)
		}
		col[h] = i
	}
	for _, need := range []string{"code", "type"} {
		if _, ok := col[need]; !ok {
			return fmt.Errorf("read CSV header: missing column %q (columns: %s)", need, strings.Join(ImportColumns, ","))
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				if err := fn(pe.StartLine, api.Voucher{}, fmt.Errorf("line %d: %w", pe.StartLine, pe.Err)); err != nil {
					return stopped(err)
				}
				continue
			}
			return fmt.Errorf("read CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		v, err := csvVoucher(rec, col)
		if err != nil {
			err = fmt.Errorf("line %d: %w", line, err)
		}
		if err := fn(line, v, err); err != nil {
			return stopped(err)
		}
	}
}

func stopped(err error) error {
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

func csvVoucher(rec []string, col map[string]int) (api.Voucher, error) {
	cell := func(name string) string {
		i, ok := col[name]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	var firstErr error
	integer := func(name string) int64 {
		s := cell(name)
		if s == "" {
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("column %s: %q is not an integer", name, s)
		}
		return n
	}
	date := func(name string) *time.Time {
		s := cell(name)
		if s == "" {
			return nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("column %s: %q is not an RFC 3339 date", name, s)
			return nil
		}
		return &t
	}
	v := api.Voucher{
		Code:           cell("code"),
		Type:           strings.ToUpper(cell("type")),
		MinOrderAmount: integer("min_order_amount"),
		StartDate:      date("start_date"),
		ExpirationDate: date("expiration_date"),
	}
	switch v.Type {
	case api.GiftVoucher:
		v.Gift = &api.Gift{Amount: integer("gift_amount")}
	case api.DiscountVoucher:
		d := &api.Discount{
			Type:        strings.ToUpper(cell("discount_type")),
			AmountOff:   integer("amount_off"),
			AmountLimit: integer("amount_limit"),
		}
		if s := cell("percent_off"); s != "" {
			p, err := strconv.ParseFloat(s, 64)
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("column percent_off: %q is not a number", s)
			}
			d.PercentOff = p
		}
		v.Discount = d
	}
	if s := cell("quantity"); s != "" {
		q := integer("quantity")
		v.Redemption = &api.VoucherRedemption{Quantity: &q}
	}
	if s := cell("active"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("column active: %q is not true or false", s)
		}
		v.Active = &b
	}
	return v, firstErr
}

// CSVWriter writes the export: a header, then one line per voucher.
type CSVWriter struct {
	w   *csv.Writer
	rec []string
}

// NewCSVWriter writes the header line to w.
func NewCSVWriter(w io.Writer) (*CSVWriter, error) {
	cw := &CSVWriter{w: csv.NewWriter(w)}
	header := append(append([]string{}, ImportColumns...), StateColumns...)
	if err := cw.w.Write(header); err != nil {
		return nil, fmt.Errorf("write CSV header: %w", err)
	}
	cw.rec = make([]string, len(header))
	return cw, nil
}

// Write writes one voucher.
func (c *CSVWriter) Write(v voucher.Voucher) error {
	num := func(n int64) string { return strconv.FormatInt(n, 10) }
	opt := func(n int64) string {
		if n == 0 {
			return ""
		}
		return num(n)
	}
	date := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	r := c.rec[:0]
	r = append(r, v.Code, v.Type, v.DiscountType, opt(v.AmountOff))
	if v.PercentOff != 0 {
		r = append(r, strconv.FormatFloat(v.PercentOff, 'f', -1, 64))
	} else {
		r = append(r, "")
	}
	r = append(r, opt(v.AmountLimit), opt(v.GiftAmount), opt(v.MinOrderAmount))
	if v.Quantity != nil {
		r = append(r, num(*v.Quantity))
	} else {
		r = append(r, "")
	}
	balance := ""
	if v.Type == api.GiftVoucher {
		balance = num(v.GiftBalance)
	}
	created := v.CreatedAt
	r = append(r, date(v.StartDate), date(v.ExpirationDate), strconv.FormatBool(v.Active),
		balance, num(v.RedeemedQuantity), num(v.RedeemedAmount), date(&created))
	return c.w.Write(r)
}

// Flush writes buffered lines to the underlying writer.
func (c *CSVWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}
