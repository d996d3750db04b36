package routerlog

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logfmt/logfmt"
	"github.com/stretchr/testify/require"
)

// The verbatim examples of heroku-facts.md §3 (Heroku's own documentation).
var herokuExamples = []struct {
	name string
	line string
	want Line
}{
	{
		name: "success legacy heroku logs",
		line: `2012-10-11T03:47:20+00:00 heroku[router]: at=info method=GET path=/ host=example-app-1234567890ab.herokuapp.com request_id=8601b555-6a83-4c12-8269-97c8e32cdb22 fwd="204.204.204.204" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 tls_version=tls1.1 protocol=http`,
		want: Line{At: "info", Method: "GET", Path: "/", Host: "example-app-1234567890ab.herokuapp.com",
			RequestID: "8601b555-6a83-4c12-8269-97c8e32cdb22", Fwd: "204.204.204.204", Dyno: "web.1",
			ConnectMS: 1, ServiceMS: 18, Status: 200, Bytes: 13, TLSVersion: "tls1.1", Protocol: "http"},
	},
	{
		name: "success legacy drain",
		line: `264 <158>1 2012-10-11T03:47:20+00:00 host heroku router - at=info method=GET path=/ host=example-app-1234567890ab.herokuapp.com request_id=8601b555-6a83-4c12-8269-97c8e32cdb22 fwd="204.204.204.204" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 tls_version=tls1.1 protocol=http`,
		want: Line{At: "info", Method: "GET", Path: "/", Host: "example-app-1234567890ab.herokuapp.com",
			RequestID: "8601b555-6a83-4c12-8269-97c8e32cdb22", Fwd: "204.204.204.204", Dyno: "web.1",
			ConnectMS: 1, ServiceMS: 18, Status: 200, Bytes: 13, TLSVersion: "tls1.1", Protocol: "http"},
	},
	{
		name: "success router 2.0",
		line: `2024-04-26T16:58:32.943253+00:00 heroku[router]: at=info method=GET path="/" host=my-app.example.com request_id=6903a168-b79b-ec27-03c8-b8f64d8d8792 fwd=138.68.186.89 dyno=web.1 connect=0ms service=0ms status=200 bytes=0 protocol=http2.0 tls=true tls_version=tls1.3`,
		want: Line{At: "info", Method: "GET", Path: "/", Host: "my-app.example.com",
			RequestID: "6903a168-b79b-ec27-03c8-b8f64d8d8792", Fwd: "138.68.186.89", Dyno: "web.1",
			ConnectMS: 0, ServiceMS: 0, Status: 200, Bytes: 0, Protocol: "http2.0", TLS: "true", TLSVersion: "tls1.3"},
	},
	{
		name: "H12 http-routing",
		line: `2012-10-11T03:47:20+00:00 heroku[router]: at=error code=H12 desc="Request timeout" method=GET path=/ host=example-app-1234567890ab.herokuapp.com request_id=8601b555-6a83-4c12-8269-97c8e32cdb22 fwd="204.204.204.204" dyno=web.1 connect= service=30000ms status=503 bytes=0 protocol=http`,
		want: Line{At: "error", Code: "H12", Desc: "Request timeout", Method: "GET", Path: "/", Host: "example-app-1234567890ab.herokuapp.com",
			RequestID: "8601b555-6a83-4c12-8269-97c8e32cdb22", Fwd: "204.204.204.204", Dyno: "web.1",
			ConnectMS: -1, ServiceMS: 30000, Status: 503, Bytes: 0, Protocol: "http"},
	},
	{
		name: "H12 error-codes",
		line: `2010-10-06T21:51:37-07:00 heroku[router]: at=error code=H12 desc="Request timeout" method=GET path="/" host=myapp.herokuapp.com fwd=17.17.17.17 dyno=web.1 connect=6ms service=30001ms status=503 bytes=0`,
		want: Line{At: "error", Code: "H12", Desc: "Request timeout", Method: "GET", Path: "/", Host: "myapp.herokuapp.com",
			Fwd: "17.17.17.17", Dyno: "web.1", ConnectMS: 6, ServiceMS: 30001, Status: 503, Bytes: 0},
	},
	{
		name: "H10 error-codes",
		line: `2010-10-06T21:51:12-07:00 heroku[router]: at=error code=H10 desc="App crashed" method=GET path="/" host=myapp.herokuapp.com fwd=17.17.17.17 dyno= connect= service= status=503 bytes=`,
		want: Line{At: "error", Code: "H10", Desc: "App crashed", Method: "GET", Path: "/", Host: "myapp.herokuapp.com",
			Fwd: "17.17.17.17", ConnectMS: -1, ServiceMS: -1, Status: 503, Bytes: -1},
	},
	{
		name: "H10 real app 2022",
		line: `2022-04-12T15:27:32.877398+00:00 heroku[router]: at=error code=H10 desc="App crashed" method=GET path="/" host=scraper-papersdrop.herokuapp.com request_id=f189ac84-cfd8-4bec-9226-741250314389 fwd="157.51.25.187" dyno= connect= service= status=503 bytes= protocol=https`,
		want: Line{At: "error", Code: "H10", Desc: "App crashed", Method: "GET", Path: "/", Host: "scraper-papersdrop.herokuapp.com",
			RequestID: "f189ac84-cfd8-4bec-9226-741250314389", Fwd: "157.51.25.187", ConnectMS: -1, ServiceMS: -1, Status: 503, Bytes: -1, Protocol: "https"},
	},
	{
		name: "H27",
		line: `2010-10-06T21:51:37-07:00 heroku[router]: sock=client at=warning code=H27 desc="Client Request Interrupted" method=POST path="/submit/" host=myapp.herokuapp.com fwd=17.17.17.17 dyno=web.1 connect=1ms service=0ms status=499 bytes=0`,
		want: Line{Sock: "client", At: "warning", Code: "H27", Desc: "Client Request Interrupted", Method: "POST", Path: "/submit/", Host: "myapp.herokuapp.com",
			Fwd: "17.17.17.17", Dyno: "web.1", ConnectMS: 1, ServiceMS: 0, Status: 499, Bytes: 0},
	},
	{
		name: "H18",
		line: `2010-10-06T21:51:37-07:00 heroku[router]: sock=backend at=error code=H18 desc="Server Request Interrupted" method=GET path="/" host=myapp.herokuapp.com fwd=17.17.17.17 dyno=web.1 connect=1ms service=1ms status=503 bytes=0`,
		want: Line{Sock: "backend", At: "error", Code: "H18", Desc: "Server Request Interrupted", Method: "GET", Path: "/", Host: "myapp.herokuapp.com",
			Fwd: "17.17.17.17", Dyno: "web.1", ConnectMS: 1, ServiceMS: 1, Status: 503, Bytes: 0},
	},
}

