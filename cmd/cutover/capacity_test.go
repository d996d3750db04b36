package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Bad input to cutover capacity gets exit 2 and an error naming the file,
// line and field, before any probe starts.
func TestCapacityRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.yaml")
	require.NoError(t, os.WriteFile(prices, []byte(`heroku:
  - name: standard-1x
    memory_mb: 512
    cores: 0.167
    monthly_usd: 25
    source: https://example.invalid/heroku
ec2:
  - name: m5.large
    vcpu: 2
    memory_gib: 8
    hourly_usd: 0.096
    source: https://example.invalid/ec2
    as_of: 2024-10-01
`), 0o644))
	scn := filepath.Join(dir, "demo.yaml")
	require.NoError(t, os.WriteFile(scn, []byte(validScenario), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a price without its date", []string{"capacity", scn, "--prices", prices}, prices + ":2: heroku[0].as_of: every price needs the date"},
		{"no prices file", []string{"capacity", scn, "--prices", filepath.Join(dir, "none.yaml")}, "read prices"},
		{"negative headroom", []string{"capacity", scn, "--headroom", "-0.1"}, "--headroom: negative"},
		{"no scenario", []string{"capacity", filepath.Join(dir, "none.yaml")}, "read scenario"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := execute(append(tc.args, "--out", filepath.Join(dir, "out")), &stdout, &stderr)
			require.Equal(t, exitInput, code, stderr.String())
			require.Contains(t, stderr.String(), tc.want)
			_, err := os.Stat(filepath.Join(dir, "out", "probes"))
			require.True(t, os.IsNotExist(err), "nothing started")
		})
	}
}

