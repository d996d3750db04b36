package scenario_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/scenario"
)

func capacityScenario(step string) string {
	return strings.Replace(valid, "  - hold: {duration: 30s, name: final}\n", "  - hold: {duration: 30s, name: final}\n  - capacity: "+step+"\n", 1)
}

func TestCapacityStep(t *testing.T) {
	f, err := scenario.Load(write(t, capacityScenario(`{name: sizing, platforms: [aws, heroku], replicas: [1, 2], hold: 2s, max: 4, bisections: 1, headroom: 0, budget: 750, bulk_deployment: true}`)))
	require.NoError(t, err)
	st := f.Steps[5].Capacity
	require.NotNil(t, st)
	require.Equal(t, "sizing", st.Name)
	require.Equal(t, []string{"aws", "heroku"}, st.Platforms)
	require.Equal(t, []int{1, 2}, st.Replicas)
	require.Equal(t, 2*time.Second, st.Hold.D())
	require.Equal(t, 4.0, st.Max)
	require.Equal(t, 1, st.Bisections)
	require.NotNil(t, st.Headroom, "an explicit 0 headroom is kept")
	require.Zero(t, *st.Headroom)
	require.Equal(t, 750.0, st.Budget)
	require.True(t, st.BulkDeployment)

	f, err = scenario.Load(write(t, capacityScenario(`{}`)))
	require.NoError(t, err)
	require.Equal(t, scenario.Capacity{}, *f.Steps[5].Capacity, "every field optional")
}

// Each bad field of a capacity step names the file, line and field.
func TestCapacityStepInvalid(t *testing.T) {
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.yaml")
	require.NoError(t, os.WriteFile(prices, []byte("heroku:\n  - name: x\n"), 0o644))
	for _, tc := range []struct {
		name, step string
		field, msg string
	}{
		{"unknown platform", `{platforms: [gcp]}`, "steps[5].capacity.platforms[0]", "not one of"},
		{"a platform twice", `{platforms: [aws, aws]}`, "steps[5].capacity.platforms[1]", "listed twice"},
		{"replicas out of range", `{replicas: [1, 0]}`, "steps[5].capacity.replicas[1]", "out of range 1..100"},
		{"one replica count cannot be fitted", `{replicas: [2, 2]}`, "steps[5].capacity.replicas", "at least two replica counts"},
		{"negative hold", `{hold: -1s}`, "steps[5].capacity.hold", "negative"},
		{"max under start", `{start: 4, max: 2}`, "steps[5].capacity.max", "at least start"},
		{"negative headroom", `{headroom: -0.1}`, "steps[5].capacity.headroom", "negative"},
		{"negative budget", `{budget: -1}`, "steps[5].capacity.budget", "negative"},
		{"a prices file without sources", `{prices: ` + prices + `}`, "steps[5].capacity.prices", "prices.yaml:2"},
		{"a prices file that is not there", `{prices: none.yaml}`, "steps[5].capacity.prices", "none.yaml"},
		{"unknown field", `{replica: 2}`, "steps[5].capacity.replica", "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, capacityScenario(tc.step))
			_, err := scenario.Load(p)
			one := firstError(t, err)
			require.Equal(t, p, one.File)
			require.Equal(t, 12, one.Line, err.Error())
			require.Equal(t, tc.field, one.Field, err.Error())
			require.Contains(t, one.Msg, tc.msg)
		})
	}

	two := strings.Replace(capacityScenario(`{}`), "  - capacity: {}\n", "  - capacity: {}\n  - capacity: {}\n", 1)
	_, err := scenario.Load(write(t, two))
	require.ErrorContains(t, err, "steps[6].capacity: a scenario has at most one capacity step")

	both := strings.Replace(capacityScenario(`{}`), "  - capacity: {}\n", "  - capacity: {}\n    heal: x\n", 1)
	_, err = scenario.Load(write(t, both))
	require.ErrorContains(t, err, "a step sets exactly one of set_weights, hold, fault, heal, analysis, capacity")
}
