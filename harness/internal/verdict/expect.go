package verdict

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
)

// Unexpected lists how the outcome s differs from what the scenario's
// expect section says, and why: a scenario meets its expectation only
// when it gives the expected verdict for the expected reasons — the gates
// it names broke and no other, the invariants it names failed and no
// other, the faults it names (and every fault whose effect is required)
// left evidence. Empty when the outcome is as expected.
func Unexpected(exp scenario.Expect, s *report.Summary) []string {
	var out []string
	if string(s.Verdict) != exp.Verdict {
		out = append(out, fmt.Sprintf("verdict %s, expected %s (%s)", s.Verdict, exp.Verdict, strings.Join(first(s.Reasons, 3), "; ")))
	}

	// Invariants: exactly the named ones fail.
	want, may := map[string]bool{}, map[string]bool{}
	for _, n := range exp.FailingInvariants {
		want[n] = true
	}
	for _, n := range exp.MayAlsoFail {
		may[n] = true
	}
	got := map[string]bool{}
	for _, inv := range s.Invariants {
		switch inv.Result {
		case report.InvariantBroken:
			got[inv.Name] = true
			if !want[inv.Name] && !may[inv.Name] {
				out = append(out, fmt.Sprintf("invariant %s failed, which the scenario does not expect (%d violations)", inv.Name, inv.Violations))
			}
		case report.InvariantUnknown:
			if exp.Verdict != string(report.Inconclusive) {
				out = append(out, fmt.Sprintf("invariant %s could not be decided: %s", inv.Name, inv.Reason))
			}
		}
	}
	for _, n := range sorted(want) {
		if !got[n] {
			out = append(out, fmt.Sprintf("invariant %s was expected to fail but did not", n))
		}
	}

	// Breaches: every expected one happened, and nothing else broke. A
	// stage's breaches hold every budget that broke in it, during the
	// stage or over the whole of it.
	var breaches []report.Breach
	for _, st := range s.Stages {
		breaches = append(breaches, st.Breaches...)
	}
	for _, e := range exp.Breaches {
		matched := false
		for _, b := range breaches {
			matched = matched || matches(e, b)
		}
		if !matched {
			out = append(out, fmt.Sprintf("expected the gate to break (%s), but it did not", describeExpected(e)))
		}
	}
	reported := map[string]bool{}
	for _, b := range breaches {
		ok := false
		for _, e := range slices.Concat(exp.Breaches, exp.MayAlsoBreak) {
			ok = ok || matches(e, b)
		}
		label := fmt.Sprintf("%s of %s on %s in %s", report.MetricName(b.Metric), orAll(b.Endpoint), b.Platform, b.Stage)
		if !ok && !reported[label] {
			reported[label] = true
			out = append(out, fmt.Sprintf("the gate broke for a reason the scenario does not expect: %s (%s, budget %s)",
				label, report.MetricValue(b.Metric, b.Observed), report.MetricValue(b.Metric, b.Budget)))
		}
	}

	// Faults: the named ones, and every required one, left evidence.
	named := map[string]bool{}
	for _, n := range exp.ObservedFaults {
		named[n] = true
	}
	seen := map[string]bool{}
	for _, f := range append(s.Faults(), s.Conditions...) {
		seen[f.Name] = true
		switch {
		case f.Error != "":
			out = append(out, fmt.Sprintf("fault %s could not run: %s", f.Name, f.Error))
		case !f.Effect.Observed && (named[f.Name] || (f.Effect.Required && exp.Verdict != string(report.Inconclusive))):
			out = append(out, fmt.Sprintf("fault %s left no evidence (%s)", f.Name, f.Effect.Summary))
		}
	}
	for _, n := range sorted(named) {
		if !seen[n] {
			out = append(out, fmt.Sprintf("fault %s was expected to leave evidence but never started", n))
		}
	}
	return out
}

// matches says whether breach b is the one e names (empty fields match
// anything). Metric is written p50/p95/p99/error_rate in scenarios.
func matches(e scenario.ExpectedBreach, b report.Breach) bool {
	return (e.Stage == "" || e.Stage == b.Stage) &&
		(e.Platform == "" || e.Platform == b.Platform) &&
		(e.Endpoint == "" || e.Endpoint == b.Endpoint) &&
		(e.Metric == "" || metricOf(e.Metric) == b.Metric)
}

func describeExpected(e scenario.ExpectedBreach) string {
	var parts []string
	for _, kv := range [][2]string{{"stage", e.Stage}, {"platform", e.Platform}, {"endpoint", e.Endpoint}, {"metric", e.Metric}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	if len(parts) == 0 {
		return "any gate"
	}
	return strings.Join(parts, ", ")
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func first(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}
