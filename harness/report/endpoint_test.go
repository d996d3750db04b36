package report_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
)

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct {
		method, url, want string
	}{
		{"POST", "http://coupons.test/v1/vouchers/SUMMER-1/redemption", "redeem"},
		{"POST", "http://coupons.test/v1/vouchers/SUMMER-1/validate", "validate"},
		{"POST", "/v1/redemptions/r_123/rollback", "rollback"},
		{"GET", "http://127.0.0.2:8080/v1/vouchers/SUMMER-1", "get"},
		{"GET", "/v1/redemptions?voucher=X&limit=50", "list"},
		{"GET", "/v1/vouchers", "list"},
		{"POST", "/v1/vouchers", "create"},
		{"POST", "/v1/vouchers/import", "import"},
		{"GET", "/v1/vouchers/export?format=csv", "export"},
		{"GET", "/healthz", "health"},
		{"GET", "/readyz", "health"},
		{"GET", "/v1/redemptions/r_1", "get"},
		{"GET", "/v1/vouchers/a/b/c", "other"},
		{"GET", "/", "other"},
		{"GET", "%zz", "other"},
	} {
		require.Equal(t, tc.want, report.Endpoint(tc.method, tc.url), "%s %s", tc.method, tc.url)
	}
}

func FuzzEndpoint(f *testing.F) {
	f.Add("POST", "http://coupons.test/v1/vouchers/A/redemption")
	f.Add("GET", "/v1/redemptions/%2F/rollback")
	f.Fuzz(func(t *testing.T, method, url string) {
		if report.Endpoint(method, url) == "" {
			t.Fatal("every request gets a name")
		}
	})
}