// --from prices an earlier measurement again without measuring: a dearer
// price file gives a dearer answer.
func TestCapacityFromEarlierMeasurement(t *testing.T) {
	dir := t.TempDir()
	m := `{"measurement": {"scenario": "demo", "peak_rate_rps": 100, "heroku_dynos": 2, "heroku_size": "standard-1x", "fleets": [
	  {"platform": "heroku", "replicas": 1, "best": {"served_rps": 300, "cpu_s_per_request": 0.001, "cpu_cores_p95": 0.3, "peak_memory_mb": 30, "p95_ms": 20}, "probes": [{"peak_memory_mb": 30}]},
	  {"platform": "heroku", "replicas": 2, "best": {"served_rps": 500, "cpu_s_per_request": 0.001, "cpu_cores_p95": 0.3, "peak_memory_mb": 30, "p95_ms": 20}, "probes": [{"peak_memory_mb": 30}]},
	  {"platform": "aws", "replicas": 1, "best": {"served_rps": 300, "cpu_s_per_request": 0.001, "cpu_cores_p95": 0.3, "peak_memory_mb": 30, "p95_ms": 20}, "probes": [{"peak_memory_mb": 30}]},
	  {"platform": "aws", "replicas": 2, "best": {"served_rps": 500, "cpu_s_per_request": 0.001, "cpu_cores_p95": 0.3, "peak_memory_mb": 30, "p95_ms": 20}, "probes": [{"peak_memory_mb": 30}]}]}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "capacity.json"), []byte(m), 0o644))
	shipped, err := os.ReadFile(filepath.Join("..", "..", "harness", "capacity", "prices.yaml"))
	require.NoError(t, err)
	dear := filepath.Join(dir, "dear.yaml")
	require.NoError(t, os.WriteFile(dear, bytes.ReplaceAll(shipped, []byte("monthly_usd: 25\n"), []byte("monthly_usd: 40\n")), 0o644))

	var out1, out2, errs bytes.Buffer
	require.Equal(t, exitPass, execute([]string{"capacity", "--from", dir, "--out", filepath.Join(dir, "a")}, &out1, &errs), errs.String())
	require.Equal(t, exitPass, execute([]string{"capacity", "--from", dir, "--out", filepath.Join(dir, "b"), "--prices", dear}, &out2, &errs), errs.String())
	require.Contains(t, out1.String(), "today's fleet 2 × standard-1x ($50/month)")
	require.Contains(t, out2.String(), "today's fleet 2 × standard-1x ($80/month)")
	require.NotEqual(t, out1.String(), out2.String())
	_, err = os.Stat(filepath.Join(dir, "a", "capacity.html"))
	require.NoError(t, err)
}

// --bulk-deployment prints both answers: the target as one Deployment and
// with bulk work in a Deployment of its own; without bulk work measured
// apart, it says so (exit 1, the measurement kept).
func TestCapacityBulkDeployment(t *testing.T) {
	dir := t.TempDir()
	probe := `{"served_rps": %d, "cpu_s_per_request": 0.001, "cpu_cores_p95": 0.3, "peak_memory_mb": 30, "p95_ms": 20}`
	m := fmt.Sprintf(`{"measurement": {"scenario": "demo", "peak_rate_rps": 100, "bulk_rate_rps": 0.01, "heroku_dynos": 2, "heroku_size": "standard-1x", "fleets": [
	  {"platform": "heroku", "replicas": 1, "best": %[1]s, "probes": [{"peak_memory_mb": 30, "web_peak_memory_mb": 30}]},
	  {"platform": "heroku", "replicas": 2, "best": %[2]s, "probes": [{"peak_memory_mb": 30, "web_peak_memory_mb": 30}]},
	  {"platform": "aws", "replicas": 1, "best": %[1]s, "probes": [{"peak_memory_mb": 30, "web_peak_memory_mb": 30, "setup_peak_memory_mb": 1800, "bulk_cpu_cores": 0.4}]},
	  {"platform": "aws", "replicas": 2, "best": %[2]s, "probes": [{"peak_memory_mb": 30, "web_peak_memory_mb": 30}]}]}}`,
		fmt.Sprintf(probe, 300), fmt.Sprintf(probe, 500))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "capacity.json"), []byte(m), 0o644))

	var out, errs bytes.Buffer
	require.Equal(t, exitPass, execute([]string{"capacity", "--from", dir, "--out", filepath.Join(dir, "a"), "--bulk-deployment"}, &out, &errs), errs.String())
	require.Contains(t, out.String(), "bulk as its own Deployment")
	require.Contains(t, out.String(), "web + 1 bulk pods on")
	require.Contains(t, out.String(), "web pods request 0.36 cores and 36 MB (one Deployment: 2160 MB), bulk pods 0.48 cores and 2160 MB")
	require.Regexp(t, `target \d+\.\d× \(\d+\.\d× with bulk as its own Deployment\)`, out.String())
	b, err := os.ReadFile(filepath.Join(dir, "a", "capacity.json"))
	require.NoError(t, err)
	require.Contains(t, string(b), `"bulk_deployment": {`)

	out.Reset()
	require.Equal(t, exitPass, execute([]string{"capacity", "--from", dir, "--out", filepath.Join(dir, "b")}, &out, &errs), errs.String())
	require.NotContains(t, out.String(), "bulk as its own Deployment")

	old := filepath.Join(dir, "old")
	require.NoError(t, os.MkdirAll(old, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(old, "capacity.json"), bytes.ReplaceAll([]byte(m), []byte(`"bulk_cpu_cores": 0.4`), []byte(`"bulk_cpu_cores": 0`)), 0o644))
	errs.Reset()
	require.Equal(t, exitFail, execute([]string{"capacity", "--from", old, "--out", filepath.Join(dir, "c"), "--bulk-deployment"}, &out, &errs))
	require.Contains(t, errs.String(), "bulk deployment: the bulk work's memory and CPU must be measured")
}

// The database binds first when Postgres's CPU per request, on the cores
// it has, cannot carry the demand; --db-cores gives it more.
func TestCapacityDatabaseBinds(t *testing.T) {
	dir := t.TempDir()
	probe := `{"served_rps": %d, "cpu_s_per_request": 0.001, "cpu_cores_p95": 0.3, "peak_memory_mb": 30, "p95_ms": 20, "db_cpu_s_per_request": 0.005, "db_cores_p95": 0.9}`
	m := fmt.Sprintf(`{"measurement": {"scenario": "demo", "peak_rate_rps": 100, "heroku_dynos": 2, "heroku_size": "standard-1x",
	  "machine_cores": 2, "db_max_connections": 400, "db_pool_per_replica": 10, "fleets": [
	  {"platform": "heroku", "replicas": 1, "best": %[1]s, "probes": [{"peak_memory_mb": 30}]},
	  {"platform": "heroku", "replicas": 2, "best": %[2]s, "probes": [{"peak_memory_mb": 30}]},
	  {"platform": "aws", "replicas": 1, "best": %[1]s, "probes": [{"peak_memory_mb": 30}]},
	  {"platform": "aws", "replicas": 2, "best": %[2]s, "probes": [{"peak_memory_mb": 30}]}]}}`,
		fmt.Sprintf(probe, 300), fmt.Sprintf(probe, 500))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "capacity.json"), []byte(m), 0o644))
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		// 2 cores / (5 ms × 1.2) = 333 req/s.
		{"on the rehearsal machine's cores", nil, []string{
			"binds first on target: ", "the database binds first, at 4.0× (database CPU: Postgres at 5.00 ms of CPU a request needs more than its 2 cores above 333 req/s)",
			"The database: Postgres may use 2 cores",
		}},
		{"on a bigger database", []string{"--db-cores", "20", "--db-pool", "20"}, []string{
			"the database does not bind in this range: its CPU carries 3333 req/s (33.3×) at 5.00 ms a request; its connections admit 20 replicas",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, errs bytes.Buffer
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			require.Equal(t, exitPass, execute(append([]string{"capacity", "--from", dir, "--out", out}, tc.args...), &stdout, &errs), errs.String())
			b, err := os.ReadFile(filepath.Join(out, "capacity.json"))
			require.NoError(t, err)
			for _, w := range tc.want {
				require.True(t, strings.Contains(stdout.String(), w) || strings.Contains(string(b), w), "%q in\n%s", w, stdout.String())
			}
		})
	}
}
