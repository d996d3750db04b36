// Package verdict decides what a rehearsal showed. Judge evaluates the
// gate's budgets over a window of completed requests (absolute limits, and
// comparative ones in the spirit of canary analysis: the target against the
// source in the same window); Decide turns everything a run found — gates,
// breaches, fault evidence, invariants, regressions, an unfinished run —
// into a verdict and the reasons for it. Both are pure functions: the
// engine and the synthetic results of reporttest share one definition.
package verdict

import (
	"fmt"
	"sort"
	"time"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/harness/stats"
)

// Sample is one completed request as the gate sees it.
type Sample struct {
	At time.Time
	// Platform served it; Unresolved when the client could not resolve
	// the service's name (the request was never sent).
	Platform string
	Endpoint string
	Latency  time.Duration
	Err      bool
}

// Key names the requests of one platform and one endpoint.
type Key struct{ Platform, Endpoint string }

// Group is what the gate keeps of a key's requests: their latencies, in
// a histogram that merges, and how many failed.
type Group struct {
	Latency stats.Histogram
	Errors  int64
}

// Add counts s in g.
func (g *Group) Add(s Sample) {
	g.Latency.Add(s.Latency)
	if s.Err {
		g.Errors++
	}
}

// Merge adds o to g.
func (g *Group) Merge(o *Group) {
	g.Latency.Merge(o.Latency)
	g.Errors += o.Errors
}

// Groups are the requests of a window by key.
type Groups map[Key]*Group

// Add counts s under its key; a sample without a platform counts as
// Unresolved.
func (gs Groups) Add(s Sample) {
	if s.Platform == "" {
		s.Platform = Unresolved
	}
	k := Key{s.Platform, s.Endpoint}
	g := gs[k]
	if g == nil {
		g = &Group{}
		gs[k] = g
	}
	g.Add(s)
}

// Merge adds every group of o to gs.
func (gs Groups) Merge(o Groups) {
	for k, g := range o {
		mine := gs[k]
		if mine == nil {
			mine = &Group{}
			gs[k] = mine
		}
		mine.Merge(g)
	}
}

// Unresolved is the gate's name for requests whose DNS resolution failed:
// no platform served them, and they count as errors of every error budget
// that names no platform.
const Unresolved = "dns"

// Alpha is the significance level of a comparative budget: the target is
// slower than the reference only when a one-sided Mann–Whitney U test says
// so with p below it.
const Alpha = 0.01

// Window is what one evaluation of the gate judges.
type Window struct {
	Groups Groups
	// Weights are the configured weights in force, by platform (percent).
	// A platform with weight > 0 and too few samples is inconclusive; a
	// comparative budget whose reference has weight 0 cannot be judged and
	// is skipped.
	Weights map[string]int
	// MinSamples below which a budget is inconclusive.
	MinSamples int
	// Saturated, when set, says why the machine itself was the bottleneck
	// during the window: latency limits are then inconclusive (they would
	// measure the machine, not a platform); error budgets still judge.
	Saturated string
	// Comparable: the machine's delay was the replayer's own, common to
	// every request of the window (machine.Judgement.Comparable), so
	// comparative budgets still judge; absolute latency limits do not.
	Comparable bool
}

// saturatedNote starts the note of a latency gate left unjudged because
// the machine was the bottleneck.
const saturatedNote = "the rehearsal machine, not a platform, was the bottleneck: "

// Judge evaluates every budget over w.
func Judge(budgets []scenario.Budget, w Window) []report.Gate {
	seen := map[string]bool{}
	for k := range w.Groups {
		if k.Platform != Unresolved && k.Platform != "" {
			seen[k.Platform] = true
		}
	}
	for p, weight := range w.Weights {
		if weight > 0 {
			seen[p] = true
		}
	}
	platforms := make([]string, 0, len(seen))
	for p := range seen {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)

	var out []report.Gate
	for _, b := range budgets {
		if b.Compare != "" {
			out = append(out, judgeComparative(b, w)...)
			continue
		}
		ps := platforms
		if b.Platform != "" {
			ps = []string{b.Platform}
		}
		for _, p := range ps {
			out = append(out, judgeAbsolute(b, p, w)...)
		}
		if b.Platform == "" && b.ErrorRate != nil {
			out = append(out, judgeUnresolved(b, w))
		}
	}
	return out
}

// pick merges the groups of platform and endpoint ("" = all endpoints).
func pick(w Window, platform, endpoint string) *Group {
	out := &Group{}
	for k, g := range w.Groups {
		if k.Platform == platform && (endpoint == "" || k.Endpoint == endpoint) {
			out.Merge(g)
		}
	}
	return out
}

// metricOf is the gate metric of a name as scenarios write it (p50, p95,
// p99, error_rate).
func metricOf(name string) report.Metric {
	switch name {
	case "p50":
		return report.MetricP50
	case "p95":
		return report.MetricP95
	case "error_rate":
		return report.MetricErrorRate
	}
	return report.MetricP99
}

