package run

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
)

func TestGateJudgesEachPlatformAndEndpoint(t *testing.T) {
	rate := 0.05
	g := newGate(scenario.Gate{MinSamples: 10, Budgets: []scenario.Budget{
		{P99: scenario.Duration(100 * time.Millisecond), ErrorRate: &rate},
		{Platform: "aws", Endpoint: "redeem", P50: scenario.Duration(20 * time.Millisecond)},
	}})
	t0 := time.Now()
	add := func(platform, f string, n int, latency time.Duration, status int) {
		for i := 0; i < n; i++ {
			typ := history.OK
			if status >= 500 {
				typ = history.Info
			}
			g.observe(history.Op{Type: typ, Process: "c1", F: f, Platform: platform, Status: status, Latency: latency, Time: t0})
		}
	}
	add("heroku", "validate", 100, 10*time.Millisecond, 200)
	add("heroku", "redeem", 10, 10*time.Millisecond, 503) // 10 of 110 fail: 9 %
	add("aws", "redeem", 5, 50*time.Millisecond, 200)     // too few samples
	g.observe(history.Op{Type: history.Invoke, Process: "c1", F: "redeem", Platform: "aws", Time: t0})
	g.observe(history.Op{Type: history.OK, Process: history.Nemesis, F: "latency", Time: t0})

	byKey := map[string]report.Gate{}
	for _, gt := range g.evaluate(t0) {
		byKey[gt.Platform+"/"+gt.Endpoint+"/"+gt.Metric] = gt
	}
	require.Len(t, byKey, 5, "p99 and error rate on each platform, p50 of redeem on aws")
	require.Equal(t, report.GatePass, byKey["heroku//p99_ms"].Result)
	require.Equal(t, report.GateFail, byKey["heroku//error_rate"].Result)
	require.InDelta(t, 10.0/110, byKey["heroku//error_rate"].Observed, 1e-9)
	require.EqualValues(t, 110, byKey["heroku//error_rate"].Samples)
	require.Equal(t, report.GateInconclusive, byKey["aws//p99_ms"].Result, "5 samples < min_samples")
	require.Equal(t, report.GateInconclusive, byKey["aws/redeem/p50_ms"].Result)
	require.InDelta(t, 50.0, byKey["aws/redeem/p50_ms"].Observed, 1e-9)

	// A window after every sample sees nothing: inconclusive, never pass.
	for _, gt := range g.evaluate(t0.Add(time.Second)) {
		require.Equal(t, report.GateInconclusive, gt.Result)
	}
	g.reset()
	gs := g.evaluate(t0)
	require.Len(t, gs, 1, "only the budget that names its platform is judged when nothing was seen")
	require.Equal(t, report.GateInconclusive, gs[0].Result)
	require.Zero(t, gs[0].Samples)
}
