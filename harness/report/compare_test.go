package report_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/reporttest"
)

func writeRun(t *testing.T, o reporttest.Options) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), o.RunID)
	_, err := reporttest.Write(dir, o)
	require.NoError(t, err)
	return dir
}

func loadProfile(t *testing.T, dir string) *report.Profile {
	t.Helper()
	p, err := report.LoadProfile(dir)
	require.NoError(t, err)
	return p
}

// Two runs of one seed send the same requests; only the machine's noise
// differs. Compare must call that no change, at any of several noises.
func TestCompareSameSeedFindsNoChange(t *testing.T) {
	base := loadProfile(t, writeRun(t, reporttest.Options{RunID: "a", Seed: 42, Noise: 1}))
	for _, noise := range []uint64{2, 3, 4} {
		b := loadProfile(t, writeRun(t, reporttest.Options{RunID: "b", Seed: 42, Noise: noise}))
		c := report.Compare(base, b, report.CompareOptions{MaxRegression: 0.10})
		require.NotEmpty(t, c.Rows)
		require.Empty(t, c.OnlyInA)
		require.Empty(t, c.OnlyInB)
		require.Empty(t, c.Significant(), "noise %d: %+v", noise, c.Significant())
		require.Empty(t, c.Regressions())
		for _, r := range c.Rows {
			require.Equal(t, r.A.Requests, r.B.Requests, "one seed sends the same requests: %s/%s", r.Stage, r.Endpoint)
		}
	}
}

// A latency toxic on the target during the 50% stage must show up as a
// significant regression of that stage — and only there.
func TestCompareFindsInjectedLatency(t *testing.T) {
	a := loadProfile(t, writeRun(t, reporttest.Options{RunID: "clean", Seed: 42, Noise: 1}))
	b := loadProfile(t, writeRun(t, reporttest.Options{RunID: "toxic", Seed: 42, Noise: 2,
		TargetLatency: &reporttest.LatencyFault{Stage: 3, Extra: 80 * time.Millisecond}}))
	c := report.Compare(a, b, report.CompareOptions{MaxRegression: 0.10})

	regressed := map[string]bool{}
	for _, r := range c.Regressions() {
		regressed[r.Stage+"/"+r.Endpoint] = true
		require.Equal(t, "ramp-50", r.Stage, "only the faulted stage regresses: %+v", r)
		require.Equal(t, report.ShiftSlower, r.LatencyShift)
		require.NotEmpty(t, r.Why)
	}
	require.True(t, regressed["ramp-50/all"], "the stage as a whole regressed: %v", regressed)
	require.True(t, regressed["ramp-50/validate"], "the busiest endpoint regressed: %v", regressed)

	var text bytes.Buffer
	require.NoError(t, c.WriteText(&text))
	require.Contains(t, text.String(), "REGRESSION")
	require.Contains(t, text.String(), "regressed beyond +10.0%")
	require.Contains(t, text.String(), "Mann–Whitney U")

	// The other way round it is an improvement, not a regression.
	back := report.Compare(b, a, report.CompareOptions{MaxRegression: 0.10})
	require.Empty(t, back.Regressions())
	require.NotEmpty(t, back.Significant())
	for _, r := range back.Significant() {
		require.Equal(t, report.ShiftFaster, r.LatencyShift)
	}
}

