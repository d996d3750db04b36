package measure

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
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
	account(&p, samples, sum, bulkWork{})
	require.True(t, p.Sustained, p.Reason)
	require.InDelta(t, 500, p.ServedRPS, 1e-9)
	require.InDelta(t, 0.8, p.CPUSeconds, 1e-9) // 0.15 + 0.2 + 0.25 + 0.2
	require.InDelta(t, 0.0008, p.CPUPerRequest, 1e-12)
	require.InDelta(t, 0.5, p.CPUCoresP95, 1e-9) // 0.25 s in 0.5 s
	require.InDelta(t, 40, p.PeakMemoryMB, 1e-9)
	require.InDelta(t, 90, p.SetupPeakMemoryMB, 1e-9)
	require.InDelta(t, 40, p.WebPeakMemoryMB, 1e-9, "no bulk request in the hold")
	require.Zero(t, p.BulkPeakMemoryMB)
	require.InDelta(t, 0.8, p.BulkCPUCores, 1e-9, "the set-up's CPU: 0.4 s in 0.5 s")

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

	p.DBCPUPerRequest, p.DBCoresP95 = 0.0002, 0.3
	two := p
	two.Replicas, two.ServedRPS, two.PeakMemoryMB, two.WebPeakMemoryMB = 2, 800, 45, 45
	r := &Result{Fleets: []Fleet{
		{Platform: "aws", Replicas: 1, Best: &p, Probes: []Probe{p}},
		{Platform: "aws", Replicas: 2, Best: &two, Probes: []Probe{two}, AtCap: true},
	}}
	prof, err := r.Profile("aws")
	require.NoError(t, err)
	require.InDelta(t, 500, prof.Fit.Lambda, 1e-6)
	require.InDelta(t, 0.25, prof.Fit.Sigma, 1e-3) // 2·500/(1+σ) = 800
	require.InDelta(t, 90, prof.PeakMemoryMB, 1e-9, "the bulk import's peak is the floor")
	require.InDelta(t, 45, prof.WebPeakMemoryMB, 1e-9, "web pods need what the holds needed")
	require.InDelta(t, 90, prof.Bulk.PeakMemoryMB, 1e-9)
	require.InDelta(t, 0.0008, prof.CPUPerRequest, 1e-12)
	require.InDelta(t, 0.04, prof.LatencyP95S, 1e-12)
	require.InDelta(t, 0.0002, prof.DBCPUPerRequest, 1e-12)
	require.InDelta(t, 0.3, prof.DBCoresP95, 1e-12)
	require.Contains(t, prof.Fit.Note, "lower bound")
	_, err = r.Profile("heroku")
	require.ErrorContains(t, err, "no fleet sustained")
}

