package report_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
)

// Lines as Heroku documents them (see shared/heroku-facts.md §3).
func TestParseRouterLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want report.RouterLine
		ok   bool
	}{
		{"success legacy", `2012-10-11T03:47:20+00:00 heroku[router]: at=info method=GET path=/ host=example-app-1234567890ab.herokuapp.com request_id=8601b555-6a83-4c12-8269-97c8e32cdb22 fwd="204.204.204.204" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 tls_version=tls1.1 protocol=http`,
			report.RouterLine{Time: time.Date(2012, 10, 11, 3, 47, 20, 0, time.UTC), At: "info", Status: 200, Dyno: "web.1", Path: "/", Method: "GET", RequestID: "8601b555-6a83-4c12-8269-97c8e32cdb22"}, true},
		{"drain framing", `264 <158>1 2012-10-11T03:47:20+00:00 host heroku router - at=info method=GET path=/ host=example-app-1234567890ab.herokuapp.com request_id=8601b555 fwd="204.204.204.204" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 tls_version=tls1.1 protocol=http`,
			report.RouterLine{Time: time.Date(2012, 10, 11, 3, 47, 20, 0, time.UTC), At: "info", Status: 200, Dyno: "web.1", Path: "/", Method: "GET", RequestID: "8601b555"}, true},
		{"H12", `2010-10-06T21:51:37-07:00 heroku[router]: at=error code=H12 desc="Request timeout" method=GET path="/" host=myapp.herokuapp.com fwd=17.17.17.17 dyno=web.1 connect=6ms service=30001ms status=503 bytes=0`,
			report.RouterLine{Time: time.Date(2010, 10, 7, 4, 51, 37, 0, time.UTC), At: "error", Code: "H12", Status: 503, Dyno: "web.1", Path: "/", Method: "GET"}, true},
		{"H10 empty fields", `2010-10-06T21:51:12-07:00 heroku[router]: at=error code=H10 desc="App crashed" method=GET path="/" host=myapp.herokuapp.com fwd=17.17.17.17 dyno= connect= service= status=503 bytes=`,
			report.RouterLine{Time: time.Date(2010, 10, 7, 4, 51, 12, 0, time.UTC), At: "error", Code: "H10", Status: 503, Path: "/", Method: "GET"}, true},
		{"H27 sock first", `2010-10-06T21:51:37-07:00 heroku[router]: sock=client at=warning code=H27 desc="Client Request Interrupted" method=POST path="/submit/" host=myapp.herokuapp.com fwd=17.17.17.17 dyno=web.1 connect=1ms service=0ms status=499 bytes=0`,
			report.RouterLine{Time: time.Date(2010, 10, 7, 4, 51, 37, 0, time.UTC), At: "warning", Code: "H27", Status: 499, Dyno: "web.1", Path: "/submit/", Method: "POST"}, true},
		{"dyno line", `2024-01-01T00:00:00+00:00 heroku[web.1]: State changed from up to starting`, report.RouterLine{}, false},
		{"app line", `2024-01-01T00:00:00+00:00 app[web.1]: GET /v1/vouchers 200`, report.RouterLine{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := report.ParseRouterLine(tc.line)
			require.NoError(t, err)
			require.Equal(t, tc.ok, ok)
			if ok {
				require.True(t, tc.want.Time.Equal(got.Time), "time %s", got.Time)
				got.Time = tc.want.Time
				require.Equal(t, tc.want, got)
			}
		})
	}
}

func TestReadRouterLogNamesTheLine(t *testing.T) {
	log := "2024-01-01T00:00:00+00:00 heroku[web.1]: Cycling\n" +
		"2024-01-01T00:00:01+00:00 heroku[router]: at=info status=200\n" +
		"\n" +
		"yesterday heroku[router]: at=error code=H12 status=503\n"
	_, err := report.ReadRouterLog(strings.NewReader(log), "router.log")
	require.ErrorContains(t, err, "router.log:4:")

	lines, err := report.ReadRouterLog(strings.NewReader(log[:strings.LastIndex(log, "yesterday")]), "router.log")
	require.NoError(t, err)
	require.Len(t, lines, 1)
	require.Equal(t, 200, lines[0].Status)

	_, err = report.ReadRouterLog(strings.NewReader("2024-01-01T00:00:01Z heroku[router]: at=info status=abc\n"), "r.log")
	require.ErrorContains(t, err, `r.log:1: router line: status "abc"`)
}

func FuzzParseRouterLine(f *testing.F) {
	f.Add(`2012-10-11T03:47:20+00:00 heroku[router]: at=info method=GET path=/ dyno=web.1 status=200`)
	f.Add(`264 <158>1 2012-10-11T03:47:20+00:00 host heroku router - at=error code=H12 status=503`)
	f.Add(`2010-10-06T21:51:12-07:00 heroku[router]: at=error code=H10 desc="App crashed" dyno= status=503 bytes=`)
	f.Fuzz(func(t *testing.T, line string) {
		rl, ok, err := report.ParseRouterLine(line)
		if err != nil && ok {
			t.Fatal("a line is either parsed or an error")
		}
		if ok && rl.Time.IsZero() {
			t.Fatal("a parsed line has a time")
		}
	})
}
