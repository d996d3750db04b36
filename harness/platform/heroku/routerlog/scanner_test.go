package routerlog

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func scanAll(log, name string) ([]Line, error) {
	sc := NewScanner(strings.NewReader(log), name)
	var out []Line
	for sc.Scan() {
		out = append(out, sc.Line())
	}
	return out, sc.Err()
}

// A mixed log as a results folder keeps it: the router's lines in both
// forms among dyno manager, app and API lines.
func TestScannerReadsOnlyRouterLines(t *testing.T) {
	log := strings.Join([]string{
		herokuExamples[0].line, // success, heroku logs form
		"2024-01-01T00:00:00+00:00 heroku[web.1]: State changed from up to starting",
		herokuExamples[1].line, // success, drain form
		"",
		"2024-01-01T00:00:00+00:00 app[web.1]: GET /v1/vouchers 200",
		herokuExamples[4].line, // H12
		"2024-01-01T00:00:00+00:00 app[api]: Release v2 created",
		"not a log entry at all",
		herokuExamples[5].line, // H10, empty fields
		herokuExamples[7].line, // H27, sock first
	}, "\n") + "\n"
	lines, err := scanAll(log, "router.log")
	require.NoError(t, err)
	type seen struct {
		time      time.Time
		at, code  string
		status    int
		dyno      string
		method    string
		path      string
		requestID string
	}
	var got []seen
	for _, l := range lines {
		got = append(got, seen{l.Time.UTC(), l.At, l.Code, l.Status, l.Dyno, l.Method, l.Path, l.RequestID})
	}
	require.Equal(t, []seen{
		{time.Date(2012, 10, 11, 3, 47, 20, 0, time.UTC), "info", "", 200, "web.1", "GET", "/", "8601b555-6a83-4c12-8269-97c8e32cdb22"},
		{time.Date(2012, 10, 11, 3, 47, 20, 0, time.UTC), "info", "", 200, "web.1", "GET", "/", "8601b555-6a83-4c12-8269-97c8e32cdb22"},
		{time.Date(2010, 10, 7, 4, 51, 37, 0, time.UTC), "error", "H12", 503, "web.1", "GET", "/", ""},
		{time.Date(2010, 10, 7, 4, 51, 12, 0, time.UTC), "error", "H10", 503, "", "GET", "/", ""},
		{time.Date(2010, 10, 7, 4, 51, 37, 0, time.UTC), "warning", "H27", 499, "web.1", "POST", "/submit/", ""},
	}, got)
}

func TestScannerNamesTheLine(t *testing.T) {
	log := "2024-01-01T00:00:00+00:00 heroku[web.1]: Cycling\n" +
		"2024-01-01T00:00:01+00:00 heroku[router]: at=info status=200\n" +
		"\n" +
		"yesterday heroku[router]: at=error code=H12 status=503\n"
	_, err := scanAll(log, "router.log")
	require.ErrorContains(t, err, "router.log:4:")

	lines, err := scanAll(log[:strings.LastIndex(log, "yesterday")], "router.log")
	require.NoError(t, err)
	require.Len(t, lines, 1)
	require.Equal(t, 200, lines[0].Status)

	_, err = scanAll("2024-01-01T00:00:01Z heroku[router]: at=info status=abc\n", "r.log")
	require.ErrorContains(t, err, `r.log:1: parse router line: field status="abc"`)

	_, err = scanAll("264 <158>1 yesterday host heroku router - at=info\n", "d.log")
	require.ErrorContains(t, err, "d.log:1:")

	// The scan stops at the first error.
	sc := NewScanner(strings.NewReader("2024-01-01T00:00:01Z heroku[router]: at=info status=x\n"+herokuExamples[0].line+"\n"), "r.log")
	require.False(t, sc.Scan())
	require.False(t, sc.Scan())
	require.Error(t, sc.Err())
}

func FuzzScanner(f *testing.F) {
	f.Add(herokuExamples[0].line + "\n" + herokuExamples[1].line + "\n")
	f.Add("2024-01-01T00:00:00+00:00 heroku[web.1]: Cycling\n\nyesterday heroku[router]: at=error\n")
	f.Add("2010-10-06T21:51:12-07:00 heroku[router]: at=error code=H10 desc=\"App crashed\" dyno= status=503 bytes=\n")
	f.Fuzz(func(t *testing.T, log string) {
		lines, err := scanAll(log, "fuzz.log")
		if err != nil {
			require.Contains(t, err.Error(), "fuzz.log:")
		}
		for _, l := range lines {
			require.False(t, l.Time.IsZero(), "a router line has a time")
			require.NotEmpty(t, l.At, "a router line has at=")
		}
	})
}
