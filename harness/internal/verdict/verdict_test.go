package verdict

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/internal/machine"
)

// base is a passing run: two stages, every gate held, every invariant held.
func base() *report.Summary {
	stage := func(name string, aws int) report.Stage {
		return report.Stage{Name: name, Status: report.StageCompleted, Weights: map[string]int{"heroku": 100 - aws, "aws": aws},
			Figures: report.Figures{Requests: 500},
			Gates: []report.Gate{
				{Platform: "heroku", Metric: report.MetricP99, Budget: 800, Observed: 300, Samples: 250, Result: report.GatePass},
				{Platform: "aws", Metric: report.MetricP99, Budget: 800, Observed: 200, Samples: 250, Result: report.GatePass},
			}}
	}
	return &report.Summary{
		SourcePlatform: "heroku", TargetPlatform: "aws",
		Stages:     []report.Stage{stage("canary", 10), stage("full", 100)},
		Invariants: []report.Invariant{{Name: "idempotency", Result: report.InvariantHeld, Checked: 400}},
	}
}

func fault(observed, required bool, errMsg string) report.Fault {
	return report.Fault{Name: "burst", Kind: "router-timeout-burst", Start: t0, Error: errMsg,
		Effect: report.Effect{Observed: observed, Required: required, Evidence: map[string]float64{"h12": 0}, Summary: "router log: 0 h12"}}
}

func saturatedMachine() *report.StageMachine {
	return &report.StageMachine{Saturation: machine.Judgement{Saturated: true, CPUBusy: 0.98, RunQueuePerCore: 3.1,
		Reasons: []string{"cpu 98% busy (≥ 90%)", "3.1 runnable tasks per core (≥ 2.0)"}}}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(s *report.Summary)
		want   report.Verdict
		reason string
	}{
		{"everything held", func(*report.Summary) {}, report.Pass, "every gate held"},
		{"a failed gate", func(s *report.Summary) { s.Stages[0].Gates[1].Result = report.GateFail }, report.Fail, "gate broke in canary"},
		{"a breach acted on", func(s *report.Summary) {
			s.Stages[1].Breaches = []report.Breach{{Stage: "full", Metric: report.MetricErrorRate, Platform: "aws", Action: "rollback"}}
		}, report.Fail, "the run acted: rollback"},
		{"a broken invariant", func(s *report.Summary) {
			s.Invariants[0].Result, s.Invariants[0].Violations = report.InvariantBroken, 2
			s.Invariants[0].Examples = []report.Example{{Message: "key k1 redeemed twice"}}
		}, report.Fail, "invariant idempotency broken"},
		{"an invariant that could not be checked", func(s *report.Summary) {
			s.Invariants[0].Result, s.Invariants[0].Reason = report.InvariantUnknown, "the redemptions listing has no idempotency keys"
		}, report.Inconclusive, "could not be decided"},
		{"a fault with no evidence", func(s *report.Summary) { s.Stages[0].Faults = []report.Fault{fault(false, true, "")} }, report.Inconclusive, "left no evidence"},
		{"a fault allowed to have no effect", func(s *report.Summary) { s.Stages[0].Faults = []report.Fault{fault(false, false, "")} }, report.Pass, "which the scenario allows"},
		{"a fault that left evidence", func(s *report.Summary) { s.Stages[0].Faults = []report.Fault{fault(true, true, "")} }, report.Pass, "every fault left evidence"},
		{"a fault that could not start", func(s *report.Summary) { s.Stages[0].Faults = []report.Fault{fault(false, true, "no replica")} }, report.Fail, "did not run as written"},
		{"a condition with no evidence", func(s *report.Summary) {
			s.Conditions = []report.Fault{{Name: "partner-firewall", Effect: report.Effect{Required: true, Summary: "refused 0"}}}
		}, report.Inconclusive, "partner-firewall"},
		{"too few samples in the last stage on a weighted platform", func(s *report.Summary) {
			s.Stages[1].Gates[1].Result = report.GateInconclusive
		}, report.Inconclusive, "cannot be promoted"},
		{"too few samples on a platform at weight 0 in the last stage", func(s *report.Summary) {
			s.Stages[1].Gates[0].Result = report.GateInconclusive
		}, report.Pass, "every gate held"},
		{"too few samples in an earlier stage", func(s *report.Summary) {
			s.Stages[0].Gates[1].Result = report.GateInconclusive
		}, report.Pass, "every gate held"},
		{"a skipped last stage: the one before is judged", func(s *report.Summary) {
			s.Stages[1].Status = report.StageSkipped
			s.Stages[0].Gates[1].Result = report.GateInconclusive
		}, report.Inconclusive, "canary"},
		{"a saturated earlier stage is named and its latency not counted as held", func(s *report.Summary) {
			s.Stages[0].Machine = saturatedMachine()
			s.Stages[0].Gates[1].Result, s.Stages[0].Gates[1].Note = report.GateInconclusive, "the rehearsal machine, not a platform, was the bottleneck: cpu 98% busy"
		}, report.Pass, "latency not judged in canary: the machine was the bottleneck"},
		{"a saturated last stage cannot be promoted, and the machine is named", func(s *report.Summary) {
			s.Stages[1].Machine = saturatedMachine()
			s.Stages[1].Gates[1].Result, s.Stages[1].Gates[1].Note = report.GateInconclusive, "the rehearsal machine, not a platform, was the bottleneck: cpu 98% busy"
		}, report.Inconclusive, "the rehearsal machine, not a platform, was the bottleneck in full (cpu 98% busy (≥ 90%), 3.1 runnable tasks per core (≥ 2.0))"},
		{"a lost shard worker: partial traffic cannot pass", func(s *report.Summary) {
			s.Stages[0].LostShards, s.Stages[0].Unsent = []int{1}, 212
		}, report.Inconclusive, "canary ran on partial traffic: shard workers [1] were lost and 212 planned requests were never sent"},
		{"an unfinished run", func(s *report.Summary) { s.Incomplete, s.IncompleteReason = true, "interrupted" }, report.Fail, "did not finish"},
		{"fail wins over inconclusive", func(s *report.Summary) {
			s.Stages[0].Gates[0].Result = report.GateFail
			s.Stages[1].Faults = []report.Fault{fault(false, true, "")}
		}, report.Fail, "gate broke"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.change(s)
			Decide(s, nil)
			require.Equal(t, tc.want, s.Verdict, "%v", s.Reasons)
			require.Contains(t, strings.Join(s.Reasons, "\n"), tc.reason)
		})
	}
	s := base()
	Decide(s, []string{"regression against the baseline in canary redeem: p99 +40%"})
	require.Equal(t, report.Fail, s.Verdict)
}

