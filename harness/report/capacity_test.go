package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/capacity"
)

func TestWriteCapacity(t *testing.T) {
	prices, err := capacity.DefaultPrices()
	require.NoError(t, err)
	fit, err := capacity.FitUSL([]capacity.Point{{N: 1, X: 400}, {N: 2, X: 700}, {N: 3, X: 900}})
	require.NoError(t, err)
	prof := capacity.Profile{Fit: fit, CPUPerRequest: 0.002, CPUCoresP95: 0.8, PeakMemoryMB: 40, LatencyP95S: 0.05, DBCPUPerRequest: 0.000375}
	plan, err := capacity.Compute(capacity.Inputs{PeakRate: 94, Heroku: prof, Target: prof, Prices: prices, Headroom: 0.2, CurrentDynos: 3, CurrentSize: "standard-1x"})
	require.NoError(t, err)
	c := &Capacity{Scenario: "staged-cutover", Plan: plan, Prices: prices,
		Profiles:    map[string]capacity.Profile{"heroku": prof, "aws": prof},
		Assumptions: []string{"A month is 730 hours."}}
	dir := t.TempDir()
	require.NoError(t, WriteCapacity(dir, c))

	b, err := os.ReadFile(filepath.Join(dir, CapacityFile))
	require.NoError(t, err)
	var back Capacity
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, plan.Rows, back.Plan.Rows)
	require.Equal(t, 1, back.FormatVersion)

	page, err := os.ReadFile(filepath.Join(dir, CapacityPage))
	require.NoError(t, err)
	html := string(page)
	require.Equal(t, 2, strings.Count(html, "<svg "), "the cost curves and the fit")
	require.Contains(t, html, "Monthly cost against traffic")
	require.Contains(t, html, "heroku USL (R²")
	require.Contains(t, html, "A month is 730 hours.")
	require.Contains(t, html, "<td>10.0×</td>")
	require.Contains(t, html, "<td>0.38</td>", "Postgres's CPU per request, in ms")
	require.NotContains(t, html, "Bulk work as its own Deployment")
}

// With bulk work priced as its own Deployment, the page shows both
// answers side by side.
func TestWriteCapacityBulkDeployment(t *testing.T) {
	prices, err := capacity.DefaultPrices()
	require.NoError(t, err)
	fit, err := capacity.FitUSL([]capacity.Point{{N: 1, X: 400}, {N: 2, X: 700}, {N: 3, X: 900}})
	require.NoError(t, err)
	prof := capacity.Profile{Fit: fit, CPUPerRequest: 0.002, CPUCoresP95: 0.8, PeakMemoryMB: 1500, WebPeakMemoryMB: 40, LatencyP95S: 0.05,
		Bulk: capacity.Bulk{PeakMemoryMB: 1500, CPUCores: 0.5}}
	plan, err := capacity.Compute(capacity.Inputs{PeakRate: 94, Heroku: prof, Target: prof, Prices: prices, Headroom: 0.2, CurrentDynos: 3, CurrentSize: "standard-1x", BulkDeployment: true})
	require.NoError(t, err)
	c := &Capacity{Scenario: "staged-cutover", Plan: plan, Prices: prices, Profiles: map[string]capacity.Profile{"heroku": prof, "aws": prof}}
	dir := t.TempDir()
	require.NoError(t, WriteCapacity(dir, c))
	page, err := os.ReadFile(filepath.Join(dir, CapacityPage))
	require.NoError(t, err)
	html := string(page)
	require.Contains(t, html, "Bulk work as its own Deployment")
	require.Contains(t, html, plan.BulkDeployment.Summary[:40])
	last := plan.Rows[len(plan.Rows)-1].Split
	require.NotNil(t, last)
	require.Contains(t, html, fmt.Sprintf(`<td>%d</td><td>%d</td><td>%d</td><td class="l">%s</td>`, last.WebPods, last.BulkPods, last.Nodes, last.Instance))
	b, err := os.ReadFile(filepath.Join(dir, CapacityFile))
	require.NoError(t, err)
	require.Contains(t, string(b), `"bulk_deployment": {`)
}

func TestWriteCapacityWithoutPlan(t *testing.T) {
	c := &Capacity{Scenario: "s", PlanError: "no plan: heroku: no fleet sustained any multiplier within the budgets",
		Measurement: map[string]any{"fleets": []any{}}}
	dir := t.TempDir()
	require.NoError(t, WriteCapacity(dir, c))
	page, err := os.ReadFile(filepath.Join(dir, CapacityPage))
	require.NoError(t, err)
	require.Contains(t, string(page), "No plan:")
	b, err := os.ReadFile(filepath.Join(dir, CapacityFile))
	require.NoError(t, err)
	require.Contains(t, string(b), `"plan_error": "no plan: heroku`)
}
