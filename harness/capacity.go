package harness

import (
	"context"

	"github.com/cutover/cutover/harness/capacity"
	"github.com/cutover/cutover/harness/internal/measure"
	"github.com/cutover/cutover/harness/internal/run"
	"github.com/cutover/cutover/harness/report"
)

// Capacity measurement (cutover capacity): per platform and number of
// replicas, the highest traffic multiple one fleet sustains within the
// scenario's budgets, and what a replica used meanwhile. The pricing of
// the result lives in harness/capacity.
type (
	CapacityOptions = measure.Options
	Capacity        = measure.Result
	CapacityFleet   = measure.Fleet
	CapacityProbe   = measure.Probe
	// CapacityPlanOptions are the pricing choices of a plan.
	CapacityPlanOptions = measure.PlanOptions
)

// DefaultCapacityHeadroom is the share kept spare unless told otherwise.
const DefaultCapacityHeadroom = measure.DefaultHeadroom

// PlanCapacity prices a measurement: a profile per platform, sized and
// priced for 1…10× with prices (capacity.json, report.WriteCapacity).
func PlanCapacity(m *Capacity, prices capacity.Prices, o CapacityPlanOptions) (*report.Capacity, error) {
	return measure.Plan(m, prices, o)
}

// MeasureCapacity runs the search on the scenario file at path: each probe
// is an ordinary run of a scenario derived from it (all traffic to one
// platform, one short hold, the same seed and budgets).
func MeasureCapacity(ctx context.Context, path string, o CapacityOptions) (*Capacity, error) {
	return measure.Measure(ctx, path, o)
}

// withCapacity hands the engine the measurement its capacity steps run
// (the measurement runs the engine, so the engine cannot import it).
func withCapacity(o run.Options) run.Options {
	if o.Capacity == nil {
		o.Capacity = measure.Step
	}
	return o
}
