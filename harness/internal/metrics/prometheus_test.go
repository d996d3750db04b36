package metrics_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness"
	"github.com/cutover/cutover/harness/internal/metrics"
)

// TestPrometheusScrapesARun runs the real Prometheus server (Debian's
// prometheus package) against a short 1x rehearsal served at
// --metrics-addr, and checks that a PromQL query over its HTTP API gives
// every stage the request count of summary.json.
func TestPrometheusScrapesARun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a rehearsal of about 20 s under a Prometheus server")
	}
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("the Prometheus server is not installed (apt-get install prometheus, or make deps): ", err)
	}
	metricsAddr, promAddr := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	const scrapeEvery = 250 * time.Millisecond
	config := fmt.Sprintf("global: {scrape_interval: %s, scrape_timeout: %s}\nscrape_configs:\n  - job_name: cutover\n    static_configs: [{targets: [%q]}]\n",
		model.Duration(scrapeEvery), model.Duration(scrapeEvery), metricsAddr)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644))
	var logs strings.Builder
	prom := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	prom.Stdout, prom.Stderr = &logs, &logs
	require.NoError(t, prom.Start())
	t.Cleanup(func() {
		_ = prom.Process.Kill()
		_ = prom.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", logs.String())
		}
	})
	client, err := api.NewClient(api.Config{Address: "http://" + promAddr})
	require.NoError(t, err)
	q := promv1.NewAPI(client)
	ctx := context.Background()
	require.Eventually(t, func() bool { _, err := q.Buildinfo(ctx); return err == nil }, time.Minute, 100*time.Millisecond, "prometheus did not start")

	out, err := harness.RunScenario(ctx, "testdata/short.yaml", harness.Options{
		Out: filepath.Join(dir, "results"), ServiceBinary: couponapitest.Binary(t),
		MetricsAddr: metricsAddr, MetricsLinger: 4 * scrapeEvery,
	})
	require.NoError(t, err)
	require.NotEmpty(t, out.Summary.Stages)

	// The target is gone now and its series are stale; a range selector
	// still sees the last samples, and a counter's maximum is its final
	// value.
	res, warnings, err := q.Query(ctx, `sum by (stage) (max_over_time(cutover_requests_total{job="cutover"}[10m]))`, time.Now())
	require.NoError(t, err)
	require.Empty(t, warnings)
	got := map[string]int64{}
	for _, s := range res.(model.Vector) {
		got[string(s.Metric["stage"])] = int64(s.Value)
	}
	want := map[string]int64{}
	for _, st := range out.Summary.Stages {
		want[st.Name] = st.Requests
		require.Positive(t, st.Requests, "stage %s sent nothing", st.Name)
	}
	require.Equal(t, want, got)

	// Every query of the Grafana dashboard is valid PromQL for this server.
	for _, expr := range dashboardQueries(t) {
		if strings.HasPrefix(expr, "label_values(") {
			continue // Grafana's, not PromQL
		}
		_, _, err := q.Query(ctx, promQL(expr), time.Now())
		require.NoError(t, err, "dashboard query %s", expr)
	}

	// The final scrape in the results folder (OpenMetrics text) says the
	// same.
	b, err := os.ReadFile(filepath.Join(out.Dir, metrics.File))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(string(b), "# EOF\n"), "OpenMetrics ends with # EOF")
	final := map[string]int64{}
	for _, m := range finalRequests.FindAllStringSubmatch(string(b), -1) {
		n, err := strconv.ParseFloat(m[2], 64)
		require.NoError(t, err)
		final[m[1]] += int64(n)
	}
	require.Equal(t, want, final)
}

// finalRequests matches a series of cutover_requests_total in metrics.txt
// (labels in alphabetical order, so stage is last).
var finalRequests = regexp.MustCompile(`(?m)^cutover_requests_total\{.*stage="([^"]*)"\} (\S+)$`)

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
