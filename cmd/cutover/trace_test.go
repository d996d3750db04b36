package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/traffic/trace"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := execute(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestTraceGenIsReproducible(t *testing.T) {
	// The same flags and file names in two folders give the same bytes.
	a, b := filepath.Join(t.TempDir(), "t.jsonl.gz"), filepath.Join(t.TempDir(), "t.jsonl.gz")
	for _, out := range []string{a, b} {
		code, stdout, stderr := runCLI("trace", "gen", "--seed", "3", "--duration", "1m", "-o", out)
		require.Equal(t, exitPass, code, stderr)
		require.Contains(t, stdout, "requests")
	}
	for _, name := range []string{"t.jsonl.gz", "t.jsonl.gz.meta.json", "t.seed.jsonl"} {
		ab, err := os.ReadFile(filepath.Join(filepath.Dir(a), name))
		require.NoError(t, err)
		bb, err := os.ReadFile(filepath.Join(filepath.Dir(b), name))
		require.NoError(t, err)
		require.True(t, bytes.Equal(ab, bb), "%s differs", name)
	}
	c := filepath.Join(t.TempDir(), "t.jsonl.gz")
	code, _, stderr := runCLI("trace", "gen", "--seed", "4", "--duration", "1m", "-o", c)
	require.Equal(t, exitPass, code, stderr)
	ab, _ := os.ReadFile(a)
	cb, _ := os.ReadFile(c)
	require.False(t, bytes.Equal(ab, cb), "another seed, another trace")

	meta, ok, err := trace.ReadMeta(a)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "go run ./cmd/cutover trace gen --seed 3 --duration 1m0s", meta.Command)
	require.Positive(t, meta.Requests)

	code, stdout, stderr := runCLI("trace", "stats", a)
	require.Equal(t, exitPass, code, stderr)
	for _, want := range []string{"requests", "rate (req/s)", "redeem", "validate", "top voucher", "source    synth"} {
		require.Contains(t, stdout, want)
	}
	code, stdout, _ = runCLI("trace", "stats", "--json", a)
	require.Equal(t, exitPass, code)
	require.Contains(t, stdout, `"top_vouchers"`)
}

func TestTraceBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "gen", "--start-hour", "30", "-o", filepath.Join(dir, "x.jsonl")}, "start hour"},
		{[]string{"trace", "gen"}, "-o"},
		{[]string{"trace", "stats", filepath.Join(dir, "missing.jsonl")}, "no such file"},
		{[]string{"trace", "import", "--from", "goreplay", samplePath("bad.gor"), "-o", filepath.Join(dir, "y.jsonl")}, "bad.gor:13:"},
		{[]string{"trace", "import", "--from", "pcap", samplePath("checkout.gor"), "-o", filepath.Join(dir, "y.jsonl")}, "format"},
		{[]string{"trace", "record", "--listen", "127.0.0.1:0"}, "required"},
	} {
		code, _, stderr := runCLI(tc.args...)
		require.Equal(t, exitInput, code, "%v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.want)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte(`{"at":0,"client":"c","op":"get","method":"GET","path":"/a"}`+"\n"+`{"at":"soon"}`+"\n"), 0o644))
	code, _, stderr := runCLI("trace", "stats", bad)
	require.Equal(t, exitInput, code)
	require.Contains(t, stderr, "bad.jsonl:2:")
}

func samplePath(name string) string {
	return filepath.Join("..", "..", "fixtures", "import-samples", name)
}

func TestTraceImport(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		from, file string
		n          int
	}{
		{"goreplay", "checkout.gor", 5}, {"har", "checkout.har", 3}, {"vegeta", "targets.http", 3}, {"vegeta", "targets.jsonl", 2},
	} {
		out := filepath.Join(dir, tc.file+".jsonl.gz")
		code, stdout, stderr := runCLI("trace", "import", "--from", tc.from, "--max-gap", "5s", samplePath(tc.file), "-o", out)
		require.Equal(t, exitPass, code, stderr)
		require.Contains(t, stdout, "wrote")
		_, reqs, err := trace.ReadAll(out)
		require.NoError(t, err)
		require.Len(t, reqs, tc.n, tc.file)
		require.LessOrEqual(t, reqs[len(reqs)-1].At, 10.0, "gaps capped")
	}
}

func TestTraceRecord(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"id":"r_1"}`))
	}))
	defer upstream.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	out := filepath.Join(t.TempDir(), "rec.jsonl.gz")
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- execute([]string{"trace", "record", "--listen", addr, "--upstream", upstream.URL, "-o", out, "--duration", "1500ms"}, io.Discard, &stderr)
	}()
	var resp *http.Response
	for i := 0; i < 50; i++ {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/vouchers/SAVE-1", nil)
		req.Header.Set("X-App-Token", "very-secret-token")
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, `{"id":"r_1"}`, string(body), "forwarded")
	require.Equal(t, exitPass, <-done, stderr.String())
	_, reqs, err := trace.ReadAll(out)
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	require.Equal(t, "get", reqs[0].Op)
	require.Equal(t, "REDACTED", reqs[0].Headers["X-App-Token"])
	require.Contains(t, stderr.String(), "recorded 1 requests")
}

// TestShippedTraceRegenerates checks the promise of fixtures/traces: the
// command in the trace's metadata regenerates it byte for byte.
func TestShippedTraceRegenerates(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerates the 10-minute default trace (a few seconds)")
	}
	shipped := filepath.Join("..", "..", "fixtures", "traces", "checkout-peak.jsonl.gz")
	meta, ok, err := trace.ReadMeta(shipped)
	require.NoError(t, err)
	require.True(t, ok)
	require.GreaterOrEqual(t, meta.Requests, int64(50_000))
	require.GreaterOrEqual(t, meta.Duration, 590.0)
	const prefix = "go run ./cmd/cutover "
	require.True(t, strings.HasPrefix(meta.Command, prefix), meta.Command)
	args := strings.Fields(strings.TrimPrefix(meta.Command, prefix))
	// Same flags and file names, in another folder.
	dir := t.TempDir()
	out := filepath.Join(dir, filepath.Base(shipped))
	args = append(args, "-o", out)
	code, _, stderr := runCLI(args...)
	require.Equal(t, exitPass, code, stderr)
	want, err := os.ReadFile(shipped)
	require.NoError(t, err)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "fixtures/traces/checkout-peak.jsonl.gz is not what its command generates")
	wantSeed, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "traces", meta.SeedData))
	require.NoError(t, err)
	gotSeed, err := os.ReadFile(filepath.Join(dir, meta.SeedData))
	require.NoError(t, err)
	require.True(t, bytes.Equal(wantSeed, gotSeed), "the seed data is not what the command generates")
}
