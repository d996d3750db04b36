package run

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/verdict"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
)

// The gate's slots must hold every completion once, in the slot of its
// time, even when completions arrive out of order; a window starting
// later leaves the earlier slots out.
func TestGateWindowsBySlot(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rate := 0.5
	g := newGate(scenario.Gate{MinSamples: 1, Budgets: []scenario.Budget{{ErrorRate: &rate}}})
	op := func(at time.Duration, platform string, fail bool) history.Op {
		o := history.Op{Type: history.OK, Process: "c", F: "redeem", Time: t0.Add(at), Platform: platform, Latency: 10 * time.Millisecond}
		if fail {
			o.Type = history.Fail
		}
		return o
	}
	// Out of order, across four slots; one unresolved.
	for _, o := range []history.Op{
		op(0, "heroku", false), op(600*time.Millisecond, "heroku", true), op(100*time.Millisecond, "heroku", false),
		op(300*time.Millisecond, "aws", false), op(900*time.Millisecond, "", true), op(260*time.Millisecond, "aws", true),
	} {
		g.observe(o)
	}
	g.observe(history.Op{Type: history.Invoke, Time: t0})
	count := func(w verdict.Groups) (n, errs int64) {
		for _, grp := range w {
			n += grp.Latency.N
			errs += grp.Errors
		}
		return n, errs
	}
	n, errs := count(g.window(t0))
	require.Equal(t, int64(6), n)
	require.Equal(t, int64(3), errs)
	require.Equal(t, int64(1), g.window(t0)[verdict.Key{Platform: verdict.Unresolved, Endpoint: "redeem"}].Latency.N)
	n, errs = count(g.window(t0.Add(500 * time.Millisecond)))
	require.Equal(t, int64(2), n, "slots from 500ms on")
	require.Equal(t, int64(2), errs)

	// heroku: 1 of 3 failed (0.33 < 0.5); aws: 1 of 2 (0.5, not above).
	for _, gt := range g.evaluate(t0, map[string]int{"heroku": 50, "aws": 50}, nil) {
		if gt.Platform == verdict.Unresolved {
			require.Equal(t, report.GatePass, gt.Result, "1 of 6 unresolved")
			continue
		}
		require.Equal(t, report.GatePass, gt.Result, "%+v", gt)
	}
	g.reset()
	n, _ = count(g.window(t0))
	require.Zero(t, n)
}
