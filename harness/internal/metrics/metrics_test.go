package metrics_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/metrics"
	"github.com/cutover/cutover/harness/report"
)

// scrape GETs url and parses the text exposition format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var parser expfmt.TextParser
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	require.NoError(t, err, string(b))
	return mfs
}

// value returns the value of the series of family name with exactly these
// labels (besides scenario); -1 when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			if l.GetName() != "scenario" {
				got[l.GetName()] = l.GetValue()
			}
		}
		if len(got) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && got[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// The live endpoint counts what the sink sees: completions by stage,
// platform and endpoint, errors by Heroku code or status, in flight, the
// weights, faults from start to heal, and the gate's last evaluation.
func TestRehearsalMetrics(t *testing.T) {
	m := metrics.New("demo")
	srv, err := metrics.Serve(context.Background(), "127.0.0.1:0", m, 0)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close(context.Background())) })

	now := time.Now()
	op := func(typ history.Type, stage, platform, f string, status int, code string) history.Op {
		return history.Op{Type: typ, Process: "client-1", F: f, Stage: stage, Platform: platform, Status: status, HerokuCode: code, Time: now, Latency: 20 * time.Millisecond}
	}
	m.SetWeights(map[string]int{"heroku": 90, "aws": 10})
	for _, o := range []history.Op{
		op(history.Invoke, "s1", "", "redeem", 0, ""),
		op(history.OK, "s1", "heroku", "redeem", 200, ""),
		op(history.Invoke, "s1", "", "redeem", 0, ""),
		op(history.Fail, "s1", "heroku", "redeem", 503, "H12"),
		op(history.Invoke, "s1", "", "validate", 0, ""),
		op(history.Fail, "s1", "aws", "validate", 500, ""),
		op(history.Invoke, "s1", "", "validate", 0, ""),
		op(history.Info, "s1", "", "validate", 0, ""),
		op(history.Invoke, "s1", "", "validate", 0, ""),
		{Type: history.Invoke, Process: history.Nemesis, F: "slow-db", Value: map[string]string{"phase": "start", "kind": "latency"}},
		{Type: history.OK, Process: history.Nemesis, F: "slow-db", Value: map[string]string{"phase": "start", "kind": "latency"}},
		{Type: history.OK, Process: history.Nemesis, F: "crash", Value: map[string]string{"phase": "start", "kind": "dyno-crash"}},
		{Type: history.OK, Process: history.Nemesis, F: "slow-db", Value: map[string]string{"phase": "heal", "kind": "latency"}},
	} {
		m.Observe(o)
	}
	m.SetGate("s1", []report.Gate{{Result: report.GatePass}, {Result: report.GateFail}, {Result: report.GateFail}})

	mfs := scrape(t, "http://"+srv.Addr()+"/metrics")
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{metrics.Requests, map[string]string{"stage": "s1", "platform": "heroku", "endpoint": "redeem"}, 2},
		{metrics.Requests, map[string]string{"stage": "s1", "platform": "aws", "endpoint": "validate"}, 1},
		{metrics.Requests, map[string]string{"stage": "s1", "platform": metrics.NoPlatform, "endpoint": "validate"}, 1},
		{metrics.RequestErrors, map[string]string{"stage": "s1", "platform": "heroku", "endpoint": "redeem", "code": "H12"}, 1},
		{metrics.RequestErrors, map[string]string{"stage": "s1", "platform": "aws", "endpoint": "validate", "code": "500"}, 1},
		{metrics.RequestErrors, map[string]string{"stage": "s1", "platform": metrics.NoPlatform, "endpoint": "validate", "code": report.NoResponse}, 1},
		{metrics.Latency, map[string]string{"stage": "s1", "platform": "heroku", "endpoint": "redeem"}, 2},
		{metrics.InFlight, map[string]string{}, 1},
		{metrics.Weight, map[string]string{"platform": "heroku"}, 90},
		{metrics.Weight, map[string]string{"platform": "aws"}, 10},
		{metrics.FaultActive, map[string]string{"fault": "slow-db", "kind": "latency"}, 0},
		{metrics.FaultActive, map[string]string{"fault": "crash", "kind": "dyno-crash"}, 1},
		{metrics.GateBudgets, map[string]string{"stage": "s1", "result": "fail"}, 2},
		{metrics.GateBudgets, map[string]string{"stage": "s1", "result": "pass"}, 1},
		{metrics.GateBudgets, map[string]string{"stage": "s1", "result": "inconclusive"}, 0},
	} {
		require.Equal(t, tc.want, value(mfs, tc.name, tc.labels), "%s%v", tc.name, tc.labels)
	}

	// Names lists exactly what is exposed (the dashboard test relies on it).
	requireExposed(t, mfs, metrics.Names())

	// The final scrape in OpenMetrics text parses back to the same counts.
	var om bytes.Buffer
	require.NoError(t, m.WriteOpenMetrics(&om))
	require.Contains(t, om.String(), "# EOF\n")
	require.Contains(t, om.String(), `cutover_requests_total{endpoint="redeem",platform="heroku",scenario="demo",stage="s1"} 2.0`)
}

func TestServeRefusesNonLoopback(t *testing.T) {
	_, err := metrics.Serve(context.Background(), "0.0.0.0:0", metrics.New("demo"), 0)
	require.ErrorContains(t, err, "not a loopback address")
}

// requireExposed checks that every series name is in the scrape (a
// histogram's _bucket, _sum and _count under its family) and that the
// scrape has no family of the same prefix that names does not list.
func requireExposed(t *testing.T, mfs map[string]*dto.MetricFamily, names []string) {
	t.Helper()
	families := map[string]bool{}
	for _, n := range names {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suffix); ok && mfs[b] != nil && mfs[b].GetType() == dto.MetricType_HISTOGRAM {
				base = b
			}
		}
		require.NotNil(t, mfs[base], "%s is listed but not exposed", n)
		families[base] = true
	}
	prefix, _, _ := strings.Cut(names[0], "_")
	for name := range mfs {
		if strings.HasPrefix(name, prefix+"_") {
			require.True(t, families[name], "%s is exposed but not listed", name)
		}
	}
}
