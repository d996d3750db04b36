package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cutover/cutover/harness/stats"
)

// Defaults of a comparison.
const (
	// DefaultAlpha is the family-wise significance level: each row is tested
	// at DefaultAlpha divided by the number of rows (Bonferroni).
	DefaultAlpha = 0.01
	// DefaultMinEffect is the smallest latency shift called significant: a
	// Vargha–Delaney A at least 0.56 or at most 0.44 ("small" or larger), so
	// that a very large sample does not flag a shift nobody would notice.
	DefaultMinEffect = 0.06
	// DefaultMinDelta is the smallest growth of a latency percentile that
	// can count as a regression, whatever its relative size: two runs of
	// one seed on a shared 2-core machine differ by up to ~20 ms at p99 for
	// millisecond-scale calls (measured), which no budget would notice.
	DefaultMinDelta = 25 * time.Millisecond
	// MinSamples is the fewest requests per side a row needs to be tested.
	MinSamples = 20
	// TailSamples is how many requests each side must have beyond a
	// percentile for its growth to count as a regression: a p99 needs 500
	// requests a side, a p95 100. Below that the percentile is a handful
	// of the slowest requests — two runs of one seed on this 2-core machine
	// gave a stage's validate p99 of 24.6 and 52.5 ms over 202 requests
	// each, its two slowest — and the shift test alone speaks for the row.
	TailSamples = 5
	// minErrorDelta is the smallest error-rate rise (absolute) that can
	// count as a regression: 0.1 percentage point.
	minErrorDelta = 0.001
)

// TestName says which statistical tests Compare uses.
const TestName = "Mann–Whitney U over latencies (two-sided, normal approximation with tie correction, " +
	"Bonferroni-corrected over the rows, effect at least Vargha–Delaney A ≥ 0.56 or ≤ 0.44); " +
	"pooled two-proportion z-test over error rates"

// CompareOptions tune Compare; zero values take the defaults.
type CompareOptions struct {
	Alpha     float64
	MinEffect float64
	// MaxRegression, when above zero, is the bound of a regression: a row
	// regresses when it is significantly slower and its p50, p95 or p99
	// (each with TailSamples requests beyond it on both sides) grew by more
	// than this fraction, or its error rate is significantly higher and
	// grew by more than this fraction (and by at least 0.1 point).
	MaxRegression float64
	// MinDelta is the smallest percentile growth that counts as a
	// regression (default DefaultMinDelta; negative for none).
	MinDelta time.Duration
}

// Comparison is B (a run) compared with A (a run or a baseline).
type Comparison struct {
	A         string  `json:"a"`
	B         string  `json:"b"`
	Test      string  `json:"test"`
	Alpha     float64 `json:"alpha"`
	RowAlpha  float64 `json:"row_alpha"`
	MinEffect float64 `json:"min_effect"`
	// MaxRegression is the bound used, 0 when none was checked.
	MaxRegression float64 `json:"max_regression"`
	// MinDeltaMS is the smallest percentile growth counted, in ms.
	MinDeltaMS float64  `json:"min_delta_ms"`
	Rows       []Change `json:"rows"`
	// OnlyInA and OnlyInB list "stage/endpoint" rows with no counterpart.
	OnlyInA []string `json:"only_in_a"`
	OnlyInB []string `json:"only_in_b"`
}

// Side is one run's figures of a compared row.
type Side struct {
	Requests  int64   `json:"requests"`
	Rate      float64 `json:"rate"`
	P50       float64 `json:"p50_ms"`
	P95       float64 `json:"p95_ms"`
	P99       float64 `json:"p99_ms"`
	ErrorRate float64 `json:"error_rate"`
}

