package measure

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cutover/cutover/harness/capacity"
	"github.com/cutover/cutover/harness/internal/run"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
)

// Step runs a scenario's capacity step (run.Options.Capacity): the same
// measurement and plan as cutover capacity, with the step's fields for its
// flags, on the scenario file at path; the probes' results folders go
// under ro.Out, capacity.json and capacity.html into dir (with the
// measurement, even when it yields no plan), and the probes' lines into
// ro.Out/probes.log.
func Step(ctx context.Context, path string, st scenario.Capacity, ro run.Options, dir string) (*report.Capacity, error) {
	prices, err := stepPrices(path, st.Prices)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(ro.Out, 0o755); err != nil {
		return nil, fmt.Errorf("capacity step: %w", err)
	}
	log, err := os.Create(filepath.Join(ro.Out, "probes.log"))
	if err != nil {
		return nil, fmt.Errorf("capacity step: %w", err)
	}
	defer func() { _ = log.Close() }()
	// The probes are runs of their own: none serves the run's metrics,
	// shows its progress or hands a capacity step on.
	ro.MetricsAddr, ro.MetricsLinger, ro.Progress, ro.Capacity, ro.Machine = "", 0, nil, nil, nil
	o := Options{Run: ro, Platforms: st.Platforms, Replicas: st.Replicas, Hold: st.Hold.D(),
		Start: st.Start, Max: st.Max, Bisections: st.Bisections, Log: log}
	m, err := Measure(ctx, path, o)
	if err != nil {
		return nil, fmt.Errorf("capacity step: %w", err)
	}
	c, planErr := Plan(m, prices, PlanOptions{Headroom: st.Headroom, Budget: st.Budget, BulkDeployment: st.BulkDeployment})
	if planErr != nil {
		c.PlanError = planErr.Error()
	}
	if err := report.WriteCapacity(dir, c); err != nil {
		return c, fmt.Errorf("capacity step: %w", err)
	}
	if planErr != nil {
		return c, fmt.Errorf("capacity step: %w", planErr)
	}
	return c, nil
}

// stepPrices reads the step's prices file (relative to the scenario
// file), or the prices shipped.
func stepPrices(scenarioPath, file string) (capacity.Prices, error) {
	if file == "" {
		return capacity.DefaultPrices()
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(scenarioPath), file)
	}
	p, err := capacity.LoadPrices(file)
	if err != nil {
		return p, fmt.Errorf("capacity step: %w", err)
	}
	return p, nil
}

var _ run.CapacityFunc = Step
