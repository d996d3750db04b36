package measure

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSearchMultiplier(t *testing.T) {
	tests := []struct {
		name       string
		from, max  float64
		factor     float64
		bisections int
		limit      float64 // the highest multiplier the "fleet" sustains
		best       float64
		atCap      bool
		tried      []float64
	}{
		{"ramp then bisect", 1, 60, 2, 3, 11.3, 11, false, []float64{1, 2, 4, 8, 16, 12, 10, 11}},
		{"starts where the smaller fleet ended, ramps finer", 8, 60, 1.5, 2, 20, 18, false, []float64{8, 12, 18, 27, 22.5, 20.25}},
		{"the trace bounds the ramp", 1, 5, 2, 3, 100, 5, true, []float64{1, 2, 4, 5}},
		// 0.25 holds; 0.38 and 0.32 (0.315 rounded) break.
		{"the first breaks: search down", 1, 60, 2, 2, 0.3, 0.25, false, []float64{1, 0.5, 0.25, 0.38, 0.32}},
		{"nothing sustained", 1, 60, 2, 3, 0.01, 0, false, []float64{1, 0.5, 0.25, 0.13, 0.07}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tried []float64
			best, atCap, err := searchMultiplier(tc.from, tc.max, tc.factor, tc.bisections, func(m float64) (bool, error) {
				tried = append(tried, m)
				return m <= tc.limit, nil
			})
			require.NoError(t, err)
			require.Equal(t, tc.tried, tried)
			require.Equal(t, tc.best, best)
			require.Equal(t, tc.atCap, atCap)
		})
	}
	_, _, err := searchMultiplier(1, 10, 2, 3, func(float64) (bool, error) { return false, errors.New("stack down") })
	require.EqualError(t, err, "stack down")
}
