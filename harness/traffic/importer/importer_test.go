package importer

import (
	"bytes"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// samples is fixtures/import-samples, found from this file.
func samples(t testing.TB, name string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "fixtures", "import-samples", name)
}

func ops(reqs []trace.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Op)
	}
	return out
}

func TestGoReplaySample(t *testing.T) {
	reqs, err := File(GoReplay, samples(t, "checkout.gor"), Options{})
	require.NoError(t, err)
	// Five requests (the response payload is skipped), sorted by time.
	require.Equal(t, []string{history.Validate, history.Redeem, history.Get, history.Export, history.Redeem}, ops(reqs))
	require.Equal(t, []float64{0, 1.5, 2.5, 602.5, 602.75}, offsets(reqs))
	r := reqs[1]
	require.Equal(t, "/v1/vouchers/SAVE-0001/redemption", r.Path)
	require.Equal(t, "SAVE-0001", r.Voucher)
	require.Equal(t, "cust-000042", r.Customer)
	require.EqualValues(t, 6400, r.Amount)
	require.Equal(t, "gor-k1", r.Key)
	require.Equal(t, "10.1.2.3", r.Client)
	require.Equal(t, reqs[0].Client, r.Client, "a customer's flow stays on its client")
	require.Equal(t, "/v1/vouchers/export?format=jsonl", reqs[3].Path)
	require.NotContains(t, r.Headers, "Content-Length")
	require.NotContains(t, r.Headers, "Host")

	// Capping gaps: the ten idle minutes shrink to 5 s.
	capped, err := File(GoReplay, samples(t, "checkout.gor"), Options{MaxGap: 5 * time.Second})
	require.NoError(t, err)
	require.Equal(t, []float64{0, 1.5, 2.5, 7.5, 7.75}, offsets(capped))
}

func offsets(reqs []trace.Request) []float64 {
	var out []float64
	for _, r := range reqs {
		out = append(out, r.At)
	}
	return out
}

func TestHARSample(t *testing.T) {
	reqs, err := File(HAR, samples(t, "checkout.har"), Options{})
	require.NoError(t, err)
	require.Equal(t, []string{history.Validate, history.Redeem, history.List}, ops(reqs))
	require.Equal(t, []float64{0, 1.25, 2}, offsets(reqs))
	r := reqs[1]
	require.Equal(t, "GIFT-00007", r.Voucher)
	require.Equal(t, "cust-000007", r.Customer)
	require.Equal(t, "har-k1", r.Key)
	require.Equal(t, "conn-7", r.Client)
	require.Equal(t, "/v1/redemptions?voucher=GIFT-00007", reqs[2].Path)
	for k := range r.Headers {
		require.False(t, strings.HasPrefix(k, ":"), "pseudo-header %s dropped", k)
	}
	b, err := r.BodyBytes()
	require.NoError(t, err)
	require.JSONEq(t, `{"customer":{"source_id":"cust-000007"},"order":{"amount":1500}}`, string(b))
}

func TestVegetaSamples(t *testing.T) {
	reqs, err := File(Vegeta, samples(t, "targets.http"), Options{Rate: 10})
	require.NoError(t, err)
	require.Equal(t, []string{history.Validate, history.Redeem, history.Get}, ops(reqs))
	require.Equal(t, []float64{0, 0.1, 0.2}, offsets(reqs))
	require.Equal(t, "veg-k1", reqs[1].Key)
	require.Equal(t, "cust-000100", reqs[1].Customer, "the @file body was read")
	require.Equal(t, "checkout", reqs[2].Headers["X-App-Id"])

	reqs, err = File(Vegeta, samples(t, "targets.jsonl"), Options{})
	require.NoError(t, err)
	require.Equal(t, []string{history.Redeem, history.Get}, ops(reqs))
	require.Equal(t, []float64{0, 0.02}, offsets(reqs))
	require.Equal(t, "cust-000200", reqs[0].Customer)
	require.Equal(t, "veg-j1", reqs[0].Key)
}

