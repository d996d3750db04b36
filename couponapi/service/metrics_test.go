package service_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/couponapi/metrics"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

// GET /metrics (no credentials) counts requests by route pattern, method
// and status, with their latency, what is in flight and the Postgres pool.
func TestMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded stack")
	}
	inst := couponapitest.Start(t, stacktest.Embedded(t).Endpoints(), nil)
	for _, r := range []struct {
		path   string
		h      map[string]string
		status int
	}{
		{api.VoucherPath("NOPE-1"), creds(), http.StatusNotFound},
		{api.VoucherPath("NOPE-2"), creds(), http.StatusNotFound},
		{api.VoucherPath("NOPE-3"), nil, http.StatusUnauthorized},
		{api.PathHealth, nil, http.StatusOK},
	} {
		status, _, _, body := raw(t, "GET", inst.URL+r.path, r.h, "")
		require.Equal(t, r.status, status, body)
	}

	resp, err := http.Get(inst.URL + api.PathMetrics)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var parser expfmt.TextParser
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
	require.NoError(t, err, string(b))

	series := func(name string, labels ...string) float64 {
		t.Helper()
		mf := mfs[name]
		require.NotNil(t, mf, "no %s in\n%s", name, b)
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for i := 0; i < len(labels); i += 2 {
				if got[labels[i]] != labels[i+1] {
					continue next
				}
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
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{metrics.Requests, []string{"route", api.PathVouchers + "/{code}", "method", "GET", "status", "404"}, 2},
		{metrics.Requests, []string{"route", metrics.Unrouted, "method", "GET", "status", "401"}, 1},
		{metrics.Requests, []string{"route", api.PathHealth, "method", "GET", "status", "200"}, 1},
		{metrics.Latency, []string{"route", api.PathVouchers + "/{code}", "method", "GET"}, 2},
		{metrics.InFlight, nil, 1}, // this scrape
	} {
		require.Equal(t, tc.want, series(tc.name, tc.labels...), "%s %v", tc.name, tc.labels)
	}
	require.Positive(t, series(metrics.PoolMaxConns))
	require.Positive(t, series(metrics.PoolAcquires))
	require.GreaterOrEqual(t, series(metrics.PoolConns, "state", "idle"), 0.0)
	require.Positive(t, series("go_goroutines"))
	// Names lists what is exposed (the dashboard test relies on it).
	for _, n := range metrics.Names() {
		base := n
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suffix); ok && mfs[b] != nil {
				base = b
			}
		}
		require.NotNil(t, mfs[base], "%s is listed but not exposed", n)
	}
}
