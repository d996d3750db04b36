package harness

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/internal/machine"
)

func TestMachineBound(t *testing.T) {
	saturated := &report.StageMachine{Saturation: machine.Judgement{Saturated: true, Reasons: []string{"cpu 97% busy (≥ 85%)", "4012 of 15958 requests sent late (25.1% ≥ 1.0%)"}}}
	idle := &report.StageMachine{Saturation: machine.Judgement{CPUBusy: 0.4}}
	broke := []report.Breach{{Metric: report.MetricP95, Platform: "aws", Action: report.ActionRollback}}
	base := func() *report.Summary {
		return &report.Summary{
			ExpectedVerdict: report.Pass, Verdict: report.Fail,
			Invariants: []report.Invariant{{Name: "idempotency", Result: report.InvariantHeld}},
			Stages: []report.Stage{
				{Name: "canary", Weights: map[string]int{"heroku": 90, "aws": 10}, Machine: idle},
				{Name: "half", Weights: map[string]int{"heroku": 50, "aws": 50}, Machine: saturated, Breaches: broke},
				{Name: "full", Weights: map[string]int{"heroku": 0, "aws": 100}, Machine: idle,
					Gates: []report.Gate{{Platform: "heroku", Metric: report.MetricP99, Result: report.GateInconclusive}}},
			},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(s *report.Summary)
		skip   bool
	}{
		{"broke only where the machine was saturated", func(*report.Summary) {}, true},
		{"broke where the machine had room", func(s *report.Summary) { s.Stages[0].Breaches = broke }, false},
		{"a gate unjudged in an earlier stage with room does not count, as in the verdict", func(s *report.Summary) {
			s.Stages[0].Gates = []report.Gate{{Platform: "aws", Endpoint: "redeem", Metric: report.MetricP95, Result: report.GateInconclusive}}
		}, true},
		{"a latency gate unjudged on a weighted platform with room", func(s *report.Summary) {
			s.Stages[2].Gates = append(s.Stages[2].Gates, report.Gate{Platform: "aws", Metric: report.MetricP99, Result: report.GateInconclusive})
		}, false},
		{"a stage without machine figures", func(s *report.Summary) { s.Stages[1].Machine = nil }, false},
		{"only the replayer behind, and the platforms' comparison broke: judged all the same", func(s *report.Summary) {
			s.Stages[1].Machine = &report.StageMachine{Saturation: machine.Judgement{Saturated: true, Comparable: true, Reasons: []string{"the replayer itself reached 409 of 2759 requests late"}}}
			s.Stages[1].Breaches = []report.Breach{{Metric: report.MetricP95, Platform: "aws", Compare: "heroku", Action: report.ActionRollback}}
		}, false},
		{"only the replayer behind, and an absolute limit broke: not judged", func(s *report.Summary) {
			s.Stages[1].Machine = &report.StageMachine{Saturation: machine.Judgement{Saturated: true, Comparable: true, Reasons: []string{"the replayer itself reached 409 of 2759 requests late"}}}
		}, true},
		{"a broken invariant is the service's", func(s *report.Summary) { s.Invariants[0].Result = report.InvariantBroken }, false},
		{"an undecided invariant", func(s *report.Summary) { s.Invariants[0].Result = report.InvariantUnknown }, false},
		{"a scenario expected to fail", func(s *report.Summary) { s.ExpectedVerdict = report.Fail }, false},
		{"an unfinished run", func(s *report.Summary) { s.Incomplete = true }, false},
		{"a fault that did not start", func(s *report.Summary) {
			s.Stages[0].Faults = []report.Fault{{Name: "drain", Error: "no nodes"}}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.change(s)
			why := MachineBound(s)
			if !tc.skip {
				require.Empty(t, why)
				return
			}
			require.Equal(t, "half: "+s.Stages[1].Machine.Saturation.Why(), why)
		})
	}
}
