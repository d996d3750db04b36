package verdict

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cutover/cutover/harness/report"
)

// Decide sets s.Verdict and s.Reasons from what s records — stages with
// their gates, breaches and faults (with their evidence), invariants, the
// rollback, an unfinished run — and regressions against a baseline (one
// sentence each). The rules, in order of precedence:
//
//   - fail: the run did not finish; a gate failed or broke and was acted
//     on; an invariant was broken; a regression against the baseline.
//   - inconclusive: a stage ran on partial traffic (a shard worker was
//     lost); an invariant could not be checked; a fault whose
//     effect is required left no evidence; a budget of the last stage that
//     ran could not be judged on a platform that had traffic weight (too few
//     samples, or the machine was saturated).
//   - pass: otherwise, and the reasons say what was shown — and which
//     stages' latency was not judged because the rehearsal machine, not a
//     platform, was the bottleneck (each named in a reason of its own).
func Decide(s *report.Summary, regressions []string) {
	var fails, unsure, notes []string

	if s.Incomplete {
		fails = append(fails, "the run did not finish: "+s.IncompleteReason)
	}
	for _, st := range s.Stages {
		for _, g := range st.Gates {
			if g.Result == report.GateFail {
				fails = append(fails, fmt.Sprintf("gate broke in %s: %s", st.Name, g.Describe()))
			}
		}
		for _, b := range st.Breaches {
			if b.Action == "rollback" || b.Action == "abort" {
				fails = append(fails, fmt.Sprintf("gate broke during %s (%s of %s on %s) and the run acted: %s", st.Name, report.MetricName(b.Metric), orAll(b.Endpoint), b.Platform, b.Action))
			}
		}
	}
	for _, st := range s.Stages {
		if st.Unsent > 0 || len(st.LostShards) > 0 {
			msg := fmt.Sprintf("%s ran on partial traffic: shard workers %v were lost and %d planned requests were never sent", st.Name, st.LostShards, st.Unsent)
			if st.Unreported > 0 {
				msg += fmt.Sprintf(" (%d more may have been sent unreported: indeterminate in the history)", st.Unreported)
			}
			unsure = append(unsure, msg)
		}
	}
	var bottleneck []string
	for _, st := range s.Stages {
		if st.Machine != nil && st.Machine.Saturation.Saturated {
			bottleneck = append(bottleneck, st.Name)
			notes = append(notes, fmt.Sprintf("the rehearsal machine, not a platform, was the bottleneck in %s (%s): its latency budgets were not judged",
				st.Name, st.Machine.Saturation.Why()))
		}
	}
	if last := lastRun(s.Stages); last != nil {
		for _, g := range last.Gates {
			if g.Result != report.GateInconclusive || !weighted(last, g) {
				continue
			}
			unsure = append(unsure, fmt.Sprintf("the last stage, %s, cannot be promoted on this evidence: %s", last.Name, g.Describe()))
		}
	}
	var held []string
	for _, inv := range s.Invariants {
		switch inv.Result {
		case report.InvariantBroken:
			msg := fmt.Sprintf("invariant %s broken: %d violations", inv.Name, inv.Violations)
			if len(inv.Examples) > 0 {
				msg += " (e.g. " + inv.Examples[0].Message + ")"
			}
			fails = append(fails, msg)
		case report.InvariantUnknown:
			unsure = append(unsure, fmt.Sprintf("invariant %s could not be decided: %s", inv.Name, inv.Reason))
		default:
			held = append(held, inv.Name)
		}
	}
	var observed []string
	for _, f := range append(s.Faults(), s.Conditions...) {
		switch {
		case f.Error != "":
			fails = append(fails, fmt.Sprintf("fault %s (%s) did not run as written: %s", f.Name, f.Kind, f.Error))
		case f.Effect.Observed:
			observed = append(observed, fmt.Sprintf("%s (%s)", f.Name, f.Effect.Summary))
		case f.Effect.Required:
			unsure = append(unsure, fmt.Sprintf("fault %s (%s) left no evidence that it bit: %s", f.Name, f.Kind, f.Effect.Summary))
		default:
			notes = append(notes, fmt.Sprintf("fault %s (%s) had no visible effect, which the scenario allows: %s", f.Name, f.Kind, f.Effect.Summary))
		}
	}
	fails = append(fails, regressions...)
	notes = append(notes, detection(s)...)
	if rb := s.Rollback; rb != nil {
		notes = append(notes, fmt.Sprintf("weights rolled back during %s from %s %d%% to %s %d%%, %.1fs until the target got no new requests",
			rb.Stage, s.TargetPlatform, rb.From[s.TargetPlatform], s.TargetPlatform, rb.To[s.TargetPlatform], rb.DurationS))
	}

	switch {
	case len(fails) > 0:
		s.Verdict = report.Fail
	case len(unsure) > 0:
		s.Verdict = report.Inconclusive
	default:
		s.Verdict = report.Pass
		sort.Strings(held)
		judged := 0
		for _, st := range s.Stages {
			if st.Status != report.StageSkipped {
				judged++
			}
		}
		pass := fmt.Sprintf("every gate held across %d stages and all %d invariants held (%s) over %d operations", judged, len(held), strings.Join(held, ", "), s.Requests())
		if len(bottleneck) > 0 {
			pass = fmt.Sprintf("every gate that could be judged held across %d stages (latency not judged in %s: the machine was the bottleneck) and all %d invariants held (%s) over %d operations",
				judged, strings.Join(bottleneck, ", "), len(held), strings.Join(held, ", "), s.Requests())
		}
		fails = append(fails, pass)
		if len(observed) > 0 {
			notes = append([]string{"every fault left evidence: " + strings.Join(observed, "; ")}, notes...)
		}
	}
	s.Reasons = append(append(fails, unsure...), notes...)
}

// lastRun is the last stage that replayed traffic (not skipped).
func lastRun(stages []report.Stage) *report.Stage {
	for i := len(stages) - 1; i >= 0; i-- {
		if stages[i].Status != report.StageSkipped {
			return &stages[i]
		}
	}
	return nil
}

// weighted says whether the gate concerns traffic the stage's weights sent:
// a platform at weight 0 (or the unresolved requests, which always matter)
// is not a reason to hold back a promotion.
func weighted(st *report.Stage, g report.Gate) bool {
	if g.Platform == Unresolved || g.Platform == "" {
		return true
	}
	if st.Weights[g.Platform] == 0 {
		return false
	}
	return g.Compare == "" || st.Weights[g.Compare] > 0
}

func orAll(endpoint string) string {
	if endpoint == "" {
		return "all endpoints"
	}
	return endpoint
}

// detection says, for each fault followed by a gate breach, how long the
// gate took to notice ("the status page says all green": the gate is what
// tells).
func detection(s *report.Summary) []string {
	var breaches []report.Breach
	for _, st := range s.Stages {
		breaches = append(breaches, st.Breaches...)
	}
	var out []string
	for _, f := range s.Faults() {
		for _, b := range breaches {
			if b.At.Before(f.Start) || (!f.End.IsZero() && b.At.After(f.End.Add(30*time.Second))) {
				continue
			}
			out = append(out, fmt.Sprintf("the gate noticed %s %.1fs after it started (%s on %s)", f.Name, b.At.Sub(f.Start).Seconds(), report.MetricName(b.Metric), b.Platform))
			break
		}
	}
	return out
}