// Change is one stage and endpoint compared.
type Change struct {
	Stage    string `json:"stage"`
	Endpoint string `json:"endpoint"`
	A        Side   `json:"a"`
	B        Side   `json:"b"`
	// Relative changes of B against A (0.1 = 10% more; 0 when A is 0).
	RateChange float64 `json:"rate_change"`
	P50Change  float64 `json:"p50_change"`
	P95Change  float64 `json:"p95_change"`
	P99Change  float64 `json:"p99_change"`
	// ErrorRateChange is absolute (0.01 = one percentage point more).
	ErrorRateChange float64 `json:"error_rate_change"`

	Latency stats.RankTest `json:"latency_test"`
	// LatencyShift is "slower", "faster", "none" or "too few samples".
	LatencyShift string  `json:"latency_shift"`
	ErrorP       float64 `json:"error_p"`
	// ErrorShift is "higher", "lower", "none" or "too few samples".
	ErrorShift string `json:"error_shift"`

	Regression bool     `json:"regression"`
	Why        []string `json:"why,omitempty"`
	// MachineBound says which side's stage the rehearsal machine was the
	// bottleneck of, and why: the row's latency is shown but not counted
	// as a regression (its error rate still is).
	MachineBound string `json:"machine_bound,omitempty"`
}

// Shift values.
const (
	ShiftNone     = "none"
	ShiftSlower   = "slower"
	ShiftFaster   = "faster"
	ShiftHigher   = "higher"
	ShiftLower    = "lower"
	ShiftTooFew   = "too few samples"
	latencyMetric = "latency"
)

// Compare compares b against a row by row (stage and endpoint).
func Compare(a, b *Profile, opts CompareOptions) *Comparison {
	if opts.Alpha <= 0 {
		opts.Alpha = DefaultAlpha
	}
	if opts.MinDelta == 0 {
		opts.MinDelta = DefaultMinDelta
	}
	opts.MinDelta = max(opts.MinDelta, 0) // negative: no floor
	if opts.MinEffect <= 0 {
		opts.MinEffect = DefaultMinEffect
	}
	c := &Comparison{
		A: profileLabel(a), B: profileLabel(b),
		Test: TestName, Alpha: opts.Alpha, MinEffect: opts.MinEffect,
		MaxRegression: opts.MaxRegression,
		MinDeltaMS:    ms(opts.MinDelta),
		OnlyInA:       []string{}, OnlyInB: []string{},
	}
	inA := map[[2]string]ProfileRow{}
	for _, r := range a.Rows {
		inA[[2]string{r.Stage, r.Endpoint}] = r
	}
	matched := map[[2]string]bool{}
	var pairs [][2]ProfileRow
	for _, rb := range b.Rows {
		k := [2]string{rb.Stage, rb.Endpoint}
		ra, ok := inA[k]
		if !ok {
			c.OnlyInB = append(c.OnlyInB, rb.Stage+"/"+rb.Endpoint)
			continue
		}
		matched[k] = true
		pairs = append(pairs, [2]ProfileRow{ra, rb})
	}
	for _, ra := range a.Rows {
		if !matched[[2]string{ra.Stage, ra.Endpoint}] {
			c.OnlyInA = append(c.OnlyInA, ra.Stage+"/"+ra.Endpoint)
		}
	}
	c.RowAlpha = opts.Alpha / float64(max(len(pairs), 1))
	for _, p := range pairs {
		c.Rows = append(c.Rows, compareRow(p[0], p[1], c.RowAlpha, opts, machineBound(a, b, p[1].Stage)))
	}
	return c
}

// machineBound says on which side, and why, the rehearsal machine was the
// bottleneck of stage; "" when on neither.
func machineBound(a, b *Profile, stage string) string {
	var out []string
	if why, ok := a.MachineBound[stage]; ok {
		out = append(out, "in A: "+why)
	}
	if why, ok := b.MachineBound[stage]; ok {
		out = append(out, "in B: "+why)
	}
	return strings.Join(out, "; ")
}

func profileLabel(p *Profile) string {
	if p.RunID != "" {
		return p.RunID
	}
	return p.Scenario
}

func sideOf(r ProfileRow) Side {
	return Side{
		Requests:  r.Requests,
		Rate:      round(r.Rate(), 2),
		P50:       ms(r.Latency.Quantile(0.50)),
		P95:       ms(r.Latency.Quantile(0.95)),
		P99:       ms(r.Latency.Quantile(0.99)),
		ErrorRate: round(r.ErrorRate(), 6),
	}
}

