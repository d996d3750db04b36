package run

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
)

// sample is one completed request, as the gate sees it.
type sample struct {
	at       time.Time
	platform string
	op       string
	latency  time.Duration
	err      bool
}

// gate evaluates a scenario's budgets over the completions of the current
// stage: over a recent window while the stage runs (to notice a breach
// early, as Flagger's analysis interval does) and over the whole stage at
// its end.
type gate struct {
	budgets    []scenario.Budget
	minSamples int

	mu      sync.Mutex
	samples []sample
}

func newGate(g scenario.Gate) *gate {
	return &gate{budgets: g.Budgets, minSamples: g.MinSamples}
}

// observe records a completion.
func (g *gate) observe(op history.Op) {
	if op.Type == history.Invoke || op.Process == history.Nemesis {
		return
	}
	g.mu.Lock()
	g.samples = append(g.samples, sample{at: op.Time, platform: op.Platform, op: op.F, latency: op.Latency, err: report.IsError(op)})
	g.mu.Unlock()
}

// reset starts a new stage.
func (g *gate) reset() {
	g.mu.Lock()
	g.samples = g.samples[:0]
	g.mu.Unlock()
}

// evaluate judges every budget over the samples completed at or after since.
func (g *gate) evaluate(since time.Time) []report.Gate {
	g.mu.Lock()
	var win []sample
	for _, s := range g.samples {
		if !s.at.Before(since) {
			win = append(win, s)
		}
	}
	g.mu.Unlock()

	platforms := map[string]bool{}
	for _, s := range win {
		if s.platform != "" {
			platforms[s.platform] = true
		}
	}
	var out []report.Gate
	for _, b := range g.budgets {
		var ps []string
		if b.Platform != "" {
			ps = []string{b.Platform}
		} else {
			for p := range platforms {
				ps = append(ps, p)
			}
			sort.Strings(ps)
		}
		for _, p := range ps {
			out = append(out, g.judge(b, p, win)...)
		}
	}
	return out
}

// judge evaluates one budget on one platform.
func (g *gate) judge(b scenario.Budget, platform string, win []sample) []report.Gate {
	var lat []time.Duration
	var errs int64
	for _, s := range win {
		if s.platform != platform || (b.Endpoint != "" && s.op != b.Endpoint) {
			continue
		}
		lat = append(lat, s.latency)
		if s.err {
			errs++
		}
	}
	n := int64(len(lat))
	slices.Sort(lat)
	mk := func(metric string, budget, observed float64) report.Gate {
		gt := report.Gate{Endpoint: b.Endpoint, Platform: platform, Metric: metric, Budget: budget, Observed: observed, Samples: n, Result: report.GatePass}
		switch {
		case n < int64(g.minSamples):
			gt.Result = report.GateInconclusive
			gt.Note = "fewer samples than gate.min_samples"
		case observed > budget:
			gt.Result = report.GateFail
		}
		return gt
	}
	var out []report.Gate
	for _, q := range []struct {
		metric string
		budget scenario.Duration
		q      float64
	}{{report.MetricP50, b.P50, 0.50}, {report.MetricP95, b.P95, 0.95}, {report.MetricP99, b.P99, 0.99}} {
		if q.budget <= 0 {
			continue
		}
		out = append(out, mk(q.metric, msOf(q.budget.D()), msOf(report.Quantile(lat, q.q))))
	}
	if b.ErrorRate != nil {
		rate := 0.0
		if n > 0 {
			rate = float64(errs) / float64(n)
		}
		out = append(out, mk(report.MetricErrorRate, *b.ErrorRate, rate))
	}
	return out
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// failed returns the gates that failed.
func failed(gs []report.Gate) []report.Gate {
	var out []report.Gate
	for _, g := range gs {
		if g.Result == report.GateFail {
			out = append(out, g)
		}
	}
	return out
}