// tooFew marks g inconclusive when it has fewer samples than the window
// needs, and says whether it did.
func tooFew(g *report.Gate, n int64, w Window, who string) bool {
	if n >= int64(w.MinSamples) {
		return false
	}
	g.Result = report.GateInconclusive
	g.Note = fmt.Sprintf("%d samples on %s, fewer than gate.min_samples (%d)", n, who, w.MinSamples)
	return true
}

func judgeAbsolute(b scenario.Budget, platform string, w Window) []report.Gate {
	g := pick(w, platform, b.Endpoint)
	n, errs := g.Latency.N, g.Errors
	mk := func(metric report.Metric, budget, observed float64) report.Gate {
		g := report.Gate{Endpoint: b.Endpoint, Platform: platform, Metric: metric, Budget: budget, Observed: observed, Samples: n, Result: report.GatePass}
		if tooFew(&g, n, w, platform) {
			return g
		}
		if metric != report.MetricErrorRate && w.Saturated != "" {
			g.Result = report.GateInconclusive
			g.Note = saturatedNote + w.Saturated
			return g
		}
		if observed > budget {
			g.Result = report.GateFail
		}
		return g
	}
	var out []report.Gate
	for _, q := range b.Limits() {
		out = append(out, mk(metricOf(q.Name), ms(q.Limit.Abs.D()), ms(g.Latency.Quantile(q.Q))))
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

// judgeUnresolved is the error budget over requests that never reached a
// platform: their share of every request of the window.
func judgeUnresolved(b scenario.Budget, w Window) report.Gate {
	var n, failed int64
	for k, g := range w.Groups {
		if b.Endpoint != "" && k.Endpoint != b.Endpoint {
			continue
		}
		n += g.Latency.N
		if k.Platform == Unresolved {
			failed += g.Latency.N
		}
	}
	rate := 0.0
	if n > 0 {
		rate = float64(failed) / float64(n)
	}
	g := report.Gate{Endpoint: b.Endpoint, Platform: Unresolved, Metric: report.MetricErrorRate, Budget: *b.ErrorRate, Observed: rate, Samples: n, Result: report.GatePass}
	if tooFew(&g, n, w, "any platform") {
		return g
	}
	if rate > *b.ErrorRate {
		g.Result = report.GateFail
	}
	return g
}

// judgeComparative judges platform against its reference in the same
// window: a percentile breaks the budget when it is above ratio × the
// reference's, by more than min_delta, and the difference is significant.
func judgeComparative(b scenario.Budget, w Window) []report.Gate {
	platform := b.Platform
	if platform == "" {
		platform = "aws"
		if b.Compare == "aws" {
			platform = "heroku"
		}
	}
	lat, ref := pick(w, platform, b.Endpoint).Latency, pick(w, b.Compare, b.Endpoint).Latency
	n, nr := lat.N, ref.N
	var test stats.RankTest
	var tested bool
	var out []report.Gate
	for _, q := range b.Limits() {
		obs, base := lat.Quantile(q.Q), ref.Quantile(q.Q)
		g := report.Gate{
			Endpoint: b.Endpoint, Platform: platform, Metric: metricOf(q.Name),
			Compare: b.Compare, Ratio: q.Limit.Ratio, MinDeltaMS: ms(b.MinDelta.D()),
			Observed: ms(obs), Reference: ms(base), Budget: ms(time.Duration(float64(base) * q.Limit.Ratio)),
			Samples: n, ReferenceSamples: nr, Result: report.GatePass,
		}
		switch {
		case w.Weights != nil && w.Weights[b.Compare] == 0 && nr < int64(w.MinSamples):
			g.Result = report.GateSkipped
			g.Note = fmt.Sprintf("no %s traffic to compare with at weight 0", b.Compare)
		case w.Weights != nil && w.Weights[platform] == 0 && n < int64(w.MinSamples):
			g.Result = report.GateSkipped
			g.Note = fmt.Sprintf("no %s traffic to judge at weight 0", platform)
		case tooFew(&g, n, w, platform), tooFew(&g, nr, w, b.Compare):
		case w.Saturated != "" && !w.Comparable:
			g.Result = report.GateInconclusive
			g.Note = saturatedNote + w.Saturated
		default:
			if !tested {
				test = stats.MannWhitney(ref, lat)
				tested = true
			}
			g.PValue = test.P
			slower := float64(obs) > float64(base)*q.Limit.Ratio && obs-base > b.MinDelta.D()
			if slower && test.Z > 0 && test.P/2 < Alpha {
				g.Result = report.GateFail
			}
			if slower && g.Result == report.GatePass {
				g.Note = fmt.Sprintf("above the ratio but not significantly slower (one-sided p=%.2g)", test.P/2)
			}
		}
		out = append(out, g)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
