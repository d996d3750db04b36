package capacity

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func uslPoints(l, s, k float64, ns ...float64) []Point {
	u := USL{Lambda: l, Sigma: s, Kappa: k}
	var ps []Point
	for _, n := range ns {
		ps = append(ps, Point{N: n, X: u.Throughput(n)})
	}
	return ps
}

func TestFitUSL(t *testing.T) {
	tests := []struct {
		name               string
		points             []Point
		lambda, sigma, kap float64
		kappaFixed         bool
		dof                int
		tol                float64
		wantR2AtLeast      float64
	}{
		{
			name: "two points: κ held at 0, σ from the second",
			// X(1)=100, X(2)=160: 2·100/(1+σ) = 160 → σ = 0.25.
			points: []Point{{1, 100}, {2, 160}},
			lambda: 100, sigma: 0.25, kappaFixed: true, dof: 0, tol: 1e-3,
		},
		{
			name:   "exact USL curve over six points is recovered",
			points: uslPoints(120, 0.05, 0.02, 1, 2, 3, 4, 6, 8),
			lambda: 120, sigma: 0.05, kap: 0.02, dof: 3, tol: 1e-3, wantR2AtLeast: 0.9999,
		},
		{
			name:   "linear scaling: σ and κ zero",
			points: []Point{{1, 50}, {2, 100}, {3, 150}, {4, 200}},
			lambda: 50, dof: 1, tol: 1e-3, wantR2AtLeast: 0.9999,
		},
		{
			name: "superlinear two points: σ clamped at 0, λ the least-squares slope",
			// X ≈ λN: λ = (1·90+2·200)/(1+4) = 98.
			points: []Point{{1, 90}, {2, 200}},
			lambda: 98, kappaFixed: true, tol: 1e-3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := FitUSL(tc.points)
			require.NoError(t, err)
			require.InDelta(t, tc.lambda, u.Lambda, tc.lambda*tc.tol+1e-9)
			require.InDelta(t, tc.sigma, u.Sigma, 2*tc.tol)
			require.InDelta(t, tc.kap, u.Kappa, 2*tc.tol)
			require.Equal(t, tc.kappaFixed, u.KappaFixed)
			require.Equal(t, tc.dof, u.DOF)
			require.Len(t, u.Residuals, len(tc.points))
			if tc.wantR2AtLeast > 0 {
				require.GreaterOrEqual(t, u.R2, tc.wantR2AtLeast)
			}
			if tc.kappaFixed {
				require.Contains(t, u.Note, "κ held at 0")
			}
		})
	}
}

func TestFitUSLNoisyRetrograde(t *testing.T) {
	// A curve that peaks and falls, with ±2 % noise: the fit must find
	// κ > 0, a peak near the true one, and report a high but imperfect R².
	ps := uslPoints(100, 0.1, 0.03, 1, 2, 3, 4, 5, 6, 8, 10)
	noise := []float64{0.02, -0.015, 0.01, -0.02, 0.015, -0.01, 0.02, -0.02}
	for i := range ps {
		ps[i].X *= 1 + noise[i]
	}
	u, err := FitUSL(ps)
	require.NoError(t, err)
	require.Greater(t, u.Kappa, 0.0)
	truePeak := math.Sqrt(0.9 / 0.03)
	require.InDelta(t, truePeak, u.PeakReplicas(), truePeak*0.15)
	require.Less(t, u.R2, 1.0)
	require.Greater(t, u.R2, 0.9)
	require.Equal(t, 5, u.DOF)
}

func TestFitUSLRejects(t *testing.T) {
	for name, ps := range map[string][]Point{
		"one point":            {{1, 100}},
		"one replica count":    {{2, 100}, {2, 110}},
		"zero throughput":      {{1, 0}, {2, 10}},
		"fewer than 1 replica": {{0.5, 10}, {2, 10}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := FitUSL(ps)
			require.Error(t, err)
		})
	}
}

func TestReplicasFor(t *testing.T) {
	u := USL{Lambda: 100, Sigma: 0.1, Kappa: 0.01}
	tests := []struct {
		rate, per float64
		want      int
	}{
		{50, 100, 1},
		{100, 100, 1},
		{101, 100, 2},
		{(100 * 3 / (1 + 0.2 + 0.06)), 100, 3},
		{400, 100, 0}, // beyond the peak (~9.5 replicas, X≈ 333)
		{85, 50, 2},   // half-size replicas: X(2)/2 ≈ 89.3
		{90, 50, 3},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, u.ReplicasFor(tc.rate, tc.per), "rate %g per %g", tc.rate, tc.per)
	}
}