// compareRow compares one stage and endpoint; machineBound, when not "",
// says on which side and why the machine was the bottleneck of the stage:
// the row's latency then does not count toward a regression.
func compareRow(ra, rb ProfileRow, alpha float64, opts CompareOptions, machineBound string) Change {
	ch := Change{Stage: rb.Stage, Endpoint: rb.Endpoint, A: sideOf(ra), B: sideOf(rb), MachineBound: machineBound}
	ch.RateChange = relChange(ch.A.Rate, ch.B.Rate)
	ch.P50Change = relChange(ch.A.P50, ch.B.P50)
	ch.P95Change = relChange(ch.A.P95, ch.B.P95)
	ch.P99Change = relChange(ch.A.P99, ch.B.P99)
	ch.ErrorRateChange = round(ch.B.ErrorRate-ch.A.ErrorRate, 6)

	ch.LatencyShift, ch.ErrorShift = ShiftTooFew, ShiftTooFew
	ch.Latency = stats.RankTest{P: 1, ProbSlower: 0.5}
	ch.ErrorP = 1
	if ra.Latency.N >= MinSamples && rb.Latency.N >= MinSamples {
		ch.Latency = stats.MannWhitney(ra.Latency, rb.Latency)
		ch.LatencyShift = ShiftNone
		if ch.Latency.P < alpha && math.Abs(ch.Latency.ProbSlower-0.5) >= opts.MinEffect {
			ch.LatencyShift = ShiftFaster
			if ch.Latency.ProbSlower > 0.5 {
				ch.LatencyShift = ShiftSlower
			}
		}
	}
	if ra.Requests >= MinSamples && rb.Requests >= MinSamples {
		ch.ErrorP = stats.ProportionTest(ra.Errors, ra.Requests, rb.Errors, rb.Requests)
		ch.ErrorShift = ShiftNone
		if ch.ErrorP < alpha {
			ch.ErrorShift = ShiftLower
			if ch.ErrorRateChange > 0 {
				ch.ErrorShift = ShiftHigher
			}
		}
	}
	if bound := opts.MaxRegression; bound > 0 {
		if ch.LatencyShift == ShiftSlower && ch.MachineBound == "" {
			minDelta := ms(opts.MinDelta)
			n := min(ra.Latency.N, rb.Latency.N)
			for _, q := range []struct {
				name   string
				q      float64
				change float64
				delta  float64 // ms
			}{{"p50", 0.50, ch.P50Change, ch.B.P50 - ch.A.P50}, {"p95", 0.95, ch.P95Change, ch.B.P95 - ch.A.P95}, {"p99", 0.99, ch.P99Change, ch.B.P99 - ch.A.P99}} {
				if float64(n)*(1-q.q) < TailSamples-1e-9 {
					continue
				}
				if q.change > bound && q.delta > minDelta {
					ch.Why = append(ch.Why, fmt.Sprintf("%s %s (bound %s, p=%.2g)", q.name, pct(q.change), pct(bound), ch.Latency.P))
				}
			}
		}
		if ch.ErrorShift == ShiftHigher && ch.ErrorRateChange > math.Max(bound*ch.A.ErrorRate, minErrorDelta) {
			ch.Why = append(ch.Why, fmt.Sprintf("error rate %.2f%% → %.2f%% (p=%.2g)", 100*ch.A.ErrorRate, 100*ch.B.ErrorRate, ch.ErrorP))
		}
		ch.Regression = len(ch.Why) > 0
	}
	return ch
}

// relChange is (b-a)/a, or 0 when a is 0 (a row without figures).
func relChange(a, b float64) float64 {
	if a == 0 {
		return 0
	}
	return round((b-a)/a, 4)
}

// Regressions are the rows that regressed beyond MaxRegression.
func (c *Comparison) Regressions() []Change {
	var out []Change
	for _, r := range c.Rows {
		if r.Regression {
			out = append(out, r)
		}
	}
	return out
}

