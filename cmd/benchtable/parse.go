package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Metric is one value a benchmark reported, with its unit (ns/op, B/op,
// or a custom one from b.ReportMetric such as replay/vegeta).
type Metric struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Bench is one benchmark result line.
type Bench struct {
	Package    string   `json:"package"`
	Name       string   `json:"name"`
	Procs      int      `json:"procs"`
	Iterations int64    `json:"iterations"`
	Metrics    []Metric `json:"metrics"`
}

// Metric returns the value of unit, if the benchmark reported it.
func (b Bench) Metric(unit string) (float64, bool) {
	for _, m := range b.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// Run is everything read from `go test -bench` output.
type Run struct {
	GOOS    string   `json:"goos"`
	GOARCH  string   `json:"goarch"`
	CPU     string   `json:"cpu"`
	Benches []Bench  `json:"benches"`
	Failed  []string `json:"failed"` // packages whose tests or benchmarks failed
}

// parse reads `go test -bench` output (several packages, in any order),
// copying every line to echo when it is not nil.
func parse(r io.Reader, echo io.Writer) (*Run, error) {
	run := &Run{Benches: []Bench{}, Failed: []string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	pkg := ""
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if echo != nil {
			fmt.Fprintln(echo, line)
		}
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimSpace(strings.TrimPrefix(line, "pkg: "))
		case strings.HasPrefix(line, "goos: "):
			run.GOOS = strings.TrimSpace(strings.TrimPrefix(line, "goos: "))
		case strings.HasPrefix(line, "goarch: "):
			run.GOARCH = strings.TrimSpace(strings.TrimPrefix(line, "goarch: "))
		case strings.HasPrefix(line, "cpu: "):
			run.CPU = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
		case strings.HasPrefix(line, "FAIL\t") || strings.HasPrefix(line, "FAIL "):
			f := strings.Fields(line)
			if len(f) >= 2 {
				run.Failed = append(run.Failed, f[1])
			}
		case strings.HasPrefix(line, "Benchmark"):
			b, ok, err := parseBenchLine(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			if ok {
				b.Package = pkg
				run.Benches = append(run.Benches, b)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n, err)
	}
	return run, nil
}

// parseBenchLine reads "BenchmarkX-2  10  123 ns/op  4.5 unit ...". ok is
// false for lines that only start like one (a benchmark's log output, or
// its name printed alone before a slow first result).
func parseBenchLine(line string) (Bench, bool, error) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return Bench{}, false, nil
	}
	iters, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return Bench{}, false, nil
	}
	b := Bench{Name: f[0], Procs: 1, Iterations: iters}
	if i := strings.LastIndexByte(f[0], '-'); i > 0 {
		if p, err := strconv.Atoi(f[0][i+1:]); err == nil {
			b.Name, b.Procs = f[0][:i], p
		}
	}
	b.Name = strings.TrimPrefix(b.Name, "Benchmark")
	for i := 2; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Bench{}, false, fmt.Errorf("benchmark %s: value %q of %s: %w", b.Name, f[i], f[i+1], err)
		}
		b.Metrics = append(b.Metrics, Metric{Value: v, Unit: f[i+1]})
	}
	return b, true, nil
}
