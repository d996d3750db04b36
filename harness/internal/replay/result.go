package replay

import (
	"bufio"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/stats"
)

// Result is what one stage did.
type Result struct {
	Stage string    `json:"stage"`
	Start time.Time `json:"start"`
	// Duration is the wall time of the stage, until the last answer.
	Duration time.Duration `json:"duration_ns"`
	// Planned counts the requests of the slice (after --quick sampling,
	// amplify copies included); Requests counts the attempts sent, client
	// retries included; Retries counts those retries.
	Planned  int64 `json:"planned"`
	Requests int64 `json:"requests"`
	Retries  int64 `json:"retries"`
	// Skipped counts rollbacks not sent because their redeem did not
	// succeed (or is not in the replay).
	Skipped int64 `json:"skipped"`
	// Late counts requests sent more than Config.LateAfter after their
	// intended time (no free worker), like k6's dropped iterations — but
	// sent all the same, with their latency measured from the intended time.
	Late int64 `json:"late"`
	// Behind counts the planned requests the replayer itself reached more
	// than Config.BehindAfter after their intended time, before waiting for
	// any platform: the load generator could not keep time (it was not
	// given the CPU). Late includes these and the requests that waited
	// for a platform's slots, its own backpressure.
	Behind int64 `json:"behind"`
	// AchievedRate is requests per second over the span of actual sends.
	AchievedRate float64 `json:"achieved_rate"`
	// OK: 2xx. Rejected: 4xx refusals (a voucher ran out, ...), expected
	// in contended traffic. Errors: everything else (5xx, router errors,
	// timeouts, connection and DNS failures). ErrorRate = Errors/Requests.
	OK        int64   `json:"ok"`
	Rejected  int64   `json:"rejected"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	// Latency, from the intended send time, over every answered or failed request.
	Latency    Latency            `json:"latency"`
	ByPlatform map[string]Latency `json:"by_platform"`
	ByOp       map[string]Latency `json:"by_op"`
	// Codes counts HTTP status codes ("0": no answer).
	Codes map[string]int64 `json:"codes"`
	// ErrorKeys counts the service's error keys.
	ErrorKeys map[string]int64 `json:"error_keys,omitempty"`
	// PlatformRequests and ObservedSplit say which platform served how many
	// requests, and what share of the requests that reached a platform.
	PlatformRequests map[string]int64   `json:"platform_requests"`
	ObservedSplit    map[string]float64 `json:"observed_split"`
	// Unsent counts the planned requests a lost shard worker never sent,
	// and LostShards names those workers (a sharded replay, see package
	// shard): the stage's traffic was partial.
	Unsent     int64 `json:"unsent,omitempty"`
	LostShards []int `json:"lost_shards,omitempty"`
	// Unreported counts the planned requests a lost worker may have sent
	// before it was lost without reporting them: the history holds each
	// as indeterminate.
	Unreported int64 `json:"unreported,omitempty"`
	// Incomplete is set when the stage was stopped before its slice ended.
	Incomplete bool `json:"incomplete,omitempty"`
}

// Latency summarizes a latency distribution (from HDR histograms, 3
// significant digits).
type Latency struct {
	Count int64
	P50   time.Duration
	P95   time.Duration
	P99   time.Duration
	Max   time.Duration
	Mean  time.Duration
}

// MarshalJSON writes milliseconds, as summary.json wants them.
func (l Latency) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return json.Marshal(struct {
		Count int64   `json:"count"`
		P50   float64 `json:"p50_ms"`
		P95   float64 `json:"p95_ms"`
		P99   float64 `json:"p99_ms"`
		Max   float64 `json:"max_ms"`
		Mean  float64 `json:"mean_ms"`
	}{l.Count, ms(l.P50), ms(l.P95), ms(l.P99), ms(l.Max), ms(l.Mean)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (l *Latency) UnmarshalJSON(b []byte) error {
	var raw struct {
		Count int64   `json:"count"`
		P50   float64 `json:"p50_ms"`
		P95   float64 `json:"p95_ms"`
		P99   float64 `json:"p99_ms"`
		Max   float64 `json:"max_ms"`
		Mean  float64 `json:"mean_ms"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	d := func(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
	*l = Latency{Count: raw.Count, P50: d(raw.P50), P95: d(raw.P95), P99: d(raw.P99), Max: d(raw.Max), Mean: d(raw.Mean)}
	return nil
}

func (l Latency) String() string {
	return fmt.Sprintf("n=%d p50=%v p95=%v p99=%v max=%v", l.Count, l.P50, l.P95, l.P99, l.Max)
}

// Platforms returns the platform names of a result, sorted.
func (r Result) Platforms() []string {
	names := make([]string, 0, len(r.PlatformRequests))
	for n := range r.PlatformRequests {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// summarize is the Latency of a histogram.
func summarize(h *stats.Histogram) Latency {
	if h.N == 0 {
		return Latency{}
	}
	return Latency{Count: h.N, P50: h.Quantile(0.50), P95: h.Quantile(0.95), P99: h.Quantile(0.99), Max: h.Max, Mean: h.Mean()}
}

// recorder writes the history and the vegeta results and keeps the
// statistics. The client calls it from the pace loop's goroutines and the retrier's
// goroutines; a mutex makes the writes one at a time (HistoryWriter's
// contract), in the order the attempts happened: an attempt's invoke is
// written before its completion, a retry's invoke after the completion
// that caused it.
type recorder struct {
	stage                  string
	start                  time.Time
	lateAfter, behindAfter time.Duration

	late    atomic.Int64
	behind  atomic.Int64
	skipped atomic.Int64
	// run* are the run's counters (Replayer.Counters).
	runSent, runLate, runBehind *atomic.Int64

	mu                   sync.Mutex
	hist                 HistoryWriter
	out                  *bufio.Writer
	enc                  vegeta.Encoder
	values               ResultWriter // instead of out and enc, when Stage.Results is one
	err                  error
	all                  stats.Histogram
	byPlatform, byOp     map[string]*stats.Histogram
	codes                map[int]int64 // by HTTP status
	keys, platform       map[string]int64
	res                  vegeta.Result // the one being encoded
	requests, retries    int64
	ok, rejected, errors int64
	firstSend, lastSend  time.Time
}

func newRecorder(st Stage, cfg Config, start time.Time, runSent, runLate, runBehind *atomic.Int64) *recorder {
	rec := &recorder{
		stage: st.Name, start: start, lateAfter: cfg.LateAfter, behindAfter: cfg.BehindAfter, hist: cfg.History,
		runSent: runSent, runLate: runLate, runBehind: runBehind,
		byPlatform: map[string]*stats.Histogram{}, byOp: map[string]*stats.Histogram{},
		codes: map[int]int64{}, keys: map[string]int64{}, platform: map[string]int64{},
	}
	if rw, ok := st.Results.(ResultWriter); ok {
		rec.values = rw
	} else if st.Results != nil {
		rec.out = bufio.NewWriterSize(st.Results, 64<<10)
		rec.enc = vegeta.NewEncoder(rec.out)
	}
	return rec
}

// invoke records that an attempt is being sent.
func (r *recorder) invoke(op *history.Op, retry bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.write(op)
	r.requests++
	r.runSent.Add(1)
	if retry {
		r.retries++
	}
	if r.firstSend.IsZero() || op.Time.Before(r.firstSend) {
		r.firstSend = op.Time
	}
	if op.Time.After(r.lastSend) {
		r.lastSend = op.Time
	}
}

// done records an attempt's completion and its vegeta result.
func (r *recorder) done(op *history.Op, res *vegeta.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.write(op)
	if r.values != nil {
		if err := r.values.WriteResult(res); err != nil {
			r.fail(fmt.Errorf("vegeta results: %w", err))
		}
	} else if r.enc != nil {
		// Encoded from the recorder's own copy, so the caller's does
		// not escape to the heap.
		r.res = *res
		if err := r.enc.Encode(&r.res); err != nil {
			r.fail(fmt.Errorf("vegeta results: %w", err))
		}
	}
	r.count(op)
}

func (r *recorder) write(op *history.Op) {
	if r.hist == nil {
		return
	}
	if err := r.hist.Write(*op); err != nil {
		r.fail(fmt.Errorf("history: %w", err))
	}
}

func (r *recorder) skip() { r.skipped.Add(1) }

// scheduled counts an attempt sent behind its intended time.
func (r *recorder) scheduled(behind time.Duration) {
	if behind > r.lateAfter {
		r.late.Add(1)
		r.runLate.Add(1)
	}
}

// reached counts a planned request the replayer reached behind its
// intended time, before it waited for its platform (Result.Behind).
func (r *recorder) reached(behind time.Duration) {
	if behind > r.behindAfter {
		r.behind.Add(1)
		r.runBehind.Add(1)
	}
}

// close flushes the vegeta results; nothing is recorded after it.
func (r *recorder) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out != nil {
		if err := r.out.Flush(); err != nil {
			r.fail(fmt.Errorf("vegeta results: %w", err))
		}
	}
}

func (r *recorder) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *recorder) count(op *history.Op) {
	switch {
	case op.Type == history.OK:
		r.ok++
	case op.Type == history.Fail && op.Status >= 400 && op.Status < 500:
		r.rejected++
	default:
		r.errors++
	}
	r.codes[op.Status]++
	if op.ErrorKey != "" {
		r.keys[op.ErrorKey]++
	}
	r.all.Add(op.Latency)
	if op.Platform != "" {
		r.platform[op.Platform]++
		histOf(r.byPlatform, op.Platform).Add(op.Latency)
	}
	histOf(r.byOp, op.F).Add(op.Latency)
}

// histOf returns m's histogram for key, made when missing.
func histOf(m map[string]*stats.Histogram, key string) *stats.Histogram {
	h := m[key]
	if h == nil {
		h = &stats.Histogram{}
		m[key] = h
	}
	return h
}

// result is called after run has returned.
func (r *recorder) result(wall time.Duration) Result {
	res := Result{
		Stage: r.stage, Start: r.start, Duration: wall,
		Requests: r.requests, Retries: r.retries, Skipped: r.skipped.Load(), Late: r.late.Load(), Behind: r.behind.Load(),
		OK: r.ok, Rejected: r.rejected, Errors: r.errors,
		Latency: summarize(&r.all), ByPlatform: map[string]Latency{}, ByOp: map[string]Latency{},
		Codes: make(map[string]int64, len(r.codes)), ErrorKeys: r.keys, PlatformRequests: r.platform, ObservedSplit: map[string]float64{},
	}
	for code, n := range r.codes {
		res.Codes[strconv.Itoa(code)] = n
	}
	if span := r.lastSend.Sub(r.firstSend); span > 0 && r.requests > 1 {
		res.AchievedRate = float64(r.requests-1) / span.Seconds()
	}
	if r.requests > 0 {
		res.ErrorRate = float64(r.errors) / float64(r.requests)
	}
	var reached int64
	for _, n := range r.platform {
		reached += n
	}
	for name, n := range r.platform {
		res.ObservedSplit[name] = float64(n) / float64(reached)
		res.ByPlatform[name] = summarize(r.byPlatform[name])
	}
	for name, h := range r.byOp {
		res.ByOp[name] = summarize(h)
	}
	return res
}
