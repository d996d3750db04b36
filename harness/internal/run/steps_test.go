package run

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
)

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		w    scenario.Weights
		want map[string]int
	}{
		{scenario.Weights{Heroku: 90, AWS: 10}, map[string]int{"heroku": 90, "aws": 10}},
		{scenario.Weights{Heroku: 3, AWS: 1}, map[string]int{"heroku": 75, "aws": 25}},
		{scenario.Weights{Heroku: 0, AWS: 0}, map[string]int{"heroku": 50, "aws": 50}},
		{scenario.Weights{Heroku: 0, AWS: 255}, map[string]int{"heroku": 0, "aws": 100}},
	} {
		require.Equal(t, tc.want, percent(tc.w), "%+v", tc.w)
	}
}

// An analysis step promotes only on evidence: an inconclusive budget of the
// last stage counts as a breach there.
func TestAnalysisTreatsInconclusiveAsBreach(t *testing.T) {
	r := &rehearsal{p: &plan{scn: scenario.Scenario{Gate: scenario.Gate{OnBreach: "continue"}}}}
	r.stages = []report.Stage{{Name: "canary", Status: report.StageCompleted, Gates: []report.Gate{
		{Platform: "aws", Metric: report.MetricP99, Budget: 500, Observed: 120, Samples: 12, Result: report.GateInconclusive},
		{Platform: "heroku", Metric: report.MetricP99, Budget: 500, Observed: 80, Samples: 900, Result: report.GatePass},
	}}}
	r.analysis(context.Background())
	require.Len(t, r.stages[0].Breaches, 1)
	b := r.stages[0].Breaches[0]
	require.Equal(t, "aws", b.Platform)
	require.Equal(t, report.ActionNone, b.Action, "on_breach continue only reports")

	// Every budget judged and held: nothing happens.
	r.stages[0].Breaches = nil
	r.stages[0].Gates = r.stages[0].Gates[1:]
	r.analysis(context.Background())
	require.Empty(t, r.stages[0].Breaches)
}
