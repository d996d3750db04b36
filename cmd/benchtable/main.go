// Command benchtable reads the output of `go test -bench` for all packages
// (on standard input, or -in FILE), passes it through as it comes, and then
// prints one table: every benchmark with its figures, and the speed and size
// targets of DESIGN.md with whether they were met. It writes the table, the
// figures as JSON and the raw output to results/bench/ (or -out DIR), so
// that the README can quote them with the machine they were measured on.
//
//	go test -run '^$' -bench . -benchtime 1x ./... | go run ./cmd/benchtable
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cutover/cutover/harness/report"
)

// Target is one figure DESIGN.md promises, found by the unit a benchmark
// reports it in (and, when several packages use one unit, the package).
type Target struct {
	Name    string
	Unit    string
	Package string // suffix of the package path; empty matches any
	Max     float64
	Min     float64
}

// targets are the speed and size targets of DESIGN.md. A benchmark meets
// one by reporting the unit with b.ReportMetric.
var targets = []Target{
	{Name: "embedded stack up, all services healthy (s)", Unit: "s/up", Package: "harness/stack/embedded", Max: 3},
	{Name: "docker stack up with local images (s)", Unit: "s/up", Package: "harness/stack/docker", Max: 20},
	{Name: "harness path median / direct call median", Unit: "p50/direct", Max: 1.10},
	{Name: "replayer rate / bare vegeta rate", Unit: "replay/vegeta", Min: 0.90},
	{Name: "harness RSS replaying 5,000 req/s (MB)", Unit: "MB-rss", Max: 300},
	{Name: "oracle: 1M-operation check / one scan of it", Unit: "x-baseline", Package: "harness/oracle"},
}

