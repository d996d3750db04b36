package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bulk"
	"github.com/cutover/cutover/couponapi/client"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

// raw sends a request and returns the status, headers and decoded error
// body (if the body is an api.Error).
func raw(t *testing.T, method, url string, h map[string]string, body string) (int, http.Header, api.Error, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var e api.Error
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, resp.Header, e, string(b)
}

func creds() map[string]string {
	return map[string]string{api.HeaderAppID: couponapitest.AppID, api.HeaderAppToken: couponapitest.AppToken}
}

func TestAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded stack")
	}
	st := stacktest.Embedded(t)
	ep := st.Endpoints()
	inst := couponapitest.Start(t, ep, nil)
	c := inst.Client
	ctx := context.Background()

	t.Run("credentials", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			h    map[string]string
		}{
			{"missing", nil},
			{"token missing", map[string]string{api.HeaderAppID: couponapitest.AppID}},
			{"wrong token", map[string]string{api.HeaderAppID: couponapitest.AppID, api.HeaderAppToken: "nope"}},
			{"unknown app", map[string]string{api.HeaderAppID: "other", api.HeaderAppToken: couponapitest.AppToken}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _, e, body := raw(t, "GET", inst.URL+api.VoucherPath("X"), tc.h, "")
				require.Equal(t, http.StatusUnauthorized, status)
				require.Equal(t, api.KeyUnauthorized, e.Key)
				require.Equal(t, 401, e.Code)
				require.NotContains(t, body, "goroutine")
			})
		}
		status, _, _, _ := raw(t, "GET", inst.URL+api.PathHealth, nil, "")
		require.Equal(t, http.StatusOK, status)
	})

	t.Run("request id is echoed", func(t *testing.T) {
		h := creds()
		h[api.HeaderRequestID] = "c9e1f7b2-5d1e-4c8a-9f0e-2b7d1a3c4e5f"
		status, hdr, e, _ := raw(t, "GET", inst.URL+api.VoucherPath("NOPE"), h, "")
		require.Equal(t, http.StatusNotFound, status)
		require.Equal(t, h[api.HeaderRequestID], hdr.Get(api.HeaderRequestID))
		require.Equal(t, h[api.HeaderRequestID], e.RequestID)
		require.Contains(t, inst.Log.String(), "request_id="+h[api.HeaderRequestID])
		h[api.HeaderRequestID] = "has spaces; and junk"
		_, hdr, _, _ = raw(t, "GET", inst.URL+api.VoucherPath("NOPE"), h, "")
		require.NotEqual(t, h[api.HeaderRequestID], hdr.Get(api.HeaderRequestID))
		require.NotEmpty(t, hdr.Get(api.HeaderRequestID))
	})

	t.Run("routing errors are JSON", func(t *testing.T) {
		status, _, e, _ := raw(t, "GET", inst.URL+"/v1/nothing", creds(), "")
		require.Equal(t, http.StatusNotFound, status)
		require.Equal(t, api.KeyNotFound, e.Key)
		status, hdr, e, _ := raw(t, "DELETE", inst.URL+api.VoucherPath("X"), creds(), "")
		require.Equal(t, http.StatusMethodNotAllowed, status)
		require.Equal(t, api.KeyMethodNotAllowed, e.Key)
		require.Equal(t, "GET", hdr.Get("Allow"))
	})

	t.Run("create errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			status     int
			key        string
		}{
			{"malformed", `{"code":`, 400, api.KeyInvalidPayload},
			{"trailing data", `{"code":"A"} {}`, 400, api.KeyInvalidPayload},
			{"no discount", `{"code":"A","type":"DISCOUNT_VOUCHER"}`, 400, api.KeyInvalidVoucher},
			{"bad type", `{"code":"A","type":"LOYALTY_CARD"}`, 400, api.KeyInvalidVoucher},
			{"zero quantity", `{"code":"A","type":"GIFT_VOUCHER","gift":{"amount":5},"redemption":{"quantity":0}}`, 400, api.KeyInvalidVoucher},
			{"too large", `{"code":"` + strings.Repeat("x", 2<<20) + `"}`, 413, api.KeyPayloadTooLarge},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _, e, _ := raw(t, "POST", inst.URL+api.PathVouchers, creds(), tc.body)
				require.Equal(t, tc.status, status)
				require.Equal(t, tc.key, e.Key)
			})
		}
		_, err := c.CreateVoucher(ctx, couponapitest.Voucher("DUP", 1, 1))
		require.NoError(t, err)
		_, err = c.CreateVoucher(ctx, couponapitest.Voucher("DUP", 1, 1))
		require.Equal(t, api.KeyDuplicate, apiKey(err))
		var aerr *api.Error
		require.ErrorAs(t, err, &aerr)
		require.Equal(t, 409, aerr.Code)
	})

	t.Run("voucher rules in validate and redeem", func(t *testing.T) {
		past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		off := false
		q1 := int64(1)
		for _, tc := range []struct {
			name    string
			v       api.Voucher
			req     api.RedeemRequest
			key     string
			applied int64
		}{
			{"amount off", couponapitest.Voucher("R-AMT", 0, 500), redeemReq(1, 2000), "", 500},
			{"amount off capped at the order", couponapitest.Voucher("R-CAP", 0, 500), redeemReq(1, 300), "", 300},
			{"percent", api.Voucher{Code: "R-PCT", Type: api.DiscountVoucher, Discount: &api.Discount{Type: api.DiscountPercent, PercentOff: 12.5}}, redeemReq(1, 1000), "", 125},
			{"percent with limit", api.Voucher{Code: "R-PLIM", Type: api.DiscountVoucher, Discount: &api.Discount{Type: api.DiscountPercent, PercentOff: 50, AmountLimit: 100}}, redeemReq(1, 1000), "", 100},
			{"percent needs an amount", api.Voucher{Code: "R-PMISS", Type: api.DiscountVoucher, Discount: &api.Discount{Type: api.DiscountPercent, PercentOff: 5}}, redeemReq(1, 0), api.KeyMissingAmount, 0},
			{"expired", api.Voucher{Code: "R-EXP", Type: api.GiftVoucher, Gift: &api.Gift{Amount: 100}, ExpirationDate: &past}, redeemReq(1, 10), api.KeyVoucherExpired, 0},
			{"not active yet", api.Voucher{Code: "R-START", Type: api.GiftVoucher, Gift: &api.Gift{Amount: 100}, StartDate: &future}, redeemReq(1, 10), api.KeyVoucherNotActiveYet, 0},
			{"disabled", api.Voucher{Code: "R-OFF", Type: api.GiftVoucher, Gift: &api.Gift{Amount: 100}, Active: &off}, redeemReq(1, 10), api.KeyVoucherDisabled, 0},
			{"minimum order", api.Voucher{Code: "R-MIN", Type: api.DiscountVoucher, Discount: &api.Discount{Type: api.DiscountAmount, AmountOff: 5}, MinOrderAmount: 1000}, redeemReq(1, 999), api.KeyOrderRulesViolated, 0},
			{"gift credits", couponapitest.GiftCard("R-GC", 1000), api.RedeemRequest{Order: api.Order{Amount: 5000}, Gift: &api.GiftCredits{Credits: 400}}, "", 400},
			{"gift exceeded", couponapitest.GiftCard("R-GX", 1000), redeemReq(1, 1001), api.KeyGiftAmountExceeded, 0},
			{"quantity", api.Voucher{Code: "R-Q0", Type: api.GiftVoucher, Gift: &api.Gift{Amount: 100}, Redemption: &api.VoucherRedemption{Quantity: &q1}}, redeemReq(1, 10), "", 10},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := c.CreateVoucher(ctx, tc.v)
				require.NoError(t, err)
				val, err := c.Validate(ctx, tc.v.Code, api.ValidateRequest{Order: tc.req.Order, Gift: tc.req.Gift})
				require.NoError(t, err)
				r, rerr := c.Redeem(ctx, tc.v.Code, "", tc.req)
				if tc.key != "" {
					require.False(t, val.Valid)
					require.Equal(t, tc.key, val.Key)
					require.Equal(t, tc.key, apiKey(rerr))
					var aerr *api.Error
					require.ErrorAs(t, rerr, &aerr)
					require.Equal(t, 400, aerr.Code)
					return
				}
				require.True(t, val.Valid, val.Reason)
				require.Equal(t, tc.applied, val.Order.DiscountAmount)
				require.NoError(t, rerr)
				require.Equal(t, tc.applied, r.Amount)
				require.Equal(t, api.ResultSuccess, r.Result)
			})
		}
		_, err := c.Validate(ctx, "R-NONE", api.ValidateRequest{})
		require.Equal(t, api.KeyNotFound, apiKey(err))
		_, err = c.Redeem(ctx, "R-NONE", "", redeemReq(1, 10))
		require.Equal(t, api.KeyNotFound, apiKey(err))
		_, err = c.Redeem(ctx, "R-Q0", "", redeemReq(1, 10))
		require.Equal(t, api.KeyQuantityExceeded, apiKey(err))
		_, err = c.Rollback(ctx, "r_nope", "")
		require.Equal(t, api.KeyNotFound, apiKey(err))
	})

	t.Run("replayed refusal and replay header", func(t *testing.T) {
		_, err := c.CreateVoucher(ctx, couponapitest.Voucher("REPLAY", 1, 10))
		require.NoError(t, err)
		_, err = c.Redeem(ctx, "REPLAY", "a", redeemReq(1, 100))
		require.NoError(t, err)
		_, err = c.Redeem(ctx, "REPLAY", "b", redeemReq(2, 100))
		require.Equal(t, api.KeyQuantityExceeded, apiKey(err))
		_, err = c.Rollback(ctx, mustList(t, c, "REPLAY")[0].ID, "")
		require.NoError(t, err)
		// Key b answered quantity_exceeded once; its retry answers the same.
		_, err = c.Redeem(ctx, "REPLAY", "b", redeemReq(2, 100))
		require.Equal(t, api.KeyQuantityExceeded, apiKey(err))
		h := creds()
		h[api.HeaderIdempotencyKey] = "a"
		status, hdr, _, _ := raw(t, "POST", inst.URL+api.RedeemPath("REPLAY"), h, `{"customer":{"source_id":"cust-1"},"order":{"id":"ord-1","amount":100}}`)
		require.Equal(t, 200, status)
		require.Equal(t, "true", hdr.Get(api.HeaderIdempotentReplayed))
	})

	t.Run("list redemptions pages", func(t *testing.T) {
		_, err := c.CreateVoucher(ctx, couponapitest.Voucher("PAGES", 0, 10))
		require.NoError(t, err)
		var ids []string
		for i := range 25 {
			r, err := c.Redeem(ctx, "PAGES", "", redeemReq(i, 100))
			require.NoError(t, err)
			ids = append(ids, r.ID)
		}
		p1, err := c.Redemptions(ctx, client.RedemptionQuery{Voucher: "PAGES", Limit: 10})
		require.NoError(t, err)
		require.EqualValues(t, 25, p1.Total)
		require.True(t, p1.HasMore)
		require.Equal(t, ids[24], p1.Redemptions[0].ID, "newest first")
		p3, err := c.Redemptions(ctx, client.RedemptionQuery{Voucher: "PAGES", Limit: 10, Page: 3})
		require.NoError(t, err)
		require.Len(t, p3.Redemptions, 5)
		require.False(t, p3.HasMore)
		require.Equal(t, ids[0], p3.Redemptions[4].ID)
		all, err := c.AllRedemptions(ctx, "PAGES")
		require.NoError(t, err)
		got := make([]string, len(all))
		for i, r := range all {
			got[i] = r.ID
		}
		require.Equal(t, ids, got)
		r, err := c.Redemption(ctx, ids[3])
		require.NoError(t, err)
		require.Equal(t, "cust-3", r.CustomerID)
		require.Equal(t, "ord-3", r.Order.ID)
		status, _, e, _ := raw(t, "GET", inst.URL+api.PathRedemptions+"?limit=1000", creds(), "")
		require.Equal(t, 400, status)
		require.Equal(t, api.KeyInvalidPayload, e.Key)
	})

	t.Run("import and export", func(t *testing.T) {
		var buf bytes.Buffer
		buf.WriteString("[")
		for i := range 2500 {
			if i > 0 {
				buf.WriteString(",")
			}
			fmt.Fprintf(&buf, `{"code":"IMP-%05d","type":"GIFT_VOUCHER","gift":{"amount":%d}}`, i, 100+i)
		}
		buf.WriteString(`,{"code":"IMP-00007","type":"GIFT_VOUCHER","gift":{"amount":1}}`)
		buf.WriteString(`,{"code":"IMP-BAD","type":"GIFT_VOUCHER"}`)
		buf.WriteString(`,{"code":"IMP-TYPE","type":"GIFT_VOUCHER","gift":{"amount":"lots"}}]`)
		res, err := c.Import(ctx, api.ContentTypeJSON, &buf)
		require.NoError(t, err)
		require.EqualValues(t, 2500, res.Created)
		require.EqualValues(t, 3, res.Failed, res.Errors)
		require.Len(t, res.Errors, 3)

		csvBody := "code,type,discount_type,amount_off,quantity,expiration_date\n" +
			"CSV-1,DISCOUNT_VOUCHER,AMOUNT,250,3,2099-01-01T00:00:00Z\n" +
			"CSV-2,DISCOUNT_VOUCHER,PERCENT,,,\n" +
			"CSV-3,DISCOUNT_VOUCHER,AMOUNT,abc,,\n"
		res, err = c.Import(ctx, api.ContentTypeCSV, strings.NewReader(csvBody))
		require.NoError(t, err)
		require.EqualValues(t, 1, res.Created)
		require.EqualValues(t, 2, res.Failed, res.Errors)
		v, err := c.Voucher(ctx, "CSV-1")
		require.NoError(t, err)
		require.EqualValues(t, 3, *v.Redemption.Quantity)
		require.EqualValues(t, 250, v.Discount.AmountOff)

		var out bytes.Buffer
		require.NoError(t, c.Export(ctx, &out))
		codes := map[string]api.Voucher{}
		require.NoError(t, bulk.ReadCSV(&out, func(_ int, v api.Voucher, err error) error {
			require.NoError(t, err)
			codes[v.Code] = v
			return nil
		}))
		require.Contains(t, codes, "IMP-02499")
		require.Contains(t, codes, "CSV-1")
		require.EqualValues(t, 107, codes["IMP-00007"].Gift.Amount)

		status, _, e, _ := raw(t, "POST", inst.URL+api.PathImport, creds(), "[]")
		require.Equal(t, http.StatusUnsupportedMediaType, status)
		require.Equal(t, api.KeyUnsupportedMediaType, e.Key)
		_, err = c.Import(ctx, api.ContentTypeJSON, strings.NewReader(`{"not":"an array"}`))
		require.Equal(t, api.KeyInvalidPayload, apiKey(err))
	})

	t.Run("rate limit per application", func(t *testing.T) {
		limited := couponapitest.Start(t, ep, map[string]string{"RATE_LIMIT_PER_SEC": "5"})
		var limitedN int
		for range 20 {
			_, err := limited.Client.Voucher(ctx, "DUP")
			if apiKey(err) == api.KeyRateLimited {
				limitedN++
				var aerr *api.Error
				require.ErrorAs(t, err, &aerr)
				require.Equal(t, 429, aerr.Code)
			}
		}
		require.GreaterOrEqual(t, limitedN, 10)
	})

	t.Run("works without Redis", func(t *testing.T) {
		dead := deadAddr(t)
		noRedis := couponapitest.Start(t, ep, map[string]string{"REDIS_URL": "redis://" + dead + "/0", "REDIS_TIMEOUT": "50ms"})
		ready, err := noRedis.Client.Ready(ctx)
		require.NoError(t, err)
		require.Contains(t, ready.Checks["redis"], "degraded")
		_, err = noRedis.Client.CreateVoucher(ctx, couponapitest.Voucher("NOREDIS", 0, 10))
		require.NoError(t, err)
		a, err := noRedis.Client.Redeem(ctx, "NOREDIS", "k", redeemReq(1, 100))
		require.NoError(t, err)
		b, err := noRedis.Client.Redeem(ctx, "NOREDIS", "k", redeemReq(1, 100))
		require.NoError(t, err)
		require.Equal(t, a.ID, b.ID, "Postgres keeps idempotency when Redis is gone")
		val, err := noRedis.Client.Validate(ctx, "NOREDIS", api.ValidateRequest{Order: api.Order{Amount: 100}})
		require.NoError(t, err)
		require.True(t, val.Valid)
	})

	t.Run("two processes migrate a fresh database at once", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, ep.PostgresURL)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `CREATE DATABASE fresh`)
		require.NoError(t, err)
		require.NoError(t, conn.Close(ctx))
		freshURL := strings.Replace(ep.PostgresURL, "/cutover?", "/fresh?", 1)
		require.NotEqual(t, ep.PostgresURL, freshURL)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { couponapitest.Start(t, ep, map[string]string{"DATABASE_URL": freshURL}) })
		}
		wg.Wait()
		fc, err := pgx.Connect(ctx, freshURL)
		require.NoError(t, err)
		defer fc.Close(ctx)
		var n int
		require.NoError(t, fc.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n))
		require.Equal(t, 1, n)
	})

	t.Run("partner webhook from the egress address, retried until accepted", func(t *testing.T) {
		var mu sync.Mutex
		var calls []string
		accepted := map[string]int{}
		refuse := 2
		partnerSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			var ev api.Event
			_ = json.NewDecoder(r.Body).Decode(&ev)
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, host+" "+ev.Type+" "+r.Header.Get(api.HeaderIdempotencyKey))
			if host != "127.0.0.3" || ev.ID != r.Header.Get(api.HeaderIdempotencyKey) {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if refuse > 0 { // the partner's firewall does not know us yet
				refuse--
				w.WriteHeader(http.StatusForbidden)
				return
			}
			accepted[ev.RedemptionID]++
		}))
		defer partnerSrv.Close()
		p := couponapitest.Start(t, ep, map[string]string{"PARTNER_WEBHOOK_URL": partnerSrv.URL, "EGRESS_ADDR": "127.0.0.3"})
		_, err := p.Client.CreateVoucher(ctx, couponapitest.Voucher("CRM", 0, 10))
		require.NoError(t, err)
		var ids []string
		for i := range 3 {
			r, err := p.Client.Redeem(ctx, "CRM", "", redeemReq(i, 100))
			require.NoError(t, err)
			ids = append(ids, r.ID)
		}
		ok := couponapitest.WaitFor(10*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(accepted) == 3
		})
		mu.Lock()
		defer mu.Unlock()
		require.True(t, ok, "calls: %v", calls)
		for _, id := range ids {
			require.Equal(t, 1, accepted[id])
		}
		for _, c := range calls {
			require.True(t, strings.HasPrefix(c, "127.0.0.3 "+api.EventRedemptionCreated), c)
		}
	})
}

