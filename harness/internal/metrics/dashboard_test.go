package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	couponapimetrics "github.com/cutover/cutover/couponapi/metrics"
	"github.com/cutover/cutover/harness/internal/metrics"
)

// dashboardFile is the Grafana dashboard shipped for the live view.
const dashboardFile = "../../../deploy/grafana/cutover.json"

// dashboardQueries returns every PromQL expression of the dashboard: the
// panels' targets and the template variables' queries.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var doc any
	require.NoError(t, json.Unmarshal(b, &doc))
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && (k == "expr" || k == "definition") {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	require.NotEmpty(t, out, "no query in %s", dashboardFile)
	return out
}

// promQL substitutes the dashboard's variables as Grafana would for one
// scenario.
func promQL(expr string) string {
	return strings.NewReplacer("$__rate_interval", "1m", "$scenario", ".*").Replace(expr)
}

var metricName = regexp.MustCompile(`\b(?:cutover|couponapi)_[a-z0-9_]+\b`)

// Every metric the dashboard queries is one the harness or the reference
// service exposes, so the board cannot go blank on a renamed metric; and
// every family either exposes is on the board.
func TestDashboardQueriesExposedMetrics(t *testing.T) {
	exposed := append(metrics.Names(), couponapimetrics.Names()...)
	used := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		names := metricName.FindAllString(q, -1)
		require.NotEmpty(t, names, "query names no cutover or couponapi metric: %s", q)
		for _, n := range names {
			require.True(t, slices.Contains(exposed, n), "the dashboard queries %s, which nothing exposes (query %s)", n, q)
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
		}
	}
	for _, n := range exposed {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		require.True(t, used[base], "%s is exposed but not on the dashboard", base)
	}
}
