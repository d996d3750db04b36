package run

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/internal/machine"
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
	sm := &report.StageMachine{Saturation: machine.Judgement{CPUBusy: 0.5, RunQueuePerCore: 0.8}}
	r.stages = []report.Stage{{Name: "canary", Status: report.StageCompleted, Machine: sm, Gates: []report.Gate{
		{Platform: "aws", Metric: report.MetricP99, Budget: 500, Observed: 120, Samples: 12, Result: report.GateInconclusive},
		{Platform: "heroku", Metric: report.MetricP99, Budget: 500, Observed: 80, Samples: 900, Result: report.GatePass},
	}}}
	r.analysis(context.Background())
	require.Len(t, r.stages[0].Breaches, 1)
	b := r.stages[0].Breaches[0]
	require.Equal(t, "aws", b.Platform)
	require.Equal(t, report.ActionNone, b.Action, "on_breach continue only reports")
	require.Equal(t, &sm.Saturation, b.Machine, "judged over the whole stage")

	// Every budget judged and held: nothing happens.
	r.stages[0].Breaches = nil
	r.stages[0].Gates = r.stages[0].Gates[1:]
	r.analysis(context.Background())
	require.Empty(t, r.stages[0].Breaches)
}

// Every budget that broke in a stage is one of its breaches, once, from
// the window it first broke in: a comparative budget that breaks only after
// the absolute one was acted on, or only over the whole stage, is recorded
// too (the summary once named only the first window's breaches, and the
// verdict's reasons more than the summary held).
func TestNoteBreachesKeepsEveryBudgetOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	abs := report.Gate{Platform: "aws", Metric: report.MetricP50, Budget: 250, Observed: 297, Result: report.GateFail}
	errs := report.Gate{Platform: "aws", Metric: report.MetricErrorRate, Budget: 0.01, Observed: 0.38, Result: report.GateFail}
	cmp := report.Gate{Platform: "aws", Compare: "heroku", Metric: report.MetricP50, Budget: 1.5, Observed: 3.1, Result: report.GateFail}
	first := &machine.Judgement{CPUBusy: 0.41, RunQueuePerCore: 0.6}
	second := &machine.Judgement{CPUBusy: 0.62, RunQueuePerCore: 1.1}
	var bs []report.Breach
	noteBreaches(&bs, "aws-50", []report.Gate{abs, errs}, first, t0, report.ActionRollback)
	noteBreaches(&bs, "aws-50", []report.Gate{abs, cmp}, second, t0.Add(5*time.Second), report.ActionNone)
	noteBreaches(&bs, "aws-50", []report.Gate{abs, errs, cmp}, nil, t0.Add(30*time.Second), report.ActionNone)
	require.Len(t, bs, 3)
	require.Equal(t, []*machine.Judgement{first, first, second}, []*machine.Judgement{bs[0].Machine, bs[1].Machine, bs[2].Machine},
		"each breach carries the machine's figures of the window it first broke in")
	require.Equal(t, []report.Action{report.ActionRollback, report.ActionRollback, report.ActionNone}, []report.Action{bs[0].Action, bs[1].Action, bs[2].Action})
	require.Equal(t, "heroku", bs[2].Compare)
	require.Equal(t, t0.Add(5*time.Second), bs[2].At, "seen when it first broke")
	require.Equal(t, 297.0, bs[0].Observed, "the figure of the window that first broke")
}