// A stage the rehearsal machine was the bottleneck of, on either side,
// measured the machine: its latency is shown but is not a regression, as
// a run does not judge that stage's latency budgets. Its error rate still
// counts. A baseline file keeps the judgement.
func TestCompareDoesNotJudgeLatencyOfAMachineBoundStage(t *testing.T) {
	clean := writeRun(t, reporttest.Options{RunID: "clean", Seed: 42, Noise: 1})
	slow := reporttest.Options{RunID: "toxic", Seed: 42, Noise: 2,
		TargetLatency: &reporttest.LatencyFault{Stage: 3, Extra: 80 * time.Millisecond}}
	require.NotEmpty(t, report.Compare(loadProfile(t, clean), loadProfile(t, writeRun(t, slow)), report.CompareOptions{MaxRegression: 0.10}).Regressions(),
		"the fault regresses the stage when the machine kept up")

	bound := slow
	bound.RunID, bound.Saturated = "toxic-saturated", 3
	savedClean := loadProfile(t, filepath.Join(clean, report.ProfileFile))
	for _, tc := range []struct {
		name string
		a, b *report.Profile
		side string
	}{
		{"in B", loadProfile(t, clean), loadProfile(t, writeRun(t, bound)), "in B: "},
		{"in A", loadProfile(t, writeRun(t, bound)), savedClean, "in A: "},
	} {
		c := report.Compare(tc.a, tc.b, report.CompareOptions{MaxRegression: 0.10})
		require.Empty(t, c.Regressions(), tc.name)
		var notJudged int
		for _, r := range c.Rows {
			if r.Stage != "ramp-50" {
				require.Empty(t, r.MachineBound, "%s: %s/%s", tc.name, r.Stage, r.Endpoint)
				continue
			}
			notJudged++
			require.Contains(t, r.MachineBound, tc.side+"cpu", tc.name)
		}
		require.NotZero(t, notJudged, tc.name)
		var text bytes.Buffer
		require.NoError(t, c.WriteText(&text))
		require.Contains(t, text.String(), "latency not judged in ramp-50: the rehearsal machine, not a platform, was the bottleneck "+tc.side, tc.name)
		require.NotContains(t, text.String(), "REGRESSION", tc.name)
	}

	// A baseline file carries the judgement.
	dir := writeRun(t, bound)
	fromFile := loadProfile(t, filepath.Join(dir, report.ProfileFile))
	require.Contains(t, fromFile.MachineBound, "ramp-50")
	require.Len(t, fromFile.MachineBound, 1)

	// More errors in a machine-bound stage still regress it.
	h12 := reporttest.Options{RunID: "h12", Seed: 9, Noise: 1, RouterTimeouts: true, Saturated: 2}
	c := report.Compare(loadProfile(t, writeRun(t, reporttest.Options{RunID: "clean", Seed: 9, Noise: 1})), loadProfile(t, writeRun(t, h12)), report.CompareOptions{MaxRegression: 0.10})
	var found bool
	for _, r := range c.Regressions() {
		require.Equal(t, "ramp-25", r.Stage)
		require.NotEmpty(t, r.MachineBound)
		require.Equal(t, report.ShiftHigher, r.ErrorShift)
		found = true
	}
	require.True(t, found, "H12s in a machine-bound ramp-25 still raise its error rate")
}

func TestCompareFindsMoreErrors(t *testing.T) {
	a := loadProfile(t, writeRun(t, reporttest.Options{RunID: "clean", Seed: 9, Noise: 1}))
	b := loadProfile(t, writeRun(t, reporttest.Options{RunID: "h12", Seed: 9, Noise: 1, RouterTimeouts: true}))
	c := report.Compare(a, b, report.CompareOptions{MaxRegression: 0.10})
	var found bool
	for _, r := range c.Regressions() {
		if r.Stage == "ramp-25" && r.Endpoint == report.AllEndpoints {
			found = true
			require.Equal(t, report.ShiftHigher, r.ErrorShift)
		}
	}
	require.True(t, found, "H12s in ramp-25 raise its error rate: %+v", c.Regressions())
}

// A baseline is a profile file; comparing against it equals comparing
// against the folder it came from, and it is much smaller than the data.
func TestBaselineRoundTrip(t *testing.T) {
	dir := writeRun(t, reporttest.Options{RunID: "base", Seed: 5, Noise: 5})
	other := loadProfile(t, writeRun(t, reporttest.Options{RunID: "next", Seed: 5, Noise: 6}))

	// Render wrote profile.json beside the report.
	path := filepath.Join(dir, report.ProfileFile)
	fromFile := loadProfile(t, path)
	fromDir := loadProfile(t, dir)
	require.Equal(t, "vegeta", fromDir.Source)

	want, err := json.Marshal(report.Compare(fromDir, other, report.CompareOptions{}))
	require.NoError(t, err)
	got, err := json.Marshal(report.Compare(fromFile, other, report.CompareOptions{}))
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(got))

	// Without the vegeta results, the history gives the same rows.
	require.NoError(t, os.RemoveAll(filepath.Join(dir, report.StagesDir)))
	fromHistory := loadProfile(t, dir)
	require.Equal(t, "history", fromHistory.Source)
	require.Len(t, fromHistory.Rows, len(fromDir.Rows))
	for i := range fromDir.Rows {
		require.Equal(t, fromDir.Rows[i].Stage, fromHistory.Rows[i].Stage)
		require.Equal(t, fromDir.Rows[i].Endpoint, fromHistory.Rows[i].Endpoint)
		require.Equal(t, fromDir.Rows[i].Requests, fromHistory.Rows[i].Requests)
		require.Equal(t, fromDir.Rows[i].Errors, fromHistory.Rows[i].Errors)
	}
}

func TestLoadProfileRejectsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "summary.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"format_version":1,"run_id":"x"}`), 0o644))
	_, err := report.LoadProfile(bad)
	require.ErrorContains(t, err, "profile has no rows")
	_, err = report.LoadProfile(dir)
	require.ErrorContains(t, err, "no stage results")
}

func TestParsePercent(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"10%", 0.10, true}, {" 2.5 % ", 0.025, true}, {"0.1", 0.1, true}, {"0", 0, true},
		{"-5%", 0, false}, {"ten", 0, false}, {"%", 0, false}, {"NaN", 0, false},
	} {
		got, err := report.ParsePercent(tc.in)
		if !tc.ok {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.InDelta(t, tc.want, got, 1e-12, tc.in)
	}
}
