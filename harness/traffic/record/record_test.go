package record

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// upstream is a coupon service stand-in that remembers what reached it.
type upstream struct {
	mu   sync.Mutex
	got  []string // raw header and body text of each request
	next int
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var raw bytes.Buffer
	_ = r.Header.Write(&raw)
	u.mu.Lock()
	u.got = append(u.got, r.URL.String()+"\n"+raw.String()+string(body))
	u.next++
	n := u.next
	u.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/redemption") {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(api.Redemption{ID: fmt.Sprintf("r_%d", n), Result: api.ResultSuccess})
		return
	}
	_, _ = w.Write([]byte(`{"ok":true}`))
}

func TestRedactionAndRollbackLinks(t *testing.T) {
	up := &upstream{}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	u, _ := url.Parse(upSrv.URL)

	path := filepath.Join(t.TempDir(), "rec.jsonl.gz")
	out, err := trace.Create(path, trace.Meta{Source: "record " + upSrv.URL})
	require.NoError(t, err)
	rec, err := New(Config{Upstream: u, Redact: []string{"X-Partner-Secret", "card_pin"}}, out)
	require.NoError(t, err)
	proxy := httptest.NewServer(rec)
	defer proxy.Close()

	secrets := []string{"S3CR3T-bearer", "S3CR3T-apptoken", "S3CR3T-cookie", "S3CR3T-partner",
		"S3CR3T-password", "S3CR3T-nested", "S3CR3T-query", "S3CR3T-pin", "S3CR3T-form"}
	send := func(method, path, body, contentType string, hdr map[string]string) *http.Response {
		req, err := http.NewRequest(method, proxy.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	send("POST", "/v1/vouchers/SAVE-1/redemption?api_key="+secrets[6],
		`{"customer":{"source_id":"cust-1"},"order":{"amount":4200},"password":"`+secrets[4]+`","meta":{"token":"`+secrets[5]+`","card_pin":"`+secrets[7]+`"}}`,
		"application/json", map[string]string{
			"Authorization":          "Bearer " + secrets[0],
			api.HeaderAppToken:       secrets[1],
			"Cookie":                 "session=" + secrets[2],
			"X-Partner-Secret":       secrets[3],
			api.HeaderIdempotencyKey: "key-1",
			"X-Client-Id":            "checkout-7",
		})
	send("POST", "/v1/redemptions/r_1/rollback", "", "", map[string]string{api.HeaderAppToken: secrets[1]})
	send("POST", "/v1/redemptions/r_unknown/rollback", "", "", nil)
	send("POST", "/login", "user=a&password="+secrets[8], "application/x-www-form-urlencoded", nil)
	require.NoError(t, rec.Err())
	require.NoError(t, out.Close())

	// The upstream got every secret: recording does not change the traffic.
	all := strings.Join(up.got, "\n")
	for _, s := range secrets {
		require.Contains(t, all, s)
	}
	// No secret is in the trace file, compressed or not.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	plain, err := io.ReadAll(gz)
	require.NoError(t, err)
	for _, s := range secrets {
		require.NotContains(t, string(plain), s)
		require.NotContains(t, string(raw), s)
	}
	require.NotContains(t, string(plain), "S3CR3T")

	_, reqs, err := trace.ReadAll(path)
	require.NoError(t, err)
	require.Len(t, reqs, 4)
	r := reqs[0]
	require.Equal(t, history.Redeem, r.Op)
	require.Equal(t, "SAVE-1", r.Voucher)
	require.Equal(t, "cust-1", r.Customer)
	require.EqualValues(t, 4200, r.Amount)
	require.Equal(t, "key-1", r.Key)
	require.Equal(t, "checkout-7", r.Client)
	require.Equal(t, Redacted, r.Headers["Authorization"])
	require.Contains(t, r.Path, "api_key="+Redacted)
	// The rollback of a recorded redemption names its redeem's key.
	require.Equal(t, history.Rollback, reqs[1].Op)
	require.Equal(t, "key-1", reqs[1].Undoes)
	require.Equal(t, "/v1/redemptions/"+trace.RedemptionPlaceholder+"/rollback", reqs[1].Path)
	require.Empty(t, reqs[2].Undoes, "an unknown redemption stays as recorded")
	require.Equal(t, "/v1/redemptions/r_unknown/rollback", reqs[2].Path)
	require.LessOrEqual(t, reqs[0].At, reqs[3].At)

	side, ok, err := trace.ReadMeta(path)
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, 4, side.Requests)
}

func TestNoDefaults(t *testing.T) {
	up := httptest.NewServer(&upstream{})
	defer up.Close()
	u, _ := url.Parse(up.URL)
	var buf bytes.Buffer
	out, err := trace.NewWriter(&buf, "mem", trace.Meta{}, false)
	require.NoError(t, err)
	rec, err := New(Config{Upstream: u, NoDefaults: true}, out)
	require.NoError(t, err)
	srv := httptest.NewServer(rec)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/vouchers/A", nil)
	req.Header.Set("Authorization", "Bearer visible")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.NoError(t, out.Close())
	require.Contains(t, buf.String(), "Bearer visible")
}

func TestBadUpstream(t *testing.T) {
	_, err := New(Config{Upstream: &url.URL{Scheme: "ftp", Host: "x"}}, nil)
	require.ErrorContains(t, err, "upstream")
}