// Samples taken while a bulk request was in flight on the platform count
// as bulk work, the others as web work; the history says when each bulk
// request was in flight, and which platform served it.
func TestAccountBulk(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	sum := &report.Summary{Stages: []report.Stage{{
		Name: "capacity", Started: t0, Finished: t0.Add(2 * time.Second), DurationS: 2, PlannedRate: 100, AchievedRate: 100,
		Platforms: map[string]report.Figures{"aws": {Requests: 200}},
	}}}
	ops := []history.Op{
		{Type: history.Invoke, F: history.Import, Platform: "aws", Time: t0.Add(600 * time.Millisecond)},
		// An import in flight from 0.6 s to 0.9 s, an export on the other
		// platform, a redeem.
		{Type: history.OK, F: history.Import, Platform: "aws", Intended: t0.Add(550 * time.Millisecond), Time: t0.Add(900 * time.Millisecond), Latency: 300 * time.Millisecond},
		{Type: history.OK, F: history.Export, Platform: "heroku", Time: t0.Add(1600 * time.Millisecond), Latency: time.Second},
		{Type: history.OK, F: history.Redeem, Platform: "aws", Time: t0.Add(1600 * time.Millisecond), Latency: time.Second},
	}
	bulk := bulkOf(ops, "aws")
	require.Len(t, bulk.spans, 1)
	const mb = 1 << 20
	sample := func(at time.Duration, user float64, mem int64) machine.Sample {
		return machine.Sample{Time: t0.Add(at), Span: 500 * time.Millisecond, Components: map[string]machine.Usage{"aws/coupon-1": {User: user, Memory: mem * mb}}}
	}
	samples := []machine.Sample{
		sample(500*time.Millisecond, 0.1, 30),   // 0–0.5 s: web
		sample(1000*time.Millisecond, 0.4, 300), // 0.5–1 s: the import
		sample(1500*time.Millisecond, 0.1, 60),  // 1–1.5 s: web (memory not yet returned)
		sample(2000*time.Millisecond, 0.1, 35),
	}
	p := Probe{Platform: "aws", Replicas: 1}
	judge(&p, sum)
	account(&p, samples, sum, bulk)
	require.InDelta(t, 300, p.PeakMemoryMB, 1e-9)
	require.InDelta(t, 60, p.WebPeakMemoryMB, 1e-9)
	require.InDelta(t, 300, p.BulkPeakMemoryMB, 1e-9)
	require.InDelta(t, 0.8, p.BulkCPUCores, 1e-9)
	require.Equal(t, 1, p.BulkRequests)
	require.InDelta(t, 0.3, p.BulkLatencyS, 1e-9)
	require.InDelta(t, 0.7, p.CPUSeconds, 1e-9, "bulk work's CPU is the platform's too")

	// Without the import, every sample is web work: the export was on heroku.
	q := Probe{Platform: "aws", Replicas: 1}
	judge(&q, sum)
	account(&q, samples, sum, bulkOf(ops[2:], "aws"))
	require.InDelta(t, 300, q.WebPeakMemoryMB, 1e-9)
	require.Zero(t, q.BulkRequests)
}

// Postgres's CPU during the hold, per request of the stage: the database
// as a resource that can bind.
func TestAccountDatabase(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	sum := &report.Summary{Stages: []report.Stage{{
		Name: "capacity", Started: t0, Finished: t0.Add(2 * time.Second), DurationS: 2,
		Figures: report.Figures{Requests: 1000},
	}}}
	sample := func(at time.Duration, pg float64) machine.Sample {
		return machine.Sample{Time: t0.Add(at), Span: 500 * time.Millisecond, Components: map[string]machine.Usage{
			"stack/postgres": {User: pg, System: pg / 2}, "stack/redis": {User: 0.4}, "aws/coupon-1": {User: 0.4}}}
	}
	samples := []machine.Sample{
		sample(0, 1),                      // before the hold: migrations, the seed import
		sample(500*time.Millisecond, 0.1), // 0.15 s in 0.5 s: 0.3 cores
		sample(time.Second, 0.2),
		sample(1500*time.Millisecond, 0.2),
		sample(2000*time.Millisecond, 0.3), // 0.45 s: 0.9 cores
		sample(3000*time.Millisecond, 5),   // after it
	}
	for _, tc := range []struct {
		name    string
		samples []machine.Sample
		cpu     float64
		perReq  float64
		p95     float64
	}{
		{"Postgres followed", samples, 1.2, 0.0012, 0.9},
		{"Postgres not followed (no /proc)", []machine.Sample{{Time: t0.Add(time.Second), Span: time.Second}}, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Probe{Platform: "aws"}
			accountDatabase(&p, tc.samples, sum)
			require.InDelta(t, tc.cpu, p.DBCPUSeconds, 1e-9)
			require.InDelta(t, tc.perReq, p.DBCPUPerRequest, 1e-12)
			require.InDelta(t, tc.p95, p.DBCoresP95, 1e-9)
		})
	}
}

func TestPoolPerReplica(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  scenario.Service
		want int
	}{
		{"the reference service's default", scenario.Service{}, 10},
		{"set by the scenario", scenario.Service{Env: map[string]string{"DB_POOL_MAX": "20"}}, 20},
		{"a service of the user's own: unknown", scenario.Service{Command: []string{"./mine"}}, 0},
		{"its own, saying", scenario.Service{Command: []string{"./mine"}, Env: map[string]string{"DB_POOL_MAX": "5"}}, 5},
		{"not a number: unknown", scenario.Service{Env: map[string]string{"DB_POOL_MAX": "many"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &scenario.File{}
			f.Service = tc.svc
			require.Equal(t, tc.want, poolPerReplica(f))
		})
	}
}
