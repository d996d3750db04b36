// Package metrics is couponapi's Prometheus instrumentation: requests by
// route, method and status, their latency, the requests in flight, the
// Postgres pool (pgxpool's statistics) and the Go runtime, in a registry of
// the service's own served at /metrics.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metric families the service exposes (besides go_* and process_*).
const (
	Requests        = "couponapi_http_requests_total"
	Latency         = "couponapi_http_request_duration_seconds"
	InFlight        = "couponapi_http_requests_in_flight"
	PoolConns       = "couponapi_db_pool_connections"
	PoolMaxConns    = "couponapi_db_pool_max_connections"
	PoolAcquires    = "couponapi_db_pool_acquires_total"
	PoolEmptyWaits  = "couponapi_db_pool_empty_acquires_total"
	PoolAcquireTime = "couponapi_db_pool_acquire_seconds_total"
)

// Unrouted labels a request refused before routing (credentials, rate
// limit, readiness).
const Unrouted = "unrouted"

// Service is the service's metrics.
type Service struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// New makes the metrics; poolStat (nil: none) is read at each scrape.
func New(poolStat func() *pgxpool.Stat) *Service {
	m := &Service{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: Requests,
			Help: "HTTP requests served, by route pattern, method and status."},
			[]string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: Latency,
			Help:    "Time to serve a request, by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: InFlight,
			Help: "Requests being served."}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if poolStat != nil {
		m.reg.MustRegister(newPoolCollector(poolStat))
	}
	return m
}

// Start counts a request in flight; Done counts it served.
func (m *Service) Start() { m.inFlight.Inc() }

// Done records a served request: route is the pattern that served it
// (Unrouted if none did).
func (m *Service) Done(route, method string, status int, took time.Duration) {
	m.inFlight.Dec()
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(took.Seconds())
}

// Handler serves the registry (text format, or OpenMetrics when asked).
func (m *Service) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// poolCollector reads pgxpool's statistics at each scrape.
type poolCollector struct {
	stat                                func() *pgxpool.Stat
	conns, max, acquires, empty, waited *prometheus.Desc
}

func newPoolCollector(stat func() *pgxpool.Stat) poolCollector {
	return poolCollector{
		stat:     stat,
		conns:    prometheus.NewDesc(PoolConns, "Connections of the Postgres pool by state (acquired, idle, constructing).", []string{"state"}, nil),
		max:      prometheus.NewDesc(PoolMaxConns, "The Postgres pool's maximum size.", nil, nil),
		acquires: prometheus.NewDesc(PoolAcquires, "Connections acquired from the Postgres pool.", nil, nil),
		empty:    prometheus.NewDesc(PoolEmptyWaits, "Acquires that waited because the Postgres pool was empty.", nil, nil),
		waited:   prometheus.NewDesc(PoolAcquireTime, "Total time spent acquiring connections from the Postgres pool.", nil, nil),
	}
}

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.max, c.acquires, c.empty, c.waited} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stat()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(st.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(st.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.empty, prometheus.CounterValue, float64(st.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waited, prometheus.CounterValue, st.AcquireDuration().Seconds())
}

// Names returns the series names of the service's own families as PromQL
// sees them (a histogram's _bucket, _sum and _count).
func Names() []string {
	return []string{Requests, Latency + "_bucket", Latency + "_sum", Latency + "_count", InFlight,
		PoolConns, PoolMaxConns, PoolAcquires, PoolEmptyWaits, PoolAcquireTime}
}
