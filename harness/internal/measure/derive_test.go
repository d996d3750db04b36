package measure

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/scenario"
)

func TestDeriveProbeScenario(t *testing.T) {
	const path = "../../../scenarios/staged-cutover.yaml"
	f, err := scenario.Load(path)
	require.NoError(t, err)
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	tests := []struct {
		spec            probeSpec
		heroku, aws     int
		dynos, replicas int
	}{
		{probeSpec{platform: "heroku", replicas: 3, multiplier: 2.5, hold: 6 * time.Second}, 100, 0, 3, 1},
		{probeSpec{platform: "aws", replicas: 2, multiplier: 12, hold: 4 * time.Second}, 0, 100, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.spec.name(), func(t *testing.T) {
			out, err := derive(f, src, tc.spec, t.TempDir())
			require.NoError(t, err)
			d, err := scenario.Load(out)
			require.NoError(t, err, "the derived scenario must be valid")
			require.Equal(t, f.Seed, d.Seed, "same seed")
			require.Equal(t, tc.spec.multiplier, d.Traffic.Multiplier)
			require.Equal(t, tc.dynos, d.Heroku.Dynos)
			require.Equal(t, tc.replicas, d.AWS.Replicas)
			require.Equal(t, abs(f.Resolve(f.Traffic.Trace)), d.Traffic.Trace, "the trace path made absolute")
			require.Len(t, d.Steps, 2)
			require.Equal(t, scenario.Weights{Heroku: tc.heroku, AWS: tc.aws}, *d.Steps[0].SetWeights)
			require.Equal(t, tc.spec.hold, d.Steps[1].Hold.Duration.D())
			require.Equal(t, "continue", d.Gate.OnBreach)
			require.Equal(t, f.Gate.Budgets, d.Gate.Budgets, "the user's budgets, unchanged")
			require.Equal(t, f.Service, d.Service)
		})
	}
}
