package heroku

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logfmt/logfmt"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
)

// Real router lines from Heroku's documentation (heroku-facts.md §3).
const (
	exampleRouter20 = `2024-04-26T16:58:32.943253+00:00 heroku[router]: at=info method=GET path="/" host=my-app.example.com request_id=6903a168-b79b-ec27-03c8-b8f64d8d8792 fwd=138.68.186.89 dyno=web.1 connect=0ms service=0ms status=200 bytes=0 protocol=http2.0 tls=true tls_version=tls1.3`
	exampleLegacyOK = `2012-10-11T03:47:20+00:00 heroku[router]: at=info method=GET path=/ host=example-app-1234567890ab.herokuapp.com request_id=8601b555-6a83-4c12-8269-97c8e32cdb22 fwd="204.204.204.204" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 tls_version=tls1.1 protocol=http`
	exampleH12      = `2012-10-11T03:47:20+00:00 heroku[router]: at=error code=H12 desc="Request timeout" method=GET path=/ host=example-app-1234567890ab.herokuapp.com request_id=8601b555-6a83-4c12-8269-97c8e32cdb22 fwd="204.204.204.204" dyno=web.1 connect= service=30000ms status=503 bytes=0 protocol=http`
	exampleH10      = `2022-04-12T15:27:32.877398+00:00 heroku[router]: at=error code=H10 desc="App crashed" method=GET path="/" host=scraper-papersdrop.herokuapp.com request_id=f189ac84-cfd8-4bec-9226-741250314389 fwd="157.51.25.187" dyno= connect= service= status=503 bytes= protocol=https`
	exampleH27      = `2010-10-06T21:51:37-07:00 heroku[router]: sock=client at=warning code=H27 desc="Client Request Interrupted" method=POST path="/submit/" host=myapp.herokuapp.com fwd=17.17.17.17 dyno=web.1 connect=1ms service=0ms status=499 bytes=0`
	exampleH18      = `2010-10-06T21:51:37-07:00 heroku[router]: sock=backend at=error code=H18 desc="Server Request Interrupted" method=GET path="/" host=myapp.herokuapp.com fwd=17.17.17.17 dyno=web.1 connect=1ms service=1ms status=503 bytes=0`
)

// keys decodes a line's message with the plain logfmt decoder, as existing
// Heroku log tooling would.
func keys(t *testing.T, line string) []string {
	t.Helper()
	_, msg, ok := strings.Cut(line, "]: ")
	require.True(t, ok, line)
	dec := logfmt.NewDecoder(strings.NewReader(msg))
	require.True(t, dec.ScanRecord())
	var out []string
	for dec.ScanKeyval() {
		out = append(out, string(dec.Key()))
	}
	require.NoError(t, dec.Err(), line)
	return out
}

// insertAfter adds k after the key after in ks.
func insertAfter(ks []string, after, k string) []string {
	i := slices.Index(ks, after)
	return slices.Insert(slices.Clone(ks), i+1, k)
}

func TestRouterLinesHaveHerokuKeys(t *testing.T) {
	t.Parallel()
	for _, legacy := range []bool{false, true} {
		ta := start(t, fast(Options{Seed: 40, LegacyRouter: legacy, RequestTimerScale: 0.02}), 1, nil)
		ids := map[string]string{}
		do := func(name, method, path string) {
			id := reqID("keys-" + name)
			ids[name] = id
			req, _ := http.NewRequest(method, ta.url+path, strings.NewReader(""))
			req.Header.Set("X-Request-Id", id)
			if name == "H27" {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				req = req.WithContext(ctx)
			}
			resp, err := ta.client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		}
		do("ok", "GET", "/")
		do("H12", "GET", "/sleep?ms=1000")
		do("H27", "POST", "/sleep?ms=200")
		do("H18", "GET", "/partial?head=1")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, ta.CrashAll(ctx, time.Hour))
		cancel()
		do("H10", "GET", "/")

		line := func(name string) string {
			var found string
			ta.logs.wait(t, func(s string) bool {
				if strings.Contains(s, "request_id="+ids[name]+" ") {
					found = s
					return true
				}
				return false
			})
			// Every simulated line parses with our parser too.
			_, err := routerlog.ParseRouter(found)
			require.NoError(t, err, found)
			return found
		}
		// The 2010 error-codes examples predate request_id and protocol;
		// the simulation writes them where the newer examples do.
		modern := func(ks []string) []string {
			return insertAfter(insertAfter(ks, "host", "request_id"), "bytes", "protocol")
		}
		if legacy {
			// Plain HTTP has no TLS version.
			require.Equal(t, slices.DeleteFunc(keys(t, exampleLegacyOK), func(k string) bool { return k == "tls_version" }), keys(t, line("ok")))
			require.Equal(t, keys(t, exampleH12), keys(t, line("H12")))
			require.Equal(t, keys(t, exampleH10), keys(t, line("H10")))
			require.Equal(t, modern(keys(t, exampleH27)), keys(t, line("H27")))
			require.Equal(t, modern(keys(t, exampleH18)), keys(t, line("H18")))
			continue
		}
		r20 := keys(t, exampleRouter20)
		require.Equal(t, r20, keys(t, line("ok")))
		// Router 2.0 adds tls and tls_version to the older error lines.
		withTLS := func(ks []string) []string { return append(slices.Clone(ks), "tls", "tls_version") }
		require.Equal(t, withTLS(keys(t, exampleH12)), keys(t, line("H12")))
		require.Equal(t, withTLS(keys(t, exampleH10)), keys(t, line("H10")))
		require.Equal(t, withTLS(modern(keys(t, exampleH27))), keys(t, line("H27")))
		require.Equal(t, withTLS(modern(keys(t, exampleH18))), keys(t, line("H18")))
	}
}