func main() {
	in := flag.String("in", "", "read this file instead of standard input")
	out := flag.String("out", filepath.Join("results", "bench"), "folder to write the table, JSON and raw output to")
	quiet := flag.Bool("quiet", false, "do not pass the benchmark output through")
	flag.Parse()
	if err := run(*in, *out, *quiet, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(inPath, outDir string, quiet bool, stdin io.Reader, stdout io.Writer) error {
	src := stdin
	if inPath != "" {
		f, err := os.Open(inPath)
		if err != nil {
			return fmt.Errorf("read benchmarks: %w", err)
		}
		defer f.Close()
		src = f
	}
	var raw bytes.Buffer
	echo := io.Writer(&raw)
	if !quiet {
		echo = io.MultiWriter(&raw, stdout)
	}
	r, err := parse(src, echo)
	if err != nil {
		return fmt.Errorf("read benchmarks: %w", err)
	}
	m := currentMachine(r)
	var table bytes.Buffer
	writeTable(&table, r, m)
	fmt.Fprint(stdout, "\n"+table.String())

	if outDir != "" {
		stamp := time.Now().UTC().Format("20060102T150405Z")
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
		js, err := json.MarshalIndent(struct {
			Machine machine `json:"machine"`
			*Run
			Targets []targetResult `json:"targets"`
		}{m, r, checkTargets(r)}, "", "  ")
		if err != nil {
			return fmt.Errorf("encode results: %w", err)
		}
		files := map[string][]byte{
			"bench-" + stamp + ".txt":  table.Bytes(),
			"bench-" + stamp + ".json": append(js, '\n'),
			"raw-" + stamp + ".txt":    raw.Bytes(),
			"latest.txt":               table.Bytes(),
			"latest.json":              append(js, '\n'),
		}
		for _, name := range sortedNames(files) {
			if err := writeAtomic(filepath.Join(outDir, name), files[name]); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "written to %s (bench-%s.*, latest.*)\n", outDir, stamp)
	}
	if len(r.Failed) > 0 {
		return fmt.Errorf("benchmarks failed in %s", strings.Join(r.Failed, ", "))
	}
	if len(r.Benches) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	return nil
}

type machine struct {
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	MemoryMB int64  `json:"memory_mb"`
	Go       string `json:"go"`
}

func currentMachine(r *Run) machine {
	m := machine{OS: r.GOOS, Arch: r.GOARCH, CPU: r.CPU, Cores: runtime.NumCPU(), Go: runtime.Version()}
	if m.OS == "" {
		m.OS, m.Arch = runtime.GOOS, runtime.GOARCH
	}
	_, m.MemoryMB = report.MachineInfo()
	return m
}

type targetResult struct {
	Name   string   `json:"name"`
	Bound  string   `json:"bound"`
	Value  *float64 `json:"value"`
	Bench  string   `json:"bench,omitempty"`
	Status string   `json:"status"` // met, missed, not measured, measured
}

// checkTargets gives one row per target and benchmark that reports its
// unit (several benchmarks may measure parts of one target, as the router's
// and the load balancer's overhead do), or one "not measured" row.
func checkTargets(r *Run) []targetResult {
	var out []targetResult
	for _, t := range targets {
		bound := "—"
		switch {
		case t.Max > 0:
			bound = "≤ " + fmtValue(t.Max)
		case t.Min > 0:
			bound = "≥ " + fmtValue(t.Min)
		}
		measured := false
		for _, b := range r.Benches {
			v, ok := b.Metric(t.Unit)
			if !ok || (t.Package != "" && !strings.HasSuffix(b.Package, t.Package)) {
				continue
			}
			tr := targetResult{Name: t.Name, Bound: bound, Value: &v, Bench: shortPkg(b.Package) + " " + b.Name}
			switch {
			case t.Max > 0 && v > t.Max, t.Min > 0 && v < t.Min:
				tr.Status = "MISSED"
			case t.Max > 0 || t.Min > 0:
				tr.Status = "met"
			default:
				tr.Status = "measured"
			}
			out = append(out, tr)
			measured = true
		}
		if !measured {
			out = append(out, targetResult{Name: t.Name, Bound: bound, Status: "not measured"})
		}
	}
	return out
}

func writeTable(w io.Writer, r *Run, m machine) {
	fmt.Fprintf(w, "cutover benchmarks — %s/%s, %d cores, %s, %d MB memory, %s\n\n", m.OS, m.Arch, m.Cores, orUnknown(m.CPU), m.MemoryMB, m.Go)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "package\tbenchmark\tn\ttime/op\tB/op\tallocs/op\tother figures")
	benches := append([]Bench(nil), r.Benches...)
	sort.SliceStable(benches, func(i, j int) bool { return benches[i].Package < benches[j].Package })
	for _, b := range benches {
		var other []string
		cols := map[string]string{"ns/op": "-", "B/op": "-", "allocs/op": "-"}
		for _, mt := range b.Metrics {
			if _, std := cols[mt.Unit]; std {
				cols[mt.Unit] = fmtValue(mt.Value)
				continue
			}
			other = append(other, fmtValue(mt.Value)+" "+mt.Unit)
		}
		if ns, ok := b.Metric("ns/op"); ok {
			cols["ns/op"] = time.Duration(ns).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", shortPkg(b.Package), b.Name, b.Iterations, cols["ns/op"], cols["B/op"], cols["allocs/op"], strings.Join(other, ", "))
	}
	_ = tw.Flush() // w is the caller's buffer

	fmt.Fprintln(w, "\ntargets (DESIGN.md)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tbound\tmeasured\tstatus\tbenchmark")
	for _, t := range checkTargets(r) {
		v := "-"
		if t.Value != nil {
			v = fmtValue(*t.Value)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Bound, v, t.Status, t.Bench)
	}
	_ = tw.Flush()
	if len(r.Failed) > 0 {
		fmt.Fprintf(w, "\nFAILED: %s\n", strings.Join(r.Failed, ", "))
	}
}

func shortPkg(p string) string { return strings.TrimPrefix(p, "github.com/cutover/cutover/") }

func orUnknown(s string) string {
	if s == "" {
		return "unknown CPU"
	}
	return s
}

// fmtValue prints a figure with three significant digits.
func fmtValue(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e6 || v < 0.001 && v > -0.001:
		return strconv.FormatFloat(v, 'e', 2, 64)
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func sortedNames(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
