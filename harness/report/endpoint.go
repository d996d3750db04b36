package report

import (
	"net/url"
	"strings"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
)

// Endpoint names a request by the coupon API operation it calls — the same
// names as the history's op names (redeem, validate, ...) — so that vegeta
// results, which only know the method and URL, group like the history.
// Health checks are "health"; anything else is "other".
func Endpoint(method, rawURL string) string {
	path := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		path = u.Path
	} else if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimSuffix(path, "/")
	method = strings.ToUpper(method)
	switch path {
	case api.PathHealth, api.PathReady:
		return "health"
	case api.PathImport:
		return history.Import
	case api.PathExport:
		return history.Export
	case api.PathVouchers:
		if method == "POST" {
			return history.Create
		}
		return history.List
	case api.PathRedemptions:
		return history.List
	}
	switch {
	case strings.HasPrefix(path, api.PathVouchers+"/"):
		rest := strings.Split(strings.TrimPrefix(path, api.PathVouchers+"/"), "/")
		switch {
		case len(rest) == 1 && rest[0] != "":
			return history.Get
		case len(rest) == 2 && rest[1] == "validate":
			return history.Validate
		case len(rest) == 2 && (rest[1] == "redemption" || rest[1] == "redeem"):
			return history.Redeem
		}
	case strings.HasPrefix(path, api.PathRedemptions+"/"):
		rest := strings.Split(strings.TrimPrefix(path, api.PathRedemptions+"/"), "/")
		switch {
		case len(rest) == 2 && rest[1] == "rollback":
			return history.Rollback
		case len(rest) == 1 && rest[0] != "":
			return history.Get
		}
	}
	return "other"
}
