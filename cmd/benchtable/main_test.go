package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Output shaped as `go test -bench` prints it for several packages,
// including a failing one and a benchmark's own log lines.
const sample = `goos: linux
goarch: amd64
pkg: github.com/cutover/cutover/harness/stack/embedded
cpu: AMD EPYC 7B13
BenchmarkUp-2   	       1	2412345678 ns/op	         2.41 s/up
PASS
ok  	github.com/cutover/cutover/harness/stack/embedded	3.1s
goos: linux
goarch: amd64
pkg: github.com/cutover/cutover/harness/internal/replay
cpu: AMD EPYC 7B13
BenchmarkReplayVsVegeta-2   	       1	5000000000 ns/op	  4850 replay_req/s	  5100 vegeta_req/s	 0.951 replay/vegeta
BenchmarkReplayMemory-2
    bench_test.go:200: replaying 5000 req/s for 10s
BenchmarkReplayMemory-2   	       1	10000000000 ns/op	   312.5 MB-rss	  1024 B/op	  12 allocs/op
PASS
ok  	github.com/cutover/cutover/harness/internal/replay	16.2s
pkg: github.com/cutover/cutover/harness/report
BenchmarkMannWhitney-2   	    3021	    401234 ns/op	 4.98e+08 samples/s
pkg: github.com/cutover/cutover/harness/platform/heroku
BenchmarkRouterOverhead-2   	       1	         1.231 direct_p50_ms	         1.096 p50/direct	         2.126 p99/direct
pkg: github.com/cutover/cutover/harness/platform/local
BenchmarkLoadBalancerOverhead-2   	       1	        55.00 direct-p50-µs	         1.767 p50/direct	         1.499 p99/direct
--- FAIL: BenchmarkBroken
FAIL	github.com/cutover/cutover/harness/internal/oracle	0.5s
`

func TestParse(t *testing.T) {
	r, err := parse(strings.NewReader(sample), nil)
	require.NoError(t, err)
	require.Equal(t, "linux", r.GOOS)
	require.Equal(t, "AMD EPYC 7B13", r.CPU)
	require.Len(t, r.Benches, 6)
	require.Equal(t, Bench{Package: "github.com/cutover/cutover/harness/stack/embedded", Name: "Up", Procs: 2, Iterations: 1,
		Metrics: []Metric{{2412345678, "ns/op"}, {2.41, "s/up"}}}, r.Benches[0])
	v, ok := r.Benches[1].Metric("replay/vegeta")
	require.True(t, ok)
	require.Equal(t, 0.951, v)
	require.Equal(t, "ReplayMemory", r.Benches[2].Name, "the name printed alone before a slow result is skipped")
	require.Equal(t, []string{"github.com/cutover/cutover/harness/internal/oracle"}, r.Failed)

	_, err = parse(strings.NewReader("BenchmarkX-2  1  abc ns/op\n"), nil)
	require.ErrorContains(t, err, `line 1: benchmark X: value "abc" of ns/op`)
}

func TestRunPrintsTheTableAndWritesResults(t *testing.T) {
	in := filepath.Join(t.TempDir(), "bench.txt")
	require.NoError(t, os.WriteFile(in, []byte(sample), 0o644))
	out := filepath.Join(t.TempDir(), "bench")
	var stdout bytes.Buffer
	err := run(in, out, false, nil, &stdout)
	require.ErrorContains(t, err, "benchmarks failed in github.com/cutover/cutover/harness/internal/oracle")

	text := stdout.String()
	require.True(t, strings.HasPrefix(text, "goos: linux"), "the benchmark output passes through first")
	require.Contains(t, text, "cutover benchmarks — linux/amd64")
	require.Regexp(t, `harness/stack/embedded\s+Up\s+1\s+2\.41\d*s\s+-\s+-\s+2\.41 s/up`, text)
	require.Regexp(t, `embedded stack up, all services healthy \(s\)\s+≤ 3\s+2\.41\s+met`, text)
	require.Regexp(t, `replayer rate / bare vegeta rate\s+≥ 0\.9\s+0\.951\s+met`, text)
	require.Regexp(t, `harness RSS replaying 5,000 req/s \(MB\)\s+≤ 300\s+312\s+MISSED`, text)
	require.Regexp(t, `docker stack up with local images \(s\)\s+≤ 20\s+-\s+not measured`, text)
	// Every benchmark reporting a target's unit gets its own row.
	require.Regexp(t, `harness path median / direct call median\s+≤ 1\.1\s+1\.1\s+met\s+harness/platform/heroku RouterOverhead\n`, text)
	require.Regexp(t, `harness path median / direct call median\s+≤ 1\.1\s+1\.77\s+MISSED\s+harness/platform/local LoadBalancerOverhead\n`, text)
	require.Contains(t, text, "FAILED: github.com/cutover/cutover/harness/internal/oracle")

	latest, err := os.ReadFile(filepath.Join(out, "latest.txt"))
	require.NoError(t, err)
	require.Contains(t, text, string(latest))
	js, err := os.ReadFile(filepath.Join(out, "latest.json"))
	require.NoError(t, err)
	var doc struct {
		Machine machine        `json:"machine"`
		Benches []Bench        `json:"benches"`
		Targets []targetResult `json:"targets"`
	}
	require.NoError(t, json.Unmarshal(js, &doc))
	require.Len(t, doc.Benches, 6)
	require.Len(t, doc.Targets, len(targets)+1, "two benchmarks report p50/direct")
	require.Equal(t, "AMD EPYC 7B13", doc.Machine.CPU)
	raws, _ := filepath.Glob(filepath.Join(out, "raw-*.txt"))
	require.Len(t, raws, 1)
	raw, err := os.ReadFile(raws[0])
	require.NoError(t, err)
	require.Equal(t, sample, string(raw))
}

func TestRunNeedsBenchmarks(t *testing.T) {
	var stdout bytes.Buffer
	err := run("", "", true, strings.NewReader("PASS\nok  \tx\t0.1s\n"), &stdout)
	require.ErrorContains(t, err, "no benchmark results")
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkX-2 1 2 ns/op 3 x/y\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := parse(strings.NewReader(in), nil)
		if err != nil {
			return
		}
		for _, b := range r.Benches {
			if len(b.Metrics) == 0 {
				t.Fatalf("a benchmark line has figures: %+v", b)
			}
		}
	})
}