// Significant are the rows whose latency or error rate changed
// significantly, either way.
func (c *Comparison) Significant() []Change {
	var out []Change
	for _, r := range c.Rows {
		if r.LatencyShift == ShiftSlower || r.LatencyShift == ShiftFaster || r.ErrorShift == ShiftHigher || r.ErrorShift == ShiftLower {
			out = append(out, r)
		}
	}
	return out
}

// WriteText writes the comparison as a table for a terminal.
func (c *Comparison) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "A: %s\nB: %s\n\n", c.A, c.B)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tendpoint\treq/s A\treq/s B\tΔ\tp50 A\tp50 B\tΔ\tp95 A\tp95 B\tΔ\tp99 A\tp99 B\tΔ\terr A\terr B\tlatency\terrors\t")
	for _, r := range c.Rows {
		lat := r.LatencyShift
		if lat == ShiftSlower || lat == ShiftFaster {
			lat = fmt.Sprintf("%s (p=%.1g, P(B>A)=%.2f)", lat, r.Latency.P, r.Latency.ProbSlower)
		}
		errs := r.ErrorShift
		if errs == ShiftHigher || errs == ShiftLower {
			errs = fmt.Sprintf("%s (p=%.1g)", errs, r.ErrorP)
		}
		mark := ""
		switch {
		case r.Regression:
			mark = "  REGRESSION"
		case r.MachineBound != "":
			mark = "  latency not judged (machine-bound)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Stage, r.Endpoint,
			r.A.Rate, r.B.Rate, pct(r.RateChange),
			msText(r.A.P50), msText(r.B.P50), pct(r.P50Change),
			msText(r.A.P95), msText(r.B.P95), pct(r.P95Change),
			msText(r.A.P99), msText(r.B.P99), pct(r.P99Change),
			pctPlain(r.A.ErrorRate), pctPlain(r.B.ErrorRate),
			lat, errs, mark)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write comparison: %w", err)
	}
	for _, s := range c.OnlyInA {
		fmt.Fprintf(w, "only in A: %s\n", s)
	}
	for _, s := range c.OnlyInB {
		fmt.Fprintf(w, "only in B: %s\n", s)
	}
	bound := map[string]string{}
	var stages []string
	for _, r := range c.Rows {
		if _, ok := bound[r.Stage]; r.MachineBound != "" && !ok {
			bound[r.Stage] = r.MachineBound
			stages = append(stages, r.Stage)
		}
	}
	for _, st := range stages {
		fmt.Fprintf(w, "latency not judged in %s: the rehearsal machine, not a platform, was the bottleneck %s\n", st, bound[st])
	}
	fmt.Fprintf(w, "\ntest: %s; α=%g (%.2g per row)\n", c.Test, c.Alpha, c.RowAlpha)
	sig := c.Significant()
	switch {
	case c.MaxRegression > 0 && len(c.Regressions()) > 0:
		fmt.Fprintf(w, "result: %d row(s) regressed beyond %s\n", len(c.Regressions()), pct(c.MaxRegression))
		for _, r := range c.Regressions() {
			fmt.Fprintf(w, "  %s/%s: %s\n", r.Stage, r.Endpoint, strings.Join(r.Why, "; "))
		}
	case len(sig) == 0:
		fmt.Fprintln(w, "result: no significant change")
	default:
		fmt.Fprintf(w, "result: %d row(s) changed significantly\n", len(sig))
	}
	return nil
}

func pct(f float64) string {
	if f == 0 {
		return "0%"
	}
	return fmt.Sprintf("%+.1f%%", 100*f)
}

func pctPlain(f float64) string { return strconv.FormatFloat(100*f, 'f', 2, 64) + "%" }

func msText(v float64) string {
	d := time.Duration(v * float64(time.Millisecond))
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0fms", v)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}

// ParsePercent reads a bound like "10%" or "0.1" as a fraction.
func ParsePercent(s string) (float64, error) {
	t := strings.TrimSpace(s)
	div := 1.0
	if strings.HasSuffix(t, "%") {
		t, div = strings.TrimSpace(strings.TrimSuffix(t, "%")), 100
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("%q is not a percentage (write 10%% or 0.1)", s)
	}
	return f / div, nil
}
