package measure

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/internal/machine"
)

func TestAccountAndProfile(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	sum := &report.Summary{Stages: []report.Stage{{
		Name: "capacity", Started: t0, Finished: t0.Add(2 * time.Second), DurationS: 2,
		PlannedRate: 500, AchievedRate: 495,
		Platforms: map[string]report.Figures{"aws": {Requests: 1000, LatencyMS: report.Latency{P95: 40}}},
		Gates:     []report.Gate{{Metric: report.MetricP50, Platform: "aws", Result: report.GatePass}},
	}}}
	const mb = 1 << 20
	sample := func(at time.Duration, comps map[string]machine.Usage) machine.Sample {
		return machine.Sample{Time: t0.Add(at), Span: 500 * time.Millisecond, Components: comps}
	}
	samples := []machine.Sample{
		// Before the hold: the seed data's bulk import.
		sample(0, map[string]machine.Usage{"aws/coupon-1": {User: 0.4, Memory: 90 * mb}, "heroku/web.1": {Memory: 10 * mb}}),
		// During: 0.25 + 0.1 cores ... per half second.
		sample(500*time.Millisecond, map[string]machine.Usage{"aws/coupon-1": {User: 0.1, System: 0.05, Memory: 30 * mb}, "heroku/web.1": {User: 0.2, Memory: 10 * mb}}),
		sample(time.Second, map[string]machine.Usage{"aws/coupon-1": {User: 0.2, Memory: 40 * mb}}),
		sample(1500*time.Millisecond, map[string]machine.Usage{"aws/coupon-1": {User: 0.25, Memory: 35 * mb}}),
		sample(2000*time.Millisecond, map[string]machine.Usage{"aws/coupon-1": {User: 0.2, Memory: 35 * mb}}),
		// After the hold.
		sample(3000*time.Millisecond, map[string]machine.Usage{"aws/coupon-1": {User: 5, Memory: 200 * mb}}),
	}
	p := Probe{Platform: "aws", Replicas: 1, Multiplier: 5}
	judge(&p, sum)
	account(&p, samples, sum)
	require.True(t, p.Sustained, p.Reason)
	require.InDelta(t, 500, p.ServedRPS, 1e-9)
	require.InDelta(t, 0.8, p.CPUSeconds, 1e-9) // 0.15 + 0.2 + 0.25 + 0.2
	require.InDelta(t, 0.0008, p.CPUPerRequest, 1e-12)
	require.InDelta(t, 0.5, p.CPUCoresP95, 1e-9) // 0.25 s in 0.5 s
	require.InDelta(t, 40, p.PeakMemoryMB, 1e-9)
	require.InDelta(t, 90, p.SetupPeakMemoryMB, 1e-9)

	broke := sum.Stages[0]
	broke.Gates = []report.Gate{{Metric: report.MetricP50, Platform: "aws", Result: report.GateFail, Observed: 300, Budget: 250}}
	q := Probe{Platform: "aws"}
	judge(&q, &report.Summary{Stages: []report.Stage{broke}})
	require.False(t, q.Sustained)
	require.Contains(t, q.Reason, "p50 latency on aws was 300ms, over its budget of 250ms")

	slow := sum.Stages[0]
	slow.AchievedRate = 300
	q = Probe{Platform: "aws"}
	judge(&q, &report.Summary{Stages: []report.Stage{slow}})
	require.False(t, q.Sustained)
	require.Contains(t, q.Reason, "the rehearsal machine, not the platform, was the limit")

	two := p
	two.Replicas, two.ServedRPS, two.PeakMemoryMB = 2, 800, 45
	r := &Result{Fleets: []Fleet{
		{Platform: "aws", Replicas: 1, Best: &p, Probes: []Probe{p}},
		{Platform: "aws", Replicas: 2, Best: &two, Probes: []Probe{two}, AtCap: true},
	}}
	prof, err := r.Profile("aws")
	require.NoError(t, err)
	require.InDelta(t, 500, prof.Fit.Lambda, 1e-6)
	require.InDelta(t, 0.25, prof.Fit.Sigma, 1e-3) // 2·500/(1+σ) = 800
	require.InDelta(t, 90, prof.PeakMemoryMB, 1e-9, "the bulk import's peak is the floor")
	require.InDelta(t, 0.0008, prof.CPUPerRequest, 1e-12)
	require.InDelta(t, 0.04, prof.LatencyP95S, 1e-12)
	require.Contains(t, prof.Fit.Note, "lower bound")
	_, err = r.Profile("heroku")
	require.ErrorContains(t, err, "no fleet sustained")
}
