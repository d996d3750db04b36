package report

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/stats"
)

// NoResponse is the error code of a request that got no HTTP response
// (timeout, refused or reset connection).
const NoResponse = "no_response"

// ErrorCode names why op counts as an error: its Heroku code, its HTTP
// status, or NoResponse.
func ErrorCode(op history.Op) string {
	switch {
	case op.HerokuCode != "":
		return op.HerokuCode
	case op.Status >= 500:
		return strconv.Itoa(op.Status)
	default:
		return NoResponse
	}
}

// FillFigures computes st's load figures from the history: requests, rates,
// the observed split, error rates and latency percentiles overall, per
// platform and per endpoint. st.Name, Started and Finished must be set; the
// operations of the stage are those whose Stage is st.Name. Gates, breaches,
// faults and the status are the engine's to fill.
func FillFigures(st *Stage, ops []history.Op) {
	invoked := map[string]bool{}
	var done []history.Op
	for _, op := range ops {
		if op.Stage != st.Name || op.Process == history.Nemesis {
			continue
		}
		if op.Type == history.Invoke {
			invoked[op.ID] = true
			continue
		}
		done = append(done, op)
		delete(invoked, op.ID)
	}
	// An operation invoked but never completed is indeterminate.
	pending := int64(len(invoked))

	var all figuresBuilder
	platforms := map[string]*figuresBuilder{}
	endpoints := map[string]*figuresBuilder{}
	for _, op := range done {
		all.add(op)
		p := op.Platform
		if p == "" {
			p = "unknown"
		}
		if platforms[p] == nil {
			platforms[p] = &figuresBuilder{}
		}
		platforms[p].add(op)
		if endpoints[op.F] == nil {
			endpoints[op.F] = &figuresBuilder{}
		}
		endpoints[op.F].add(op)
	}
	all.pending = pending

	st.Figures = all.figures()
	st.Platforms = map[string]Figures{}
	st.ObservedSplit = map[string]float64{}
	for name, b := range platforms {
		st.Platforms[name] = b.figures()
		st.ObservedSplit[name] = round(100*float64(b.requests)/float64(len(done)), 2)
	}
	for name := range st.Weights {
		if _, ok := st.ObservedSplit[name]; !ok {
			st.ObservedSplit[name] = 0
		}
	}
	st.Endpoints = map[string]Figures{}
	for name, b := range endpoints {
		st.Endpoints[name] = b.figures()
	}
	st.DurationS = round(st.Finished.Sub(st.Started).Seconds(), 3)
	if st.DurationS > 0 {
		st.AchievedRate = round(float64(st.Requests)/st.DurationS, 2)
	}
}

type figuresBuilder struct {
	requests  int64
	errors    int64
	pending   int64
	latencies []time.Duration
	codes     map[string]int64
}

func (b *figuresBuilder) add(op history.Op) {
	b.requests++
	if op.Latency > 0 {
		b.latencies = append(b.latencies, op.Latency)
	}
	if op.IsError() {
		b.errors++
		if b.codes == nil {
			b.codes = map[string]int64{}
		}
		b.codes[ErrorCode(op)]++
	}
}

func (b *figuresBuilder) figures() Figures {
	f := Figures{
		Requests:   b.requests + b.pending,
		Errors:     b.errors + b.pending,
		ErrorCodes: map[string]int64{},
	}
	for k, v := range b.codes {
		f.ErrorCodes[k] = v
	}
	if b.pending > 0 {
		f.ErrorCodes[NoResponse] += b.pending
	}
	if f.Requests > 0 {
		f.ErrorRate = round(float64(f.Errors)/float64(f.Requests), 6)
	}
	f.LatencyMS = latencyOf(b.latencies)
	return f
}

// latencyOf sorts ds and returns its percentiles in milliseconds.
func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	return Latency{
		P50: ms(stats.Quantile(ds, 0.50)),
		P95: ms(stats.Quantile(ds, 0.95)),
		P99: ms(stats.Quantile(ds, 0.99)),
		Max: ms(ds[len(ds)-1]),
	}
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