func TestUnexpected(t *testing.T) {
	failing := func() *report.Summary {
		s := base()
		s.Stages[1].Breaches = []report.Breach{{Stage: "full", Metric: report.MetricP99, Platform: "aws", Endpoint: "redeem", Action: "rollback", At: t0.Add(time.Second)}}
		Decide(s, nil)
		return s
	}
	for _, tc := range []struct {
		name string
		exp  scenario.Expect
		s    *report.Summary
		want []string // substrings, one per unexpected line; none: as expected
	}{
		{"a pass as expected", scenario.Expect{Verdict: "pass"}, func() *report.Summary { s := base(); Decide(s, nil); return s }(), nil},
		{"the breach it names", scenario.Expect{Verdict: "fail", Breaches: []scenario.ExpectedBreach{{Stage: "full", Platform: "aws", Metric: "p99"}}}, failing(), nil},
		{"a breach for another reason", scenario.Expect{Verdict: "fail", Breaches: []scenario.ExpectedBreach{{Platform: "heroku"}}}, failing(),
			[]string{"expected the gate to break (platform heroku)", "a reason the scenario does not expect"}},
		{"any breach is not a reason", scenario.Expect{Verdict: "fail"}, failing(), []string{"a reason the scenario does not expect"}},
		{"a breach the fault may also cause", scenario.Expect{Verdict: "fail", Breaches: []scenario.ExpectedBreach{{Platform: "aws", Metric: "p99"}},
			MayAlsoBreak: []scenario.ExpectedBreach{{Stage: "full", Platform: "heroku", Metric: "p50"}}}, func() *report.Summary {
			s := failing()
			s.Stages[1].Breaches = append(s.Stages[1].Breaches, report.Breach{Stage: "full", Metric: report.MetricP50, Platform: "heroku", Action: "none"})
			return s
		}(), nil},
		{"may also break is not a must", scenario.Expect{Verdict: "fail", Breaches: []scenario.ExpectedBreach{{Platform: "aws", Metric: "p99"}},
			MayAlsoBreak: []scenario.ExpectedBreach{{Platform: "heroku"}}}, failing(), nil},
		{"may also break names one budget, not another", scenario.Expect{Verdict: "fail", Breaches: []scenario.ExpectedBreach{{Platform: "aws", Metric: "p99"}},
			MayAlsoBreak: []scenario.ExpectedBreach{{Platform: "heroku", Metric: "error_rate"}}}, func() *report.Summary {
			s := failing()
			s.Stages[1].Breaches = append(s.Stages[1].Breaches, report.Breach{Stage: "full", Metric: report.MetricP50, Platform: "heroku", Action: "none"})
			return s
		}(), []string{"a reason the scenario does not expect: p50 latency of all endpoints on heroku"}},
		{"the invariant it names, and only it", scenario.Expect{Verdict: "fail", FailingInvariants: []string{"idempotency"}}, func() *report.Summary {
			s := base()
			s.Invariants = append(s.Invariants, report.Invariant{Name: "no_lost_ack", Result: report.InvariantBroken, Violations: 1, Examples: []report.Example{{Message: "lost"}}})
			s.Invariants[0].Result, s.Invariants[0].Violations = report.InvariantBroken, 1
			Decide(s, nil)
			return s
		}(), []string{"invariant no_lost_ack failed, which the scenario does not expect"}},
		{"an invariant expected to fail that held", scenario.Expect{Verdict: "fail", FailingInvariants: []string{"idempotency"}}, failing(),
			[]string{"idempotency was expected to fail but did not", "a reason the scenario does not expect"}},
		{"a named fault with no evidence", scenario.Expect{Verdict: "pass", ObservedFaults: []string{"burst"}}, func() *report.Summary {
			s := base()
			s.Stages[0].Faults = []report.Fault{fault(false, false, "")}
			Decide(s, nil)
			return s
		}(), []string{"fault burst left no evidence"}},
		{"a wrong verdict", scenario.Expect{Verdict: "pass"}, failing(), []string{"verdict fail, expected pass", "a reason the scenario does not expect"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Unexpected(tc.exp, tc.s)
			require.Len(t, got, len(tc.want), "%q", got)
			for i, w := range tc.want {
				require.Contains(t, got[i], w)
			}
		})
	}
}
