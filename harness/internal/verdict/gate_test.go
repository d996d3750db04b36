package verdict

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
)

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func samples(platform, endpoint string, n int, latency time.Duration, failing int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{At: t0, Platform: platform, Endpoint: endpoint, Latency: latency, Err: i < failing}
	}
	return out
}

// spread is n samples with latencies drawn around median (seeded).
func spread(platform string, n int, median time.Duration, seed uint64) []Sample {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]Sample, n)
	for i := range out {
		f := 0.5 + r.Float64()
		out[i] = Sample{At: t0, Platform: platform, Endpoint: "redeem", Latency: time.Duration(float64(median) * f)}
	}
	return out
}

func join(ss ...[]Sample) Groups {
	gs := Groups{}
	for _, s := range ss {
		for _, x := range s {
			gs.Add(x)
		}
	}
	return gs
}

func absMS(v int) scenario.Limit {
	return scenario.Limit{Abs: scenario.Duration(time.Duration(v) * time.Millisecond)}
}

func ratio(r float64) scenario.Limit { return scenario.Limit{Ratio: r} }

func key(g report.Gate) string { return g.Platform + "/" + g.Endpoint + "/" + string(g.Metric) }

func TestJudge(t *testing.T) {
	rate := 0.05
	for _, tc := range []struct {
		name    string
		budgets []scenario.Budget
		w       Window
		want    map[string]report.GateResult
	}{{
		name: "absolute budgets per platform and endpoint",
		budgets: []scenario.Budget{
			{P99: absMS(100), ErrorRate: &rate},
			{Platform: "aws", Endpoint: "redeem", P50: absMS(20)},
		},
		w: Window{MinSamples: 10, Groups: join(
			samples("heroku", "validate", 100, 10*time.Millisecond, 0),
			samples("heroku", "redeem", 10, 10*time.Millisecond, 10), // 10 of 110 fail
			samples("aws", "redeem", 5, 50*time.Millisecond, 0),      // too few
		)},
		want: map[string]report.GateResult{
			"heroku//p99_ms": report.GatePass, "heroku//error_rate": report.GateFail,
			"aws//p99_ms": report.GateInconclusive, "aws//error_rate": report.GateInconclusive,
			"aws/redeem/p50_ms": report.GateInconclusive, "dns//error_rate": report.GatePass,
		},
	}, {
		name:    "a platform with weight and no traffic is inconclusive, never a pass",
		budgets: []scenario.Budget{{P99: absMS(100)}},
		w:       Window{MinSamples: 10, Weights: map[string]int{"heroku": 50, "aws": 50}, Groups: join(samples("heroku", "validate", 50, time.Millisecond, 0))},
		want:    map[string]report.GateResult{"heroku//p99_ms": report.GatePass, "aws//p99_ms": report.GateInconclusive},
	}, {
		name:    "failed resolutions count against the error budget",
		budgets: []scenario.Budget{{ErrorRate: &rate}},
		w: Window{MinSamples: 10, Groups: join(
			samples("heroku", "validate", 90, time.Millisecond, 0),
			samples(Unresolved, "validate", 10, 0, 10),
		)},
		want: map[string]report.GateResult{"heroku//error_rate": report.GatePass, "dns//error_rate": report.GateFail},
	}, {
		name:    "a saturated machine makes latency inconclusive but still judges errors",
		budgets: []scenario.Budget{{P99: absMS(100), ErrorRate: &rate}},
		w: Window{MinSamples: 10, Saturated: "CPU 99%", Groups: join(
			samples("aws", "validate", 100, time.Second, 10),
		)},
		want: map[string]report.GateResult{"aws//p99_ms": report.GateInconclusive, "aws//error_rate": report.GateFail, "dns//error_rate": report.GatePass},
	}, {
		name:    "comparative: the target much slower than the source in the same window",
		budgets: []scenario.Budget{{Compare: "heroku", Endpoint: "redeem", P95: ratio(1.25), MinDelta: scenario.Duration(20 * time.Millisecond)}},
		w:       Window{MinSamples: 50, Weights: map[string]int{"heroku": 50, "aws": 50}, Groups: join(spread("heroku", 300, 40*time.Millisecond, 1), spread("aws", 300, 440*time.Millisecond, 2))},
		want:    map[string]report.GateResult{"aws/redeem/p95_ms": report.GateFail},
	}, {
		name:    "comparative: a slow machine slows both sides, and the gate holds",
		budgets: []scenario.Budget{{Compare: "heroku", Endpoint: "redeem", P95: ratio(1.25), MinDelta: scenario.Duration(20 * time.Millisecond)}},
		w:       Window{MinSamples: 50, Weights: map[string]int{"heroku": 50, "aws": 50}, Groups: join(spread("heroku", 300, 900*time.Millisecond, 3), spread("aws", 300, 920*time.Millisecond, 4))},
		want:    map[string]report.GateResult{"aws/redeem/p95_ms": report.GatePass},
	}, {
		name:    "comparative: on a saturated machine the comparison is not judged either",
		budgets: []scenario.Budget{{Compare: "heroku", Endpoint: "redeem", P95: ratio(1.25), MinDelta: scenario.Duration(20 * time.Millisecond)}},
		w:       Window{MinSamples: 50, Saturated: "cpu 99% busy", Weights: map[string]int{"heroku": 50, "aws": 50}, Groups: join(spread("heroku", 300, 40*time.Millisecond, 1), spread("aws", 300, 440*time.Millisecond, 2))},
		want:    map[string]report.GateResult{"aws/redeem/p95_ms": report.GateInconclusive},
	}, {
		name: "only the replayer fell behind: the delay is every request's, so the comparison judges and an absolute limit does not",
		budgets: []scenario.Budget{{Compare: "heroku", Endpoint: "redeem", P95: ratio(1.25), MinDelta: scenario.Duration(20 * time.Millisecond)},
			{Platform: "aws", P50: absMS(250)}},
		w: Window{MinSamples: 50, Saturated: "the replayer itself reached 409 of 2759 requests late", Comparable: true,
			Weights: map[string]int{"heroku": 50, "aws": 50}, Groups: join(spread("heroku", 300, 40*time.Millisecond, 1), spread("aws", 300, 440*time.Millisecond, 2))},
		want: map[string]report.GateResult{"aws/redeem/p95_ms": report.GateFail, "aws//p50_ms": report.GateInconclusive},
	}, {
		name:    "comparative: a difference below min_delta is not a breach",
		budgets: []scenario.Budget{{Compare: "heroku", Endpoint: "redeem", P95: ratio(1.25), MinDelta: scenario.Duration(20 * time.Millisecond)}},
		w:       Window{MinSamples: 50, Weights: map[string]int{"heroku": 50, "aws": 50}, Groups: join(spread("heroku", 300, 2*time.Millisecond, 5), spread("aws", 300, 6*time.Millisecond, 6))},
		want:    map[string]report.GateResult{"aws/redeem/p95_ms": report.GatePass},
	}, {
		name:    "comparative: no reference traffic at weight 0 is skipped",
		budgets: []scenario.Budget{{Compare: "heroku", P99: ratio(1.25)}},
		w:       Window{MinSamples: 50, Weights: map[string]int{"heroku": 0, "aws": 100}, Groups: join(spread("aws", 300, 40*time.Millisecond, 7))},
		want:    map[string]report.GateResult{"aws//p99_ms": report.GateSkipped},
	}, {
		name:    "comparative: too few reference samples at weight > 0 is inconclusive",
		budgets: []scenario.Budget{{Compare: "heroku", P99: ratio(1.25)}},
		w:       Window{MinSamples: 50, Weights: map[string]int{"heroku": 10, "aws": 90}, Groups: join(spread("heroku", 10, 40*time.Millisecond, 8), spread("aws", 300, 40*time.Millisecond, 9))},
		want:    map[string]report.GateResult{"aws//p99_ms": report.GateInconclusive},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]report.GateResult{}
			for _, g := range Judge(tc.budgets, tc.w) {
				got[key(g)] = g.Result
				require.NotEmpty(t, g.Describe())
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestJudgeFigures(t *testing.T) {
	rate := 0.05
	gs := Judge([]scenario.Budget{{ErrorRate: &rate}}, Window{MinSamples: 10, Groups: join(
		samples("heroku", "redeem", 100, 10*time.Millisecond, 0),
		samples("heroku", "redeem", 10, 10*time.Millisecond, 10),
	)})
	require.Len(t, gs, 2)
	require.InDelta(t, 10.0/110, gs[0].Observed, 1e-9)
	require.EqualValues(t, 110, gs[0].Samples)

	cmp := Judge([]scenario.Budget{{Compare: "heroku", P95: ratio(1.25)}}, Window{MinSamples: 50, Weights: map[string]int{"heroku": 50, "aws": 50},
		Groups: join(spread("heroku", 300, 40*time.Millisecond, 1), spread("aws", 300, 440*time.Millisecond, 2))})
	require.Len(t, cmp, 1)
	g := cmp[0]
	require.Equal(t, "heroku", g.Compare)
	require.InDelta(t, 1.25*g.Reference, g.Budget, 1e-6, "the budget is the ratio of the reference")
	require.Less(t, g.PValue, Alpha)
	require.Contains(t, g.Describe(), "heroku's")
}
