// Package scenarios_test runs every shipped scenario in --quick mode and
// checks that each gives the verdict it expects; this is also the example
// of what a user puts in their own CI.
package scenarios_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/oracle"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/report/reporttest"
	"github.com/cutover/cutover/harness/run"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/harness/stack/docker"
	"github.com/cutover/cutover/harness/stack/docker/dockertest"
)

// checks holds what some scenarios must show beyond their verdict.
var checks = map[string]func(t *testing.T, out *run.Outcome){
	"dns-ttl-stickiness": func(t *testing.T, out *run.Outcome) {
		last := out.Summary.Stages[len(out.Summary.Stages)-1]
		require.Equal(t, 100, last.Weights["aws"])
		require.Greater(t, last.ObservedSplit["heroku"], 15.0,
			"clients that ignore the TTL keep sending to Heroku after the weights say aws 100")
	},
	"gate-rollback": func(t *testing.T, out *run.Outcome) {
		requireReportRenders(t, out, "rolled back")
		rb := out.Summary.Rollback
		require.NotNil(t, rb, "the gate breach must roll the weights back")
		require.Equal(t, 25, rb.To["aws"])
		statuses := map[string]int{}
		for _, st := range out.Summary.Stages {
			statuses[st.Status]++
		}
		require.Equal(t, 1, statuses[report.StageRolledBack])
		require.Equal(t, 1, statuses[report.StageSkipped], "the stage after the rollback is skipped")
	},
	"flaky-heroku": func(t *testing.T, out *run.Outcome) {
		var platforms []string
		for _, st := range out.Summary.Stages {
			for _, b := range st.Breaches {
				platforms = append(platforms, b.Platform)
			}
		}
		require.Contains(t, platforms, "heroku", "the breach is on the flaky platform")
		require.NotContains(t, platforms, "aws")
	},
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	bin := couponapitest.Binary(t)
	for _, f := range files {
		name := strings.TrimSuffix(f, ".yaml")
		t.Run(name, func(t *testing.T) {
			s, err := scenario.Load(f)
			require.NoError(t, err)
			if testing.Short() && s.Expect.Slow {
				t.Skipf("%s is marked slow (expect.slow); run without -short", f)
			}
			out := harness.Run(t, f, harness.Quick(), harness.ServiceBinary(bin))
			require.NoError(t, out.Summary.Validate(), "summary.json keeps its documented format")
			if check := checks[name]; check != nil {
				check(t, out)
			}
		})
	}
}

