package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
)

// CapacityProbesDir is where a capacity step's probes write their own
// results folders, inside the run's.
const CapacityProbesDir = "capacity"

// capacityStep runs the scenario's capacity step through Options.Capacity
// (the measurement of cutover capacity: each probe a short run of a
// scenario derived from this one, on a stack of its own), writing
// capacity.json and capacity.html into the results folder, and keeps its
// answer in brief for summary.json. A measurement that cannot produce a
// plan is reported there and in the events, not as the run's failure:
// the step informs, it does not judge. Only a stopped run stops it.
func (r *rehearsal) capacityStep(ctx context.Context, st scenario.Capacity) error {
	if r.aborted {
		return nil
	}
	if r.opts.Capacity == nil {
		return errors.New("capacity step: this engine was started without the capacity measurement (run the scenario through the harness, e.g. cutover run or harness.RunScenario)")
	}
	cs := &report.CapacityStep{Name: st.Name, File: report.CapacityFile, Page: report.CapacityPage, ProbesDir: CapacityProbesDir}
	r.capacity = cs
	r.event("capacity: measuring each platform's fleets (probes in %s/)", CapacityProbesDir)
	started := time.Now()
	opts := r.opts
	opts.Out = r.folder.Path(CapacityProbesDir)
	c, err := r.opts.Capacity(ctx, r.p.file.File, st, opts, r.folder.Dir())
	cs.DurationS = time.Since(started).Seconds()
	if ctx.Err() != nil {
		return fmt.Errorf("stopped during the capacity step: %w", ctx.Err())
	}
	if c != nil {
		p := c.Plan
		cs.PeakRate, cs.Budget, cs.HerokuAtBudget, cs.TargetAtBudget = p.PeakRate, p.Budget, p.HerokuAtBudget, p.TargetAtBudget
		cs.HerokuBinds, cs.TargetBinds = p.HerokuBinds, p.TargetBinds
	}
	if err != nil {
		cs.Error = err.Error()
		r.event("capacity: %v", err)
		return nil
	}
	r.event("capacity: at $%.0f/month heroku carries %.1f×, the target %.1f× (%s)", cs.Budget, cs.HerokuAtBudget, cs.TargetAtBudget, report.CapacityPage)
	return nil
}
