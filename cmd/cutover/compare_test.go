package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/reporttest"
)

func synthRun(t *testing.T, o reporttest.Options) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), o.RunID)
	_, err := reporttest.Write(dir, o)
	require.NoError(t, err)
	return dir
}

func TestCompareCommand(t *testing.T) {
	a := synthRun(t, reporttest.Options{RunID: "a", Seed: 42, Noise: 1})
	same := synthRun(t, reporttest.Options{RunID: "same", Seed: 42, Noise: 2})
	slow := synthRun(t, reporttest.Options{RunID: "slow", Seed: 42, Noise: 3,
		TargetLatency: &reporttest.LatencyFault{Stage: 3, Extra: 80 * time.Millisecond}})

	code, out, stderr := runCLI("compare", "--max-regression", "10%", a, same)
	require.Equal(t, exitPass, code, stderr)
	require.Contains(t, out, "result: no significant change")
	require.Contains(t, out, "ramp-50")

	code, out, stderr = runCLI("compare", "--max-regression", "10%", a, slow)
	require.Equal(t, exitFail, code)
	require.Contains(t, out, "REGRESSION")
	require.Contains(t, stderr, "regressed beyond 10%")

	// The committed-baseline path: a run's profile.json compared to a run.
	baseline := filepath.Join(t.TempDir(), "staged-cutover.json")
	b, err := os.ReadFile(filepath.Join(a, report.ProfileFile))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(baseline, b, 0o644))
	code, out, stderr = runCLI("compare", "--json", "--max-regression", "10%", baseline, slow)
	require.Equal(t, exitFail, code, stderr)
	var c report.Comparison
	require.NoError(t, json.Unmarshal([]byte(out), &c))
	require.Equal(t, "a", c.A)
	require.Equal(t, "slow", c.B)
	require.NotEmpty(t, c.Regressions())

	// Without a bound, a significant change is reported but is not a failure.
	code, out, _ = runCLI("compare", a, slow)
	require.Equal(t, exitPass, code)
	require.Contains(t, out, "changed significantly")
}

func TestCompareCommandBadInput(t *testing.T) {
	a := synthRun(t, reporttest.Options{RunID: "a", Seed: 1, Noise: 1})
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"compare", a}, "accepts 2 arg(s)"},
		{[]string{"compare", a, filepath.Join(t.TempDir(), "missing")}, "no such file"},
		{[]string{"compare", "--max-regression", "lots", a, a}, "--max-regression"},
		{[]string{"compare", "--alpha", "2", a, a}, "--alpha"},
	} {
		code, _, stderr := runCLI(tc.args...)
		require.Equal(t, exitInput, code, tc.args)
		require.Contains(t, stderr, tc.msg, tc.args)
	}
}

func TestReportCommand(t *testing.T) {
	dir := synthRun(t, reporttest.Options{RunID: "again", Seed: 3, Noise: 3})
	page := filepath.Join(dir, report.ReportFile)
	require.NoError(t, os.Remove(page))

	code, out, stderr := runCLI("report", dir)
	require.Equal(t, exitPass, code, stderr)
	require.Contains(t, out, "again (pass): "+page)
	html, err := os.ReadFile(page)
	require.NoError(t, err)
	require.Contains(t, string(html), `<svg class="chart"`)

	code, _, stderr = runCLI("report", t.TempDir())
	require.Equal(t, exitInput, code)
	require.Contains(t, stderr, "summary.json")
}