// TestSameSeedSameRun runs a scenario with faults twice with one seed: the
// same requests in the same order, the same routing decisions and the same
// fault timeline.
func TestSameSeedSameRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scenario twice; skipped in -short")
	}
	bin := couponapitest.Binary(t)
	const f = "smoke.yaml"
	a := harness.Run(t, f, harness.Quick(), harness.ServiceBinary(bin))
	b := harness.Run(t, f, harness.Quick(), harness.ServiceBinary(bin))

	type request struct{ ID, F, Stage, Voucher, Key, Platform string }
	requests := func(dir string) []request {
		fh, err := os.Open(filepath.Join(dir, report.HistoryFile))
		require.NoError(t, err)
		defer fh.Close()
		ops, err := history.Read(fh, dir)
		require.NoError(t, err)
		var out []request
		for _, op := range ops {
			// Retries depend on which requests timed out, and a rollback is
			// only sent when its redeem succeeded: both depend on latency.
			// Compare the other planned requests.
			if op.Type == history.Invoke && op.Process != history.Nemesis && !strings.Contains(op.ID, ".r") && op.F != history.Rollback {
				out = append(out, request{op.ID, op.F, op.Stage, op.Voucher, op.IdempotencyKey, op.Platform})
			}
		}
		// The plan's order: request ids follow the trace.
		sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
		return out
	}
	ra, rb := requests(a.Dir), requests(b.Dir)
	require.NotEmpty(t, ra)
	require.Equal(t, len(ra), len(rb), "the same number of requests")
	var diff []string
	for i := range ra {
		if ra[i] != rb[i] {
			diff = append(diff, fmt.Sprintf("%+v != %+v", ra[i], rb[i]))
		}
	}
	require.Empty(t, diff, "requests, their order and their routing must be the same (first run %s, second %s)", a.Dir, b.Dir)

	faults := func(s *report.Summary) []string {
		var out []string
		for _, f := range s.Faults() {
			out = append(out, f.Name+"@"+f.Target)
		}
		return out
	}
	require.Equal(t, faults(a.Summary), faults(b.Summary))
	require.True(t, slices.Equal(stageNames(a.Summary), stageNames(b.Summary)))

	// As a regression benchmark: the two runs compare without a regression;
	// a third with latency injected on the target's database link is
	// reported as one.
	pa, err := report.LoadProfile(a.Dir)
	require.NoError(t, err)
	pb, err := report.LoadProfile(b.Dir)
	require.NoError(t, err)
	same := report.Compare(pa, pb, report.CompareOptions{MaxRegression: 0.5})
	require.Empty(t, same.Regressions(), "two runs of one seed")

	body, err := os.ReadFile(f)
	require.NoError(t, err)
	slow := filepath.Join(t.TempDir(), "smoke-slow-db.yaml")
	require.NoError(t, os.WriteFile(slow, []byte(strings.Replace(string(body),
		"  - set_weights: {heroku: 0, aws: 100}",
		"  - set_weights: {heroku: 0, aws: 100}\n  - fault: {kind: latency, target: \"aws->postgres\", params: {latency: 40ms}}", 1)), 0o644))
	// The copy's trace paths are relative to the scenarios folder.
	body2, err := os.ReadFile(slow)
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(slow, []byte(strings.ReplaceAll(string(body2), "../fixtures/", filepath.Join(wd, "..", "fixtures")+"/")), 0o644))
	c := run.Options{Quick: true, ServiceBinary: bin, Out: filepath.Join(t.TempDir(), "slow")}
	slowRun, err := run.Run(context.Background(), slow, c)
	require.NoError(t, err)
	ps, err := report.LoadProfile(slowRun.Dir)
	require.NoError(t, err)
	cmp := report.Compare(pa, ps, report.CompareOptions{MaxRegression: 0.1})
	var regressed []string
	for _, ch := range cmp.Regressions() {
		regressed = append(regressed, ch.Stage+" "+ch.Endpoint)
	}
	require.NotEmpty(t, regressed, "40 ms on every database round trip of the target's last stage is a regression")
	for _, r := range regressed {
		require.True(t, strings.HasPrefix(r, a.Summary.Stages[len(a.Summary.Stages)-1].Name), "only the stage with the fault regressed: %v", regressed)
	}
}

// requireReportRenders opens the run's report.html in headless Chromium and
// checks that its four charts were drawn and that it says want.
func requireReportRenders(t *testing.T, out *run.Outcome, want string) {
	t.Helper()
	bin := reporttest.FindChromium(t)
	dom := string(reporttest.Chromium(t, bin, filepath.Join(out.Dir, report.ReportFile), "--dump-dom"))
	charts, paths := reporttest.Charts(dom)
	require.Len(t, charts, 4, "latency over time, split, errors, budgets")
	for i := range charts {
		require.Greater(t, paths[i], 5, "chart %d has drawing in it", i)
	}
	require.Contains(t, dom, want)
}

func stageNames(s *report.Summary) []string {
	var out []string
	for _, st := range s.Stages {
		out = append(out, st.Name)
	}
	return out
}

// TestDockerDriverSameVerdict runs the smoke scenario on the docker driver
// (containers of the images `make images` builds) and checks it gives the
// verdict it expects — the one TestScenarios/smoke gets from the embedded
// driver.
func TestDockerDriverSameVerdict(t *testing.T) {
	cli := dockertest.Engine(t)
	im := docker.LocalImages()
	dockertest.RequireImages(t, cli, im.Postgres, im.Redis, im.Mongo, im.LocalStack, im.Toxiproxy, im.Service)
	bin := couponapitest.Binary(t)
	const f = "smoke.yaml"
	s, err := scenario.Load(f)
	require.NoError(t, err)
	containers := harness.Run(t, f, harness.Quick(), harness.ServiceBinary(bin), harness.Infra("docker"))
	require.Equal(t, "docker", containers.Summary.Driver)
	require.Equal(t, s.Expect.Verdict, string(containers.Summary.Verdict), "the same scenario gives the same verdict whatever the driver")
	require.Len(t, containers.Summary.Invariants, len(oracle.Names()), "every invariant was checked")
}