func mustList(t *testing.T, c *client.Client, code string) []api.Redemption {
	t.Helper()
	l, err := c.AllRedemptions(context.Background(), code)
	require.NoError(t, err)
	return l
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestPostgresOutage crashes Postgres under the service: calls must fail
// fast with 503 service_unavailable (not hang), readiness must fail, and
// both must recover when Postgres is back.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded stack")
	}
	st := stacktest.Embedded(t)
	inst := couponapitest.Start(t, st.Endpoints(), map[string]string{"DB_TIMEOUT": "1s"})
	ctx := context.Background()
	_, err := inst.Client.CreateVoucher(ctx, couponapitest.Voucher("OUTAGE", 0, 10))
	require.NoError(t, err)
	require.NoError(t, st.Postgres().Crash(ctx))

	start := time.Now()
	_, err = inst.Client.Redeem(ctx, "OUTAGE", "k1", redeemReq(1, 100))
	require.Equal(t, api.KeyUnavailable, apiKey(err), "%v", err)
	var aerr *api.Error
	require.ErrorAs(t, err, &aerr)
	require.Equal(t, 503, aerr.Code)
	require.Less(t, time.Since(start), 3*time.Second)
	_, err = inst.Client.Ready(ctx)
	require.Error(t, err)

	require.NoError(t, st.Postgres().Start(ctx))
	require.True(t, couponapitest.WaitFor(15*time.Second, func() bool { _, err := inst.Client.Ready(ctx); return err == nil }))
	var r api.Redemption
	require.True(t, couponapitest.WaitFor(10*time.Second, func() bool {
		r, err = inst.Client.Redeem(ctx, "OUTAGE", "k1", redeemReq(1, 100))
		return err == nil
	}), "last error: %v", err)
	list := mustList(t, inst.Client, "OUTAGE")
	require.Len(t, list, 1)
	require.Equal(t, r.ID, list[0].ID)
}
