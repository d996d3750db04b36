package report_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/report"
)

func TestFillFigures(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var ops []history.Op
	add := func(id, f, platform string, typ history.Type, status int, code string, latency time.Duration) {
		inv := history.Op{ID: id, Type: history.Invoke, F: f, Stage: "s1", Intended: t0, Time: t0}
		done := inv
		done.Type, done.Platform, done.Status, done.HerokuCode, done.Latency = typ, platform, status, code, latency
		ops = append(ops, inv, done)
	}
	// 100 heroku validates at 1..100 ms, all fine.
	for i := 1; i <= 100; i++ {
		add(fmt.Sprint("v", i), history.Validate, "heroku", history.OK, 200, "", time.Duration(i)*time.Millisecond)
	}
	// 40 aws redeems at 10 ms: 30 ok, 5 quantity exceeded (not errors),
	// 3 5xx, 2 timeouts (info).
	for i := 0; i < 40; i++ {
		switch {
		case i < 30:
			add(fmt.Sprint("r", i), history.Redeem, "aws", history.OK, 200, "", 10*time.Millisecond)
		case i < 35:
			add(fmt.Sprint("r", i), history.Redeem, "aws", history.Fail, 400, "", 10*time.Millisecond)
		case i < 38:
			add(fmt.Sprint("r", i), history.Redeem, "aws", history.Info, 503, "", 10*time.Millisecond)
		default:
			add(fmt.Sprint("r", i), history.Redeem, "aws", history.Info, 0, "", 10*time.Millisecond)
		}
	}
	// 10 heroku H12s at 30 s.
	for i := 0; i < 10; i++ {
		add(fmt.Sprint("h", i), history.Redeem, "heroku", history.Info, 503, "H12", 30*time.Second)
	}
	// One invoked and never completed, one of another stage, and a fault.
	ops = append(ops,
		history.Op{ID: "pending", Type: history.Invoke, F: history.Get, Stage: "s1"},
		history.Op{ID: "x", Type: history.OK, F: history.Get, Stage: "s2", Platform: "aws", Latency: time.Second},
		history.Op{ID: "n", Type: history.Info, Process: history.Nemesis, F: "dyno-crash", Stage: "s1"},
	)

	st := report.Stage{Name: "s1", Weights: map[string]int{"heroku": 75, "aws": 25}, Started: t0, Finished: t0.Add(10 * time.Second)}
	report.FillFigures(&st, ops)

	require.EqualValues(t, 151, st.Requests)
	require.EqualValues(t, 3+2+10+1, st.Errors)
	require.InDelta(t, 16.0/151, st.ErrorRate, 1e-6)
	require.Equal(t, map[string]int64{"H12": 10, "503": 3, report.NoResponse: 3}, st.ErrorCodes)
	require.InDelta(t, 15.1, st.AchievedRate, 1e-9)
	require.Equal(t, 10.0, st.DurationS)
	require.InDelta(t, 100*110.0/150, st.ObservedSplit["heroku"], 0.01)
	require.InDelta(t, 100*40.0/150, st.ObservedSplit["aws"], 0.01)

	h := st.Platforms["heroku"]
	require.EqualValues(t, 110, h.Requests)
	require.Equal(t, report.Latency{P50: 55, P95: 30000, P99: 30000, Max: 30000}, h.LatencyMS)
	v := st.Endpoints[history.Validate]
	require.Equal(t, report.Latency{P50: 50, P95: 95, P99: 99, Max: 100}, v.LatencyMS)
	require.Zero(t, v.ErrorRate)
	r := st.Endpoints[history.Redeem]
	require.EqualValues(t, 50, r.Requests)
	require.EqualValues(t, 15, r.Errors)
}
