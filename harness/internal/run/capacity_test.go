package run

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/capacity"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
)

// A capacity step hands the measurement the scenario file, the step, the
// run's options with the probes' folder inside the results folder, and the
// results folder for capacity.json; the answer lands in the summary. A
// measurement without a plan is reported, not the run's failure; a stopped
// run stops.
func TestCapacityStep(t *testing.T) {
	priced := capacity.Plan{PeakRate: 94, Budget: 75, HerokuAtBudget: 1.5, TargetAtBudget: 0.8, HerokuBinds: "cpu", TargetBinds: "memory"}
	for _, tc := range []struct {
		name      string
		measure   CapacityFunc
		cancel    bool
		wantErr   string
		summary   report.CapacityStep
		noSummary bool
	}{
		{
			name: "measured and priced",
			measure: func(context.Context, string, scenario.Capacity, Options, string) (*report.Capacity, error) {
				return &report.Capacity{Plan: priced}, nil
			},
			summary: report.CapacityStep{Name: "sizing", PeakRate: 94, Budget: 75, HerokuAtBudget: 1.5, TargetAtBudget: 0.8, HerokuBinds: "cpu", TargetBinds: "memory"},
		},
		{
			name: "no plan: reported, the run goes on",
			measure: func(context.Context, string, scenario.Capacity, Options, string) (*report.Capacity, error) {
				return &report.Capacity{}, errors.New("no plan: heroku: no fleet sustained any multiplier")
			},
			summary: report.CapacityStep{Name: "sizing", Error: "no plan: heroku: no fleet sustained any multiplier"},
		},
		{
			name: "stopped",
			measure: func(context.Context, string, scenario.Capacity, Options, string) (*report.Capacity, error) {
				return nil, context.Canceled
			},
			cancel:  true,
			wantErr: "stopped during the capacity step",
		},
		{
			name:      "an engine without the measurement",
			wantErr:   "started without the capacity measurement",
			noSummary: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			folder, err := report.Create(filepath.Join(dir, "run"))
			require.NoError(t, err)
			path := filepath.Join(dir, "s.yaml")
			step := scenario.Capacity{Name: "sizing", Replicas: []int{1, 2}}
			var got struct {
				path, dir, out string
				step           scenario.Capacity
			}
			var measure CapacityFunc
			if tc.measure != nil {
				measure = func(ctx context.Context, p string, st scenario.Capacity, o Options, d string) (*report.Capacity, error) {
					got.path, got.step, got.out, got.dir = p, st, o.Out, d
					return tc.measure(ctx, p, st, o, d)
				}
			}
			r := &rehearsal{p: &plan{file: scenarioAt(path)}, folder: folder,
				opts: Options{Capacity: measure, Out: filepath.Join(dir, "run"), Seed: 9}}
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancel {
				cancel()
			}
			defer cancel()
			err = r.capacityStep(ctx, step)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			if tc.noSummary {
				require.Nil(t, r.capacity)
				return
			}
			require.Equal(t, path, got.path)
			require.Equal(t, step, got.step)
			require.Equal(t, folder.Dir(), got.dir)
			require.Equal(t, folder.Path(CapacityProbesDir), got.out)
			if tc.wantErr != "" {
				return
			}
			want := tc.summary
			want.File, want.Page, want.ProbesDir = report.CapacityFile, report.CapacityPage, CapacityProbesDir
			want.DurationS = r.capacity.DurationS
			require.Equal(t, want, *r.capacity)
		})
	}
}

func scenarioAt(path string) *scenario.File {
	f := &scenario.File{}
	f.File = path
	return f
}
