package state

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
)

const exportCSV = `code,type,discount_type,amount_off,percent_off,amount_limit,gift_amount,min_order_amount,quantity,start_date,expiration_date,active,gift_balance,redeemed_quantity,redeemed_amount,created_at
SAVE10,DISCOUNT_VOUCHER,AMOUNT,1000,,,,,3,,,true,,3,3000,2025-03-01T12:00:00Z
GIFT1,GIFT_VOUCHER,,,,,10000,,,,,true,0,4,10000,2025-03-01T12:00:00Z
FREE,DISCOUNT_VOUCHER,PERCENT,,10,,,,,,,true,,7,700,2025-03-01T12:00:00Z
`

func TestParseExport(t *testing.T) {
	vs, err := ParseExport(strings.NewReader(exportCSV))
	require.NoError(t, err)
	require.Len(t, vs, 3)
	require.Equal(t, "SAVE10", vs[0].Code)
	require.Equal(t, int64(3), *vs[0].Quantity)
	require.Equal(t, int64(3), vs[0].Redeemed)
	require.True(t, vs[1].Gift())
	require.Equal(t, int64(10000), vs[1].InitialBalance)
	require.Equal(t, int64(0), vs[1].FinalBalance)
	require.Nil(t, vs[2].Quantity, "an empty quantity is unlimited")

	for _, tc := range []struct {
		name, in, err string
	}{
		{"empty", "", "export line 1: read header"},
		{"missing column", "code,type\nA,B\n", `missing column "quantity"`},
		{"bad number", strings.Replace(exportCSV, ",3,,,true", ",three,,,true", 1), "export line 2, column quantity"},
		{"empty code", strings.Replace(exportCSV, "GIFT1,", ",", 1), "export line 3, column code: empty"},
		{"ragged line", exportCSV + "X,Y\n", "export:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseExport(strings.NewReader(tc.in))
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func FuzzParseExport(f *testing.F) {
	f.Add(exportCSV)
	f.Add("code,type,quantity,redeemed_quantity,redeemed_amount,gift_amount,gift_balance\nA,GIFT_VOUCHER,,0,0,5,5\n")
	f.Add("code,type,quantity,redeemed_quantity,redeemed_amount,gift_amount,gift_balance\n\"A\nB\",x,1,1,1,1,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		vs, err := ParseExport(strings.NewReader(in))
		if err != nil {
			require.Empty(t, vs)
			return
		}
		for _, v := range vs {
			require.NotEmpty(t, v.Code)
		}
	})
}

// fakeAPI serves the read side of the coupon API from fixed data, paging
// redemptions 100 at a time by starting_after as couponapi does.
type fakeAPI struct {
	redemptions []api.Redemption
	validates   atomic.Int64
	staleValid  bool
	// landing is how many export reads still see a write land: each of
	// them shows GIFT1's balance a little lower (-1 for ever).
	landing atomic.Int64
	exports atomic.Int64
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(api.HeaderAppID) != "app" || r.Header.Get(api.HeaderAppToken) != "secret" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case r.URL.Path == api.PathExport:
		n := f.exports.Add(1)
		if l := f.landing.Load(); l < 0 || n <= l {
			fmt.Fprint(w, strings.Replace(exportCSV, "10000,,,,,true,0,", fmt.Sprintf("10000,,,,,true,%d,", 100*n), 1))
			return
		}
		fmt.Fprint(w, exportCSV)
	case r.URL.Path == api.PathRedemptions:
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit < 1 || limit > 100 || r.URL.Query().Get("order") != "created_at" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		start := 0
		if after := r.URL.Query().Get("starting_after"); after != "" {
			for i, x := range f.redemptions {
				if x.ID == after {
					start = i + 1
				}
			}
		}
		end := min(start+limit, len(f.redemptions))
		list := api.RedemptionList{Object: "list", Redemptions: f.redemptions[start:end], Total: int64(len(f.redemptions)), HasMore: end < len(f.redemptions)}
		if list.HasMore {
			list.MoreStartingAfter = f.redemptions[end-1].ID
		}
		_ = json.NewEncoder(w).Encode(list)
	case strings.HasSuffix(r.URL.Path, "/validate"):
		f.validates.Add(1)
		code := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, api.PathVouchers+"/"), "/validate")
		_ = json.NewEncoder(w).Encode(api.ValidateResponse{Code: code, Valid: f.staleValid})
	case strings.HasPrefix(r.URL.Path, api.PathVouchers+"/"):
		q := int64(3)
		_ = json.NewEncoder(w).Encode(api.Voucher{Code: "SAVE10", Type: api.DiscountVoucher,
			Redemption: &api.VoucherRedemption{Quantity: &q, RedeemedQuantity: 3}})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// TestReadProbesTheTargetsAtOnce: each target answers its first validate
// only once every target has one in flight, so probing them in turn would
// leave the first waiting for the others and answering 503.
func TestReadProbesTheTargetsAtOnce(t *testing.T) {
	f := &fakeAPI{}
	const targets = 3
	var mu sync.Mutex
	arrived, all := 0, make(chan struct{})
	arrive := func() {
		mu.Lock()
		defer mu.Unlock()
		if arrived++; arrived == targets {
			close(all)
		}
	}
	var urls []string
	for range targets {
		var first sync.Once
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/validate") {
				first.Do(arrive)
				select {
				case <-all:
				case <-time.After(5 * time.Second):
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
			}
			f.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	st, err := Read(context.Background(), Source{ServiceURL: urls[0], ProbeURLs: urls, AppID: "app", AppToken: "secret"})
	require.NoError(t, err)
	ok, why := st.Has(Validations)
	require.True(t, ok, why)
	require.Len(t, st.Validations, 3*targets, "every changed voucher on every target")
	for k, u := range urls { // in the order of the targets
		for _, v := range st.Validations[3*k : 3*k+3] {
			require.Equal(t, u, v.Target)
		}
	}
}

func TestRead(t *testing.T) {
	f := &fakeAPI{staleValid: true}
	for i := range 250 {
		f.redemptions = append(f.redemptions, api.Redemption{ID: fmt.Sprintf("r%03d", i), Voucher: "SAVE10", Amount: 1000,
			IdempotencyKey: fmt.Sprintf("k%d", i), RolledBack: i%100 == 0, RollbackID: map[bool]string{true: fmt.Sprintf("rr%d", i)}[i%100 == 0]})
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	other := httptest.NewServer(f)
	defer other.Close()

	// A replica that stopped after the probes were listed refuses them.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gone := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	st, err := Read(context.Background(), Source{ServiceURL: srv.URL, ProbeURLs: []string{srv.URL, gone, other.URL}, AppID: "app", AppToken: "secret"})
	require.NoError(t, err)
	require.Len(t, st.Vouchers, 3)
	require.Len(t, st.Redemptions, 250, "every page read")
	require.Equal(t, "r249", st.Redemptions[249].ID)
	require.Len(t, st.Rollbacks, 3)
	require.Contains(t, st.Derived, Rollbacks)
	require.Equal(t, 1, st.Redemptions[100].RollbackCount)
	ok, why := st.Has(Events)
	require.False(t, ok)
	require.Equal(t, "no Mongo URL", why)
	ok, _ = st.Has(IdempotencyKeys)
	require.True(t, ok)
	_, why = st.Has(Database)
	require.Equal(t, "no Postgres URL", why)
	require.Equal(t, int64(3000), st.Vouchers[0].RedeemedAmount)
	// Every voucher the run changed is probed on every target: all three
	// were redeemed. A gift card is asked for 1, so the answer says
	// whether anything is left.
	require.Len(t, st.Validations, 6)
	require.EqualValues(t, 6, f.validates.Load())
	require.Equal(t, []string{srv.URL, other.URL}, st.ProbeTargets)
	require.Equal(t, []string{gone}, st.ProbeGone, "skipped and named, not fatal")
	require.True(t, st.Validations[0].Valid)
	require.Equal(t, srv.URL, st.Validations[0].Target)
	require.Equal(t, "GIFT1", st.Validations[1].Voucher)
	require.EqualValues(t, 1, st.Validations[1].Amount)
	require.Equal(t, other.URL, st.Validations[5].Target)

	st, err = Read(context.Background(), Source{ServiceURL: srv.URL, ProbeURLs: []string{gone}, AppID: "app", AppToken: "secret"})
	require.NoError(t, err)
	ok, why = st.Has(Validations)
	require.False(t, ok, "with every target gone nothing was probed")
	require.Contains(t, why, "every target refused")

	st, err = Read(context.Background(), Source{ServiceURL: srv.URL, AppID: "app", AppToken: "secret", Vouchers: []string{"SAVE10"}})
	require.NoError(t, err)
	require.Len(t, st.Vouchers, 1)
	require.Len(t, st.Redemptions, 250)

	// A listing without idempotency keys leaves that part missing.
	for i := range f.redemptions {
		f.redemptions[i].IdempotencyKey = ""
	}
	st, err = Read(context.Background(), Source{ServiceURL: srv.URL, AppID: "app", AppToken: "secret"})
	require.NoError(t, err)
	ok, why = st.Has(IdempotencyKeys)
	require.False(t, ok)
	require.Contains(t, why, "none of the 250 redemptions")
}

func TestReadRecordsWhatIsMissing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	st, err := Read(context.Background(), Source{ServiceURL: srv.URL, AppID: "app", AppToken: "secret",
		MongoURL: "mongodb://127.0.0.1:1/?connectTimeoutMS=200&serverSelectionTimeoutMS=200", EventsWait: 100 * time.Millisecond})
	require.NoError(t, err)
	for _, p := range []Part{Vouchers, Redemptions, Rollbacks, Events, Validations, IdempotencyKeys, Database} {
		ok, why := st.Has(p)
		require.False(t, ok, p)
		require.NotEmpty(t, why, p)
	}
	_, why := st.Has(Redemptions)
	require.Contains(t, why, "status 503")

	_, err = Read(context.Background(), Source{})
	require.Error(t, err)
}

// A state read while the service still commits is read again until two
// voucher reads around the redemptions agree; one that never settles
// leaves the vouchers missing rather than judged.
func TestReadWaitsForTheStateToSettle(t *testing.T) {
	for _, tc := range []struct {
		name      string
		landing   int64
		wantReads int
		missing   string
	}{
		{"nothing landing", 0, 2, ""},
		{"two writes land", 2, 4, ""},
		{"never settles", -1, 0, "still changing after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{}
			f.landing.Store(tc.landing)
			srv := httptest.NewServer(f)
			defer srv.Close()
			st, err := Read(context.Background(), Source{ServiceURL: srv.URL, AppID: "app", AppToken: "secret",
				SettleTimeout: 300 * time.Millisecond, SettleEvery: 20 * time.Millisecond})
			require.NoError(t, err)
			ok, why := st.Has(Vouchers)
			if tc.missing != "" {
				require.False(t, ok)
				require.Contains(t, why, tc.missing)
				return
			}
			require.True(t, ok, why)
			require.Equal(t, tc.wantReads, st.Reads)
			require.Equal(t, int64(0), st.Vouchers[1].FinalBalance, "the settled balance, not one read mid-write")
		})
	}
}