func TestMalformedSamples(t *testing.T) {
	for _, tc := range []struct {
		format, file, want string
	}{
		{GoReplay, "bad.gor", "bad.gor:13: goreplay: header: timestamp \"yesterday\""},
		{HAR, "bad.har", "bad.har:57: har entry 2: startedDateTime"},
		{Vegeta, "bad-targets.http", "bad-targets.http:5: vegeta target: bad header"},
		{Vegeta, "bad-targets.jsonl", "bad-targets.jsonl:2: vegeta json target: url: missing"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := File(tc.format, samples(t, tc.file), Options{})
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, format, input, want string
	}{
		{"har syntax", HAR, "{\"log\": {\n\"entries\": [\n{,}]}}", "x:3: har entry 1:"},
		{"har syntax outside entries", HAR, "{\"log\":\n\n {\"version\" 1}}", "x:3: har:"},
		{"har not har", HAR, `{"foo": 1}`, "x:1: har: no log.entries"},
		{"har truncated", HAR, "{\"log\": {\"entries\": [", "x:1: har: unexpected end"},
		{"gor no header", GoReplay, "1 abc\nGET / HTTP/1.1\r\n\r\n\n🐵🙈🙉\n", "x:1: goreplay: header"},
		{"gor bad http", GoReplay, "1 a 1 0\nNOT HTTP\n🐵🙈🙉\n", "x:1: goreplay: request a:"},
		{"gor bad type", GoReplay, "\n9 a 1 0\nGET / HTTP/1.1\r\n\r\n\n🐵🙈🙉\n", "x:2: goreplay: header: type"},
		{"vegeta headers first", Vegeta, "X-A: b\n", "x:1: vegeta target: want"},
		{"vegeta missing body", Vegeta, "GET http://h/a\n@/nonexistent/body\n", "x:2: vegeta target: body"},
		{"vegeta json", Vegeta, "{\"method\":\"GET\",\"url\":\"http://h/\"}\n{nope\n", "x:2: vegeta json target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			switch tc.format {
			case HAR:
				_, err = ReadHAR(strings.NewReader(tc.input), "x", Options{})
			case GoReplay:
				_, err = ReadGoReplay(strings.NewReader(tc.input), "x", Options{})
			case Vegeta:
				_, err = ReadVegeta(strings.NewReader(tc.input), "x", Options{})
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := File("curl", samples(t, "targets.http"), Options{})
	require.ErrorContains(t, err, "format")
}

// The importers never panic, and what they accept is a valid trace.
func fuzzImport(f *testing.F, read func([]byte) ([]trace.Request, error)) {
	f.Fuzz(func(t *testing.T, data []byte) {
		reqs, err := read(data)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w, err := trace.NewWriter(&buf, "fuzz", trace.Meta{}, false)
		require.NoError(t, err)
		for _, r := range reqs {
			require.NoError(t, w.Write(r))
		}
	})
}

func FuzzGoReplay(f *testing.F) {
	f.Add([]byte("1 a 1000 0\nGET /v1/vouchers/A HTTP/1.1\r\nHost: h\r\n\r\n\n🐵🙈🙉\n2 a 2000 0\nHTTP/1.1 200 OK\r\n\r\n\n🐵🙈🙉\n"))
	f.Add([]byte("1 b 5 0\nPOST /v1/vouchers/A/redemption HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}\n🐵🙈🙉\n"))
	fuzzImport(f, func(b []byte) ([]trace.Request, error) { return ReadGoReplay(bytes.NewReader(b), "fuzz", Options{}) })
}

func FuzzHAR(f *testing.F) {
	f.Add([]byte(`{"log":{"entries":[{"startedDateTime":"2024-01-01T00:00:00Z","request":{"method":"GET","url":"http://h/a","headers":[]}}]}}`))
	fuzzImport(f, func(b []byte) ([]trace.Request, error) { return ReadHAR(bytes.NewReader(b), "fuzz", Options{}) })
}

func FuzzVegeta(f *testing.F) {
	f.Add([]byte("GET http://h/a\nX-A: b\n\nPOST http://h/b\n"))
	f.Add([]byte(`{"method":"GET","url":"http://h/a","header":{"X":["y"]}}`))
	fuzzImport(f, func(b []byte) ([]trace.Request, error) { return ReadVegeta(bytes.NewReader(b), "fuzz", Options{}) })
}
