package stats_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/stats"
)

func TestMannWhitneyKnownValues(t *testing.T) {
	for _, tc := range []struct {
		name       string
		a, b       []float64
		probSlower float64
		p          float64 // from the normal approximation with continuity and tie correction
	}{
		// Complete separation, n=5 each: U=25, z=(25-12.5-0.5)/sqrt(25*11/12).
		{"separated", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 1, math.Erfc(12 / math.Sqrt(25.0*11/12) / math.Sqrt2)},
		// Identical samples: no evidence at all.
		{"identical", []float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, 0.5, 1},
		// Ties across the samples: a={1,2,2}, b={2,3}. Pairs (b>a): 3>1,3>2,3>2,2>1 = 4,
		// ties 2=2 twice = 1; U_B=5 of 6. Tie groups {2: three}: sum t³-t = 24;
		// var = 6/12*((6)-24/(5*4)) = 2.4; z=(5-3-0.5)/sqrt(2.4).
		{"ties", []float64{1, 2, 2}, []float64{2, 3}, 5.0 / 6, math.Erfc(1.5 / math.Sqrt(2.4) / math.Sqrt2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := stats.MannWhitneySamples(tc.a, tc.b)
			require.InDelta(t, tc.probSlower, r.ProbSlower, 1e-12)
			require.InDelta(t, tc.p, r.P, 1e-12)
			// Swapping the sides mirrors the effect and keeps the p-value.
			s := stats.MannWhitneySamples(tc.b, tc.a)
			require.InDelta(t, 1-tc.probSlower, s.ProbSlower, 1e-12)
			require.InDelta(t, tc.p, s.P, 1e-12)
		})
	}
}

// The test holds its level: samples from one distribution are flagged at
// about the rate alpha says, and a real shift is found.
func TestMannWhitneyLevelAndPower(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	draw := func(n int, shift float64) stats.Histogram {
		var h stats.Histogram
		for i := 0; i < n; i++ {
			ms := 20*math.Exp(0.4*rng.NormFloat64()) + shift
			h.Add(time.Duration(ms * float64(time.Millisecond)))
		}
		return h
	}
	const trials = 300
	falseAlarms, found := 0, 0
	for i := 0; i < trials; i++ {
		if stats.MannWhitney(draw(200, 0), draw(200, 0)).P < 0.05 {
			falseAlarms++
		}
		if stats.MannWhitney(draw(200, 0), draw(200, 3)).P < 0.05 {
			found++
		}
	}
	rate := float64(falseAlarms) / trials
	require.Greater(t, rate, 0.015, "too few false alarms for alpha 0.05: the test is miscalibrated")
	require.Less(t, rate, 0.09, "too many false alarms for alpha 0.05")
	require.Greater(t, found, trials*8/10, "a 3 ms shift of a 20 ms median is found in most trials")
}

func TestHistogramMatchesRawSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ha, hb stats.Histogram
	var ra, rb []float64
	for i := 0; i < 2000; i++ {
		a := time.Duration(20*math.Exp(0.3*rng.NormFloat64())*1e6) * time.Nanosecond
		b := time.Duration(22*math.Exp(0.3*rng.NormFloat64())*1e6) * time.Nanosecond
		ha.Add(a)
		hb.Add(b)
		ra = append(ra, float64(a))
		rb = append(rb, float64(b))
	}
	binned, exact := stats.MannWhitney(ha, hb), stats.MannWhitneySamples(ra, rb)
	require.InDelta(t, exact.ProbSlower, binned.ProbSlower, 0.005)
	require.InDelta(t, exact.Z, binned.Z, 0.1)

	// Percentiles from the histogram are within its 1% resolution.
	for _, q := range []float64{0.5, 0.95, 0.99} {
		got := float64(ha.Quantile(q))
		want := exactQuantile(ra, q)
		require.InEpsilon(t, want, got, 0.011, "q=%v", q)
	}
}

func exactQuantile(xs []float64, q float64) float64 {
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[int(math.Ceil(q*float64(len(s))))-1]
}

func TestProportionTest(t *testing.T) {
	// 10/100 vs 30/100: pooled p=0.2, se=sqrt(0.2*0.8*0.02), z=0.2/se.
	want := math.Erfc(0.2 / math.Sqrt(0.2*0.8*0.02) / math.Sqrt2)
	require.InDelta(t, want, stats.ProportionTest(10, 100, 30, 100), 1e-12)
	require.Equal(t, 1.0, stats.ProportionTest(0, 100, 0, 100))
	require.Equal(t, 1.0, stats.ProportionTest(0, 0, 3, 10))
}

func BenchmarkMannWhitney(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	var ha, hb stats.Histogram
	for i := 0; i < 100_000; i++ {
		ha.Add(time.Duration(20*math.Exp(0.4*rng.NormFloat64())*1e6) * time.Nanosecond)
		hb.Add(time.Duration(21*math.Exp(0.4*rng.NormFloat64())*1e6) * time.Nanosecond)
	}
	b.ResetTimer()
	for b.Loop() {
		stats.MannWhitney(ha, hb)
	}
	b.ReportMetric(float64(ha.N+hb.N)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// Max and Mean are exact, and survive a merge.
func TestHistogramMaxAndMean(t *testing.T) {
	var a, b stats.Histogram
	a.Add(10 * time.Millisecond)
	a.AddN(20*time.Millisecond, 2)
	b.Add(70 * time.Millisecond)
	require.Equal(t, 20*time.Millisecond, a.Max)
	require.Equal(t, 50*time.Millisecond/3, a.Mean())
	a.Merge(b)
	require.Equal(t, 70*time.Millisecond, a.Max)
	require.Equal(t, 30*time.Millisecond, a.Mean())
	require.Zero(t, stats.Histogram{}.Mean())
}
