package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/stats"
)

// A percentile counts toward a regression only with TailSamples requests
// beyond it on both sides: the same shift of the whole distribution, its
// slowest 2 % more than twice as slow, regresses on p99 over 1,000
// requests a side, and not over 200 (four requests beyond the p99); p50
// and p95 grew by less than the bound in both.
func TestRegressionNeedsRequestsBeyondThePercentile(t *testing.T) {
	row := func(n int, base, tail time.Duration) ProfileRow {
		var h stats.Histogram
		for i := range n {
			d := base + time.Duration(i%50)*100*time.Microsecond
			if i%50 == 49 {
				d = tail
			}
			h.Add(d)
		}
		t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
		return ProfileRow{Stage: "s", Endpoint: "validate", Requests: int64(n), First: t0, Last: t0.Add(10 * time.Second), Latency: h}
	}
	opts := CompareOptions{MaxRegression: 0.5, MinDelta: 25 * time.Millisecond, MinEffect: DefaultMinEffect}
	for _, tc := range []struct {
		n    int
		want []string // percentiles named in Why
	}{
		{1000, []string{"p99"}},
		{200, nil},
	} {
		a := row(tc.n, 10*time.Millisecond, 40*time.Millisecond)
		b := row(tc.n, 12*time.Millisecond, 90*time.Millisecond)
		ch := compareRow(a, b, DefaultAlpha, opts, "")
		require.Equal(t, ShiftSlower, ch.LatencyShift, "n=%d", tc.n)
		var got []string
		for _, w := range ch.Why {
			got = append(got, w[:3])
		}
		require.Equal(t, tc.want, got, "n=%d: %v", tc.n, ch.Why)
		require.Equal(t, len(tc.want) > 0, ch.Regression)
	}
}
