package run

import (
	"sync"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/verdict"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/harness/stats"
	"github.com/cutover/cutover/internal/machine"
)

// slotWidth is the time resolution of the gate's windows: completions are
// accumulated in histograms per slot, and a window merges its slots, so an
// evaluation costs the number of slots, not of requests.
const slotWidth = 250 * time.Millisecond

// gate accumulates the completions of the current stage and has
// verdict.Judge evaluate the scenario's budgets over them: over a recent
// window while the stage runs (to notice a breach early, as Flagger's
// analysis interval does) and over the whole stage at its end.
type gate struct {
	budgets    []scenario.Budget
	minSamples int

	mu    sync.Mutex
	slots []slot // in time order
}

// slot holds the completions of one slotWidth of time.
type slot struct {
	start  time.Time
	groups verdict.Groups
}

func newGate(g scenario.Gate) *gate {
	return &gate{budgets: g.Budgets, minSamples: g.MinSamples}
}

// observe records a completion (one without a platform, whose name did not
// resolve, counts as verdict.Unresolved).
func (g *gate) observe(op history.Op) {
	if op.Type == history.Invoke || op.Process == history.Nemesis {
		return
	}
	start := op.Time.Truncate(slotWidth)
	g.mu.Lock()
	defer g.mu.Unlock()
	// Completions arrive nearly in order: look back a few slots at most.
	i := len(g.slots) - 1
	for i >= 0 && g.slots[i].start.After(start) {
		i--
	}
	if i < 0 || !g.slots[i].start.Equal(start) {
		g.slots = append(g.slots, slot{})
		copy(g.slots[i+2:], g.slots[i+1:])
		g.slots[i+1] = slot{start: start, groups: verdict.Groups{}}
		i++
	}
	g.slots[i].groups.Add(verdict.Sample{At: op.Time, Platform: op.Platform, Endpoint: op.F, Latency: op.Latency, Err: op.IsError()})
}

// reset starts a new stage.
func (g *gate) reset() {
	g.mu.Lock()
	g.slots = g.slots[:0]
	g.mu.Unlock()
}

// window merges the slots that start at or after since.
func (g *gate) window(since time.Time) verdict.Groups {
	out := verdict.Groups{}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.slots {
		if !s.start.Before(since.Truncate(slotWidth)) {
			out.Merge(s.groups)
		}
	}
	return out
}

// evaluate judges every budget over the completions at or after since
// (to the slot), with weights (percent by platform) in force; m is the
// machine's judgement meanwhile (when saturated, latency is not judged —
// but for comparisons of the platforms when only the replayer fell
// behind).
func (g *gate) evaluate(since time.Time, weights map[string]int, mj *machine.Judgement) []report.Gate {
	var m machine.Judgement
	if mj != nil {
		m = *mj
	}
	return verdict.Judge(g.budgets, verdict.Window{Groups: g.window(since), Weights: weights, MinSamples: g.minSamples,
		Saturated: m.Why(), Comparable: m.Comparable})
}

// recent returns the rate and p99 of the completions of the last window,
// for the progress display.
func (g *gate) recent(window time.Duration) (rate float64, p99 time.Duration) {
	var all stats.Histogram
	for _, grp := range g.window(time.Now().Add(-window)) {
		all.Merge(grp.Latency)
	}
	return float64(all.N) / window.Seconds(), all.Quantile(0.99)
}

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
