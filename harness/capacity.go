package harness

import (
	"context"

	"github.com/cutover/cutover/harness/internal/measure"
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
)

// MeasureCapacity runs the search on the scenario file at path: each probe
// is an ordinary run of a scenario derived from it (all traffic to one
// platform, one short hold, the same seed and budgets).
func MeasureCapacity(ctx context.Context, path string, o CapacityOptions) (*Capacity, error) {
	return measure.Measure(ctx, path, o)
}