func TestParseHerokuExamples(t *testing.T) {
	for _, tt := range herokuExamples {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRouter(tt.line)
			require.NoError(t, err)
			require.False(t, got.Time.IsZero())
			require.Equal(t, logfmtKeys(t, tt.line), got.Keys)
			got.Time, got.Keys = time.Time{}, nil
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseTimes(t *testing.T) {
	l, err := ParseRouter(herokuExamples[4].line)
	require.NoError(t, err)
	require.True(t, l.Time.Equal(time.Date(2010, 10, 7, 4, 51, 37, 0, time.UTC)), l.Time)
	l, err = ParseRouter(herokuExamples[2].line)
	require.NoError(t, err)
	require.Equal(t, 943253000, l.Time.Nanosecond())
}

// logfmtKeys decodes the message part of a line with the plain logfmt
// decoder: the keys "existing Heroku log tooling" would see.
func logfmtKeys(t *testing.T, line string) []string {
	t.Helper()
	e, err := ParseEntry(line)
	require.NoError(t, err)
	dec := logfmt.NewDecoder(strings.NewReader(e.Message))
	require.True(t, dec.ScanRecord())
	var keys []string
	for dec.ScanKeyval() {
		keys = append(keys, string(dec.Key()))
	}
	require.NoError(t, dec.Err())
	return keys
}

func TestParseEntryForms(t *testing.T) {
	tests := []struct {
		line string
		want Entry
		code string
	}{
		{"2026-11-27T03:47:20.123456+00:00 heroku[web.1]: State changed from up to starting",
			Entry{Source: "heroku", Process: "web.1", Message: "State changed from up to starting"}, ""},
		{"2026-11-27T03:47:20.123456+00:00 heroku[web.2]: Error R14 (Memory quota exceeded)",
			Entry{Source: "heroku", Process: "web.2", Message: "Error R14 (Memory quota exceeded)"}, "R14"},
		{"2026-11-27T03:47:20.123456+00:00 app[web.1]: listening on :5000",
			Entry{Source: "app", Process: "web.1", Message: "listening on :5000"}, ""},
		{"2026-11-27T03:47:20+00:00 app[web.1]:",
			Entry{Source: "app", Process: "web.1", Message: ""}, ""},
		{"83 <190>1 2026-11-27T03:47:20.123456+00:00 host app web.1 - listening on :5000",
			Entry{Source: "app", Process: "web.1", Message: "listening on :5000"}, ""},
		{"<45>1 2026-11-27T03:47:20+00:00 host heroku web.1 - Error R15 (Memory quota vastly exceeded)",
			Entry{Source: "heroku", Process: "web.1", Message: "Error R15 (Memory quota vastly exceeded)"}, "R15"},
		{herokuExamples[3].line, Entry{Source: "heroku", Process: "router"}, "H12"},
	}
	for _, tt := range tests {
		got, err := ParseEntry(tt.line)
		require.NoError(t, err, tt.line)
		require.Equal(t, tt.code, got.Code(), tt.line)
		if tt.want.Message == "" && tt.want.Process == "router" {
			require.True(t, got.IsRouter())
			continue
		}
		got.Time = time.Time{}
		require.Equal(t, tt.want, got)
	}
}

func TestParseErrors(t *testing.T) {
	bad := []string{
		"",
		"garbage",
		"2026-13-27T03:47:20+00:00 heroku[router]: at=info",
		"2026-11-27T03:47:20+00:00 heroku router: at=info",
		"2026-11-27T03:47:20+00:00 heroku[router]: method=GET",                  // no at=
		"2026-11-27T03:47:20+00:00 heroku[router]: at=info status=abc",          // bad number
		"2026-11-27T03:47:20+00:00 heroku[router]: at=info connect=5s",          // not ms
		"2026-11-27T03:47:20+00:00 heroku[router]: at=info desc=\"unterminated", // logfmt error
		"2026-11-27T03:47:20+00:00 heroku[web.1]: at=info",                      // not the router
		"<x>1 2026-11-27T03:47:20+00:00 host heroku router - at=info",
		"<158>2 2026-11-27T03:47:20+00:00 host heroku router - at=info",
	}
	for _, line := range bad {
		_, err := ParseRouter(line)
		require.Error(t, err, line)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	lines := []Line{
		{At: "info", Method: "POST", Path: "/v1/vouchers/ABC/redemption?x=1&y=a b", Host: "127.0.0.2:8080",
			RequestID: "req-1234567890abcdefghij", Fwd: "127.0.0.1", Dyno: "web.3", ConnectMS: 0, ServiceMS: 12,
			Status: 200, Bytes: 345, Protocol: "http1.1", TLS: "false"},
		{At: "error", Code: "H10", Desc: "App crashed", Method: "GET", Path: "/", Host: "h", RequestID: "r",
			Fwd: "1.2.3.4", ConnectMS: -1, ServiceMS: -1, Status: 503, Bytes: -1, Protocol: "http"},
		{Sock: "client", At: "warning", Code: "H27", Desc: "Client Request Interrupted", Method: "GET", Path: "/\"q\"\\\x01\u00e9",
			Host: "h", RequestID: "r", Fwd: "1.2.3.4", Dyno: "web.1", ConnectMS: 1, ServiceMS: 0, Status: 499, Bytes: 0, Protocol: "http1.1"},
	}
	for _, style := range []Style{Router20, Legacy} {
		for _, l := range lines {
			text := string(AppendEntry(nil, time.Date(2026, 11, 27, 3, 47, 20, 123456000, time.UTC), "heroku", "router", string(l.Append(nil, style))))
			got, err := ParseRouter(text)
			require.NoError(t, err, text)
			require.Equal(t, "2026-11-27T03:47:20.123456+00:00", got.Time.Format(TimeLayout))
			require.Equal(t, logfmtKeys(t, text), got.Keys)
			got.Time, got.Keys = time.Time{}, nil
			require.Equal(t, l, got, text)
		}
	}
	// Heroku's quoting conventions per router.
	ok := Line{At: "info", Method: "GET", Path: "/", Fwd: "1.2.3.4", ConnectMS: 0, ServiceMS: 0, Status: 200, Bytes: 0}
	require.Contains(t, string(ok.Append(nil, Router20)), `path="/" host= request_id= fwd=1.2.3.4 `)
	require.Contains(t, string(ok.Append(nil, Legacy)), `path=/ host= request_id= fwd="1.2.3.4" `)
	// Each style re-creates its documented example byte for byte.
	for _, i := range []int{0, 2} {
		e, err := ParseEntry(herokuExamples[i].line)
		require.NoError(t, err)
		l, err := ParseRouter(herokuExamples[i].line)
		require.NoError(t, err)
		style := Legacy
		if i == 2 {
			style = Router20
		}
		require.Equal(t, e.Message, string(l.Append(nil, style)))
	}
}

func TestScanFrames(t *testing.T) {
	f1 := "<158>1 2026-11-27T03:47:20+00:00 host heroku router - at=info method=GET path=\"/\" host=h dyno=web.1 connect=0ms service=1ms status=200 bytes=2"
	f2 := "<190>1 2026-11-27T03:47:21+00:00 host app web.1 - hello world"
	body := strconv.Itoa(len(f1)) + " " + f1 + strconv.Itoa(len(f2)) + " " + f2 + "\n"
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Split(ScanFrames)
	var got []string
	for sc.Scan() {
		got = append(got, sc.Text())
	}
	require.NoError(t, sc.Err())
	require.Equal(t, []string{f1, f2}, got)
	l, err := ParseRouter(got[0])
	require.NoError(t, err)
	require.Equal(t, 1, l.ServiceMS)

	for _, bad := range []string{"abc <1>1 x", "99 <1>1 short", "12345678901234567"} {
		sc := bufio.NewScanner(strings.NewReader(bad))
		sc.Split(ScanFrames)
		for sc.Scan() {
		}
		require.Error(t, sc.Err(), bad)
	}
}

func FuzzParseRouter(f *testing.F) {
	for _, e := range herokuExamples {
		f.Add(e.line)
	}
	f.Add("2026-11-27T03:47:20+00:00 app[web.1]: x")
	f.Fuzz(func(t *testing.T, line string) {
		l, err := ParseRouter(line)
		if err != nil {
			return
		}
		if y := l.Time.UTC().Year(); y < 1 || y > 9999 {
			return // not representable in the layout
		}
		// Whatever parses re-formats to a line that parses to the same
		// typed fields (key order and unknown keys aside).
		for _, style := range []Style{Router20, Legacy} {
			text := string(AppendEntry(nil, l.Time, "heroku", "router", string(l.Append(nil, style))))
			again, err := ParseRouter(text)
			require.NoError(t, err, text)
			want := l
			want.Keys, want.Extra, again.Keys, again.Extra = nil, nil, nil, nil
			require.True(t, want.Time.Truncate(time.Microsecond).Equal(again.Time), "%v %v", want.Time, again.Time)
			want.Time, again.Time = time.Time{}, time.Time{}
			normalize(&want)
			normalize(&again)
			require.Equal(t, want, again, text)
		}
	})
}

// normalize maps values that format can not keep apart: invalid UTF-8
// becomes U+FFFD, and an empty desc vanishes without a code.
func normalize(l *Line) {
	for _, s := range []*string{&l.Sock, &l.At, &l.Code, &l.Desc, &l.Method, &l.Path, &l.Host, &l.RequestID, &l.Fwd, &l.Dyno, &l.Protocol, &l.TLS, &l.TLSVersion} {
		*s = replaceInvalid(*s)
	}
	if l.Code == "" {
		l.Desc = ""
	}
}

// replaceInvalid replaces each byte of invalid UTF-8 with U+FFFD, as the
// formatter does.
func replaceInvalid(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // range yields U+FFFD for each invalid byte
	}
	return b.String()
}

func FuzzParseEntry(f *testing.F) {
	for _, e := range herokuExamples {
		f.Add(e.line)
	}
	f.Add("<45>1 2026-11-27T03:47:20+00:00 host heroku web.1 - Error R15 (Memory quota vastly exceeded)")
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseEntry(line)
		if err != nil {
			return
		}
		_ = e.Code()
	})
}

func FuzzScanFrames(f *testing.F) {
	f.Add([]byte("5 hello3 abc\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		sc.Split(ScanFrames)
		total := 0
		for sc.Scan() {
			total += len(sc.Bytes())
		}
		require.LessOrEqual(t, total, len(data))
	})
}
