// Package client is a small typed Go client of the coupon API, for tests
// and for the harness (seeding, final reads). Error answers come back as
// *api.Error; an error answer that is not the API's JSON (a router's HTML
// page, say) comes back as *api.Error with an empty Key and the start of
// the body in Details.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/couponapi/api"
)

// Client calls one coupon API endpoint with one application's credentials.
type Client struct {
	BaseURL  string
	AppID    string
	AppToken string
	HTTP     *http.Client
}

// New returns a client of baseURL (http://host:port).
func New(baseURL, appID, appToken string) *Client {
	return &Client{
		BaseURL:  strings.TrimRight(baseURL, "/"),
		AppID:    appID,
		AppToken: appToken,
		HTTP:     &http.Client{Timeout: 60 * time.Second},
	}
}

// Header adds request headers, e.g. an X-Request-Id.
type Header map[string]string

// Do sends one request with the credentials and decodes a 2xx JSON answer
// into out (when out is not nil). body is JSON-encoded unless it is an
// io.Reader, sent as is with contentType.
func (c *Client) Do(ctx context.Context, method, path string, body any, contentType string, h Header, out any) error {
	resp, err := c.send(ctx, method, path, body, contentType, h)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, body any, contentType string, h Header) (*http.Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(buf)
		contentType = api.ContentTypeJSON
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set(api.HeaderAppID, c.AppID)
	req.Header.Set(api.HeaderAppToken, c.AppToken)
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e api.Error
	if err := json.Unmarshal(b, &e); err == nil && e.Key != "" {
		if e.Code == 0 {
			e.Code = resp.StatusCode
		}
		return &e
	}
	snippet := strings.TrimSpace(string(b))
	if len(snippet) > 200 {
		snippet = snippet[:200]
	}
	return &api.Error{Code: resp.StatusCode, Message: http.StatusText(resp.StatusCode), Details: snippet,
		RequestID: resp.Header.Get(api.HeaderRequestID)}
}

// CreateVoucher creates a voucher.
func (c *Client) CreateVoucher(ctx context.Context, v api.Voucher) (api.Voucher, error) {
	var out api.Voucher
	err := c.Do(ctx, http.MethodPost, api.PathVouchers, v, "", nil, &out)
	return out, err
}

// Voucher reads a voucher, counters included.
func (c *Client) Voucher(ctx context.Context, code string) (api.Voucher, error) {
	var out api.Voucher
	err := c.Do(ctx, http.MethodGet, api.VoucherPath(code), nil, "", nil, &out)
	return out, err
}

// Validate asks whether code would redeem for req.
func (c *Client) Validate(ctx context.Context, code string, req api.ValidateRequest) (api.ValidateResponse, error) {
	var out api.ValidateResponse
	err := c.Do(ctx, http.MethodPost, api.ValidatePath(code), req, "", nil, &out)
	return out, err
}

// Redeem redeems code; idempotencyKey may be empty (then a retry redeems again).
func (c *Client) Redeem(ctx context.Context, code, idempotencyKey string, req api.RedeemRequest) (api.Redemption, error) {
	var out api.Redemption
	var h Header
	if idempotencyKey != "" {
		h = Header{api.HeaderIdempotencyKey: idempotencyKey}
	}
	err := c.Do(ctx, http.MethodPost, api.RedeemPath(code), req, "", h, &out)
	return out, err
}

// Rollback rolls back a redemption.
func (c *Client) Rollback(ctx context.Context, redemptionID, reason string) (api.RollbackResponse, error) {
	var out api.RollbackResponse
	err := c.Do(ctx, http.MethodPost, api.RollbackPath(redemptionID), api.RollbackRequest{Reason: reason}, "", nil, &out)
	return out, err
}

// Redemption reads one redemption.
func (c *Client) Redemption(ctx context.Context, id string) (api.Redemption, error) {
	var out api.Redemption
	err := c.Do(ctx, http.MethodGet, api.RedemptionPath(id), nil, "", nil, &out)
	return out, err
}

// RedemptionQuery selects a page of GET /v1/redemptions; zero fields are left out.
type RedemptionQuery struct {
	Voucher, Customer, Result string
	Limit, Page               int
	StartingAfter             string
	Ascending                 bool
}

// Redemptions reads one page of redemptions.
func (c *Client) Redemptions(ctx context.Context, q RedemptionQuery) (api.RedemptionList, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("voucher", q.Voucher)
	set("customer", q.Customer)
	set("result", q.Result)
	set("starting_after", q.StartingAfter)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Page > 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.Ascending {
		v.Set("order", "created_at")
	}
	path := api.PathRedemptions
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out api.RedemptionList
	err := c.Do(ctx, http.MethodGet, path, nil, "", nil, &out)
	return out, err
}

// AllRedemptions reads every redemption of voucher (all when empty), oldest
// first, following the keyset cursor 100 at a time.
func (c *Client) AllRedemptions(ctx context.Context, voucher string) ([]api.Redemption, error) {
	var all []api.Redemption
	q := RedemptionQuery{Voucher: voucher, Limit: 100, Ascending: true}
	for {
		page, err := c.Redemptions(ctx, q)
		if err != nil {
			return all, err
		}
		all = append(all, page.Redemptions...)
		if !page.HasMore {
			return all, nil
		}
		q.StartingAfter = page.MoreStartingAfter
	}
}

// Import uploads vouchers: body is a JSON array (contentType
// api.ContentTypeJSON) or CSV (api.ContentTypeCSV), streamed as read.
func (c *Client) Import(ctx context.Context, contentType string, body io.Reader) (api.ImportResult, error) {
	var out api.ImportResult
	err := c.Do(ctx, http.MethodPost, api.PathImport, body, contentType, nil, &out)
	return out, err
}

// Export streams the CSV export into w.
func (c *Client) Export(ctx context.Context, w io.Writer) error {
	resp, err := c.send(ctx, http.MethodGet, api.PathExport, nil, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readError(resp)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read export: %w", err)
	}
	return nil
}

// Ready reads /readyz; it returns the readiness and an error unless 200.
func (c *Client) Ready(ctx context.Context) (api.Readiness, error) {
	var out api.Readiness
	resp, err := c.send(ctx, http.MethodGet, api.PathReady, nil, "", nil)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("readyz answered %d: %v", resp.StatusCode, out.Checks)
	}
	return out, nil
}
