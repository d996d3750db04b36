// Package metrics exposes a rehearsal to Prometheus as it runs: requests,
// errors by code (HTTP status or Heroku H/R code) and latency per stage,
// platform and endpoint, the configured Route53 weights, the active faults
// and the gate's budgets by result. The run feeds it from where it already
// observes every history entry (its sink) and every gate evaluation; it
// serves the registry at --metrics-addr and writes the final scrape into
// the results folder.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/report"
)

// The metric families a rehearsal exposes.
const (
	Requests      = "cutover_requests_total"
	RequestErrors = "cutover_request_errors_total"
	Latency       = "cutover_request_duration_seconds"
	InFlight      = "cutover_requests_in_flight"
	Weight        = "cutover_route53_weight"
	FaultActive   = "cutover_fault_active"
	GateBudgets   = "cutover_gate_budgets"
)

// File is the final scrape's name in the results folder.
const File = "metrics.txt"

// NoPlatform labels a request that reached no platform (its client could
// not resolve the service's name).
const NoPlatform = "none"

// Rehearsal holds the metrics of one run in a registry of its own.
type Rehearsal struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	weight   *prometheus.GaugeVec
	fault    *prometheus.GaugeVec
	gate     *prometheus.GaugeVec
}

// New makes the metrics of the named scenario's run; every family carries
// the scenario as a constant label.
func New(scenario string) *Rehearsal {
	c := prometheus.Labels{"scenario": scenario}
	m := &Rehearsal{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: Requests, ConstLabels: c,
			Help: "Requests the replayer completed (answered, failed or timed out), by stage, platform and endpoint."},
			[]string{"stage", "platform", "endpoint"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: RequestErrors, ConstLabels: c,
			Help: "Requests that count against error_rate, by code: the Heroku router code (H12, R14...), the 5xx status, or no_response."},
			[]string{"stage", "platform", "endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: Latency, ConstLabels: c,
			Help:    "Latency of completed requests as the client saw it, by stage, platform and endpoint.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
			[]string{"stage", "platform", "endpoint"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: InFlight, ConstLabels: c,
			Help: "Requests sent and not yet completed."}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: Weight, ConstLabels: c,
			Help: "Route53 weight of each platform's record, as last set (INSYNC)."},
			[]string{"platform"}),
		fault: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: FaultActive, ConstLabels: c,
			Help: "1 from a fault's start until its heal (a one-shot fault, which has no heal, stays 1), else 0."},
			[]string{"fault", "kind"}),
		gate: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: GateBudgets, ConstLabels: c,
			Help: "Budgets of the gate by result (pass, fail, inconclusive, skipped) at its last evaluation in the stage."},
			[]string{"stage", "result"}),
	}
	m.reg.MustRegister(m.requests, m.errors, m.latency, m.inFlight, m.weight, m.fault, m.gate)
	return m
}

// Observe counts one history entry: an invocation is in flight until its
// completion; a completion is a request of its stage; a nemesis entry
// starts or heals a fault.
func (m *Rehearsal) Observe(op history.Op) {
	if op.Process == history.Nemesis {
		if op.Type == history.OK {
			switch op.Value["phase"] {
			case "start":
				m.fault.WithLabelValues(op.F, op.Value["kind"]).Set(1)
			case "heal":
				m.fault.WithLabelValues(op.F, op.Value["kind"]).Set(0)
			}
		}
		return
	}
	if op.Type == history.Invoke {
		m.inFlight.Inc()
		return
	}
	m.inFlight.Dec()
	p := op.Platform
	if p == "" {
		p = NoPlatform
	}
	m.requests.WithLabelValues(op.Stage, p, op.F).Inc()
	if op.Latency > 0 {
		m.latency.WithLabelValues(op.Stage, p, op.F).Observe(op.Latency.Seconds())
	}
	if op.IsError() {
		m.errors.WithLabelValues(op.Stage, p, op.F, report.ErrorCode(op)).Inc()
	}
}

// SetWeights records the Route53 weights just set.
func (m *Rehearsal) SetWeights(w map[string]int) {
	for p, v := range w {
		m.weight.WithLabelValues(p).Set(float64(v))
	}
}

// SetGate records one evaluation of the gate in stage.
func (m *Rehearsal) SetGate(stage string, gates []report.Gate) {
	counts := map[report.GateResult]int{report.GatePass: 0, report.GateFail: 0, report.GateInconclusive: 0, report.GateSkipped: 0}
	for _, g := range gates {
		counts[g.Result]++
	}
	for r, n := range counts {
		m.gate.WithLabelValues(stage, string(r)).Set(float64(n))
	}
}

// Handler serves the metrics (text format, or OpenMetrics when asked).
func (m *Rehearsal) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// WriteOpenMetrics writes one scrape of every family in the OpenMetrics
// text format.
func (m *Rehearsal) WriteOpenMetrics(w io.Writer) error {
	mfs, err := m.reg.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeOpenMetrics))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		if err := c.Close(); err != nil {
			return fmt.Errorf("encode metrics: %w", err)
		}
	}
	return nil
}

// Names returns the names of the series families this package exposes, as
// PromQL sees them (a histogram's _bucket, _sum and _count).
func Names() []string {
	return []string{Requests, RequestErrors, Latency + "_bucket", Latency + "_sum", Latency + "_count", InFlight, Weight, FaultActive, GateBudgets}
}

// Server serves a Rehearsal's metrics at /metrics until Close.
type Server struct {
	ln     net.Listener
	srv    *http.Server
	linger time.Duration
	done   chan error
}

// Serve listens on addr (a loopback address; port 0 picks a free one) and
// serves m at /metrics. Close keeps serving for linger first, so that a
// Prometheus scraping every linger/2 or more often gets the final values.
func Serve(ctx context.Context, addr string, m *Rehearsal, linger time.Duration) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("metrics address %q: not a loopback address", addr)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	s := &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, linger: linger, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server after its linger (cut short if ctx ends), letting
// a scrape under way finish.
func (s *Server) Close(ctx context.Context) error {
	if s.linger > 0 {
		t := time.NewTimer(s.linger)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
