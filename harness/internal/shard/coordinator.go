package shard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/replay"
)

// Defaults of Options.
const (
	// DefaultLostAfter is how long a worker's stream may stay silent
	// before the worker counts as lost: five missed heartbeats.
	DefaultLostAfter = 5 * time.Second
	// DefaultReadyTimeout bounds the wait for every worker's hello (pods
	// are scheduled and their image started) and for every worker to
	// have planned a stage.
	DefaultReadyTimeout = 2 * time.Minute
	// DefaultLead is how far ahead of the moment every worker has planned
	// a stage its start is set: the time the start takes to reach them.
	DefaultLead = 250 * time.Millisecond
)

// Options configure a Coordinator.
type Options struct {
	// Job is served to every worker; Job.Shards is how many there are.
	Job Job
	// Replayer is the run's: it plans each stage (numbering the requests
	// as the workers do) and its Config.History receives the merged stream.
	Replayer *replay.Replayer
	// Unit maps a client to its virtual client (dnsmodel.Model.Unit).
	Unit func(client string) uint64
	// Trace is the path of the trace file the workers download.
	Trace string
	// Listen is the address the coordinator serves on ("host:port",
	// port 0 picks one).
	Listen string
	// Virtual maps a stage's wall-clock start to the DNS model's time
	// (the run's stage clock).
	Virtual func(wall time.Time) time.Time
	// Event reports what happens to the workers (joined, lost); nil
	// discards it.
	Event func(format string, args ...any)
	// Unreported receives, for each request a lost worker may have sent
	// without reporting it (due before the worker was lost, no invoke
	// seen), an invoke and an indeterminate completion: the history must
	// not claim the request was never made. They go to the history only —
	// not to the stage's statistics or the gate, which judge what was
	// observed. Nil writes them to the replayer's history.
	Unreported func(history.Op)
	// WorkerLog receives each worker's log lines, and what the
	// coordinator saw of the worker (joined, lost), one line each:
	// "<RFC 3339 time> shard/<N>: <text>". Nil discards them.
	WorkerLog io.Writer
	// LostAfter, ReadyTimeout and Lead: see the defaults.
	LostAfter, ReadyTimeout, Lead time.Duration
}

// Coordinator serves the workers of a sharded replay and merges what they
// send; its Replay has the replayer's signature.
type Coordinator struct {
	opts Options
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns

	mu      sync.Mutex
	ctl     Control
	changed chan struct{} // closed and replaced when ctl changes
	workers []*worker
	cur     *stageRun
	// redemptions maps the idempotency keys of the redeems that
	// succeeded to their redemptions, for a lost worker's rollbacks.
	redemptions map[string]string
}

// worker is what the coordinator knows of one shard's worker.
type worker struct {
	hello    *Hello
	last     time.Time // last frame
	attached bool      // a stream is open
	detached time.Time // when the last stream closed
	lost     string    // why it was lost; empty while it is not
	lostAt   time.Time
	// cpu and requests add up the measured stages (End.CPU); peakRSS is
	// the largest End.PeakRSS.
	cpu      time.Duration
	requests int64
	peakRSS  int64
	// progress is the worker's last Progress.
	progress Progress
}

// stageRun is the stage being sent.
type stageRun struct {
	index    int
	name     string
	tally    *replay.Tally
	expected []int64            // requests of each shard's plan
	plans    [][]replay.Planned // each shard's plan
	invoked  []map[string]bool  // first attempts each shard reported, by id
	sent     []int64            // first attempts each shard invoked
	ready    []bool
	ended    []bool
	errs     []string
	changed  chan struct{} // closed and replaced on every ready, end or loss
}

// Start listens and serves the workers until Close.
func Start(opts Options) (*Coordinator, error) {
	switch {
	case opts.Job.Shards < 1:
		return nil, fmt.Errorf("shard coordinator: shards: %d, want at least 1", opts.Job.Shards)
	case opts.Replayer == nil || opts.Unit == nil || opts.Virtual == nil:
		return nil, errors.New("shard coordinator: replayer, unit and virtual clock are required")
	}
	if opts.LostAfter <= 0 {
		opts.LostAfter = DefaultLostAfter
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.Lead <= 0 {
		opts.Lead = DefaultLead
	}
	if opts.Event == nil {
		opts.Event = func(string, ...any) {}
	}
	if opts.WorkerLog == nil {
		opts.WorkerLog = io.Discard
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("shard coordinator: listen on %s: %w", opts.Listen, err)
	}
	c := &Coordinator{opts: opts, ln: ln, done: make(chan struct{}), changed: make(chan struct{}), redemptions: map[string]string{}}
	for range opts.Job.Shards {
		c.workers = append(c.workers, &worker{})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/job", c.serveJob)
	mux.HandleFunc("GET /v1/trace", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, opts.Trace) })
	mux.HandleFunc("GET /v1/clock", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, time.Now())
	})
	mux.HandleFunc("GET /v1/control", c.serveControl)
	mux.HandleFunc("POST /v1/stream", c.serveStream)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(c.done)
		_ = c.srv.Serve(ln)
	}()
	return c, nil
}

// URL is the coordinator's base URL on its listening address.
func (c *Coordinator) URL() string { return "http://" + c.ln.Addr().String() }

// Addr is the coordinator's listening address.
func (c *Coordinator) Addr() net.Addr { return c.ln.Addr() }

// WaitReady returns once every worker has opened its stream, or an error
// naming those that did not within ReadyTimeout.
func (c *Coordinator) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadyTimeout)
	defer cancel()
	for {
		c.mu.Lock()
		var missing []int
		for i, w := range c.workers {
			if w.hello == nil {
				missing = append(missing, i)
			}
		}
		ch := c.changed
		c.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("shard workers %v did not connect within %s: %w", missing, c.opts.ReadyTimeout, ctx.Err())
		}
	}
}

// Workers describes every worker: for the summary.
func (c *Coordinator) Workers() []WorkerState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]WorkerState, len(c.workers))
	for i, w := range c.workers {
		out[i] = WorkerState{Shard: i, Lost: w.lost, LostAt: w.lostAt, CPU: w.cpu, Requests: w.requests, PeakRSS: w.peakRSS}
		if w.hello != nil {
			out[i].Host, out[i].Offset, out[i].RTT = w.hello.Host, w.hello.Offset, w.hello.RTT
		}
	}
	return out
}

// WorkerState is one worker as the coordinator saw it.
type WorkerState struct {
	Shard  int           `json:"shard"`
	Host   string        `json:"host,omitempty"`
	Offset time.Duration `json:"clock_offset_ns"`
	RTT    time.Duration `json:"clock_rtt_ns"`
	Lost   string        `json:"lost,omitempty"`
	LostAt time.Time     `json:"lost_at,omitzero"`
	// CPU is the CPU time the worker's process used over the stages it
	// measured, sending Requests first attempts; PeakRSS its peak memory
	// (bytes). Zero for in-process workers.
	CPU      time.Duration `json:"cpu_ns,omitempty"`
	Requests int64         `json:"requests,omitempty"`
	PeakRSS  int64         `json:"peak_rss,omitempty"`
}

// Counters are the run's counters as replay.Replayer.Counters has them,
// live: attempts sent as the workers' invokes are merged, late and behind
// as the workers last reported them (Progress).
func (c *Coordinator) Counters() replay.Counters {
	n := replay.Counters{Sent: c.opts.Replayer.Counters().Sent}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.workers {
		n.Late += w.progress.Late
		n.Behind += w.progress.Behind
	}
	return n
}

// Lose marks a worker lost for a reason seen elsewhere (its pod failed):
// its stage's unsent requests are counted at once, without waiting for its
// stream to fall silent.
func (c *Coordinator) Lose(shard int, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if shard >= 0 && shard < len(c.workers) {
		c.loseLocked(shard, why)
	}
}

// loseLocked marks a worker lost; c.mu is held.
func (c *Coordinator) loseLocked(i int, why string) {
	w := c.workers[i]
	if w.lost != "" {
		return
	}
	w.lost, w.lostAt = why, time.Now()
	c.opts.Event("shard worker %d lost: %s", i, why)
	c.workerLogLocked(i, w.lostAt, "lost: "+why)
	c.signalLocked()
}

// workerLogLocked writes a line of worker shard's log; c.mu is held (it
// orders the lines).
func (c *Coordinator) workerLogLocked(shard int, at time.Time, text string) {
	fmt.Fprintf(c.opts.WorkerLog, "%s shard/%d: %s\n", at.UTC().Format(time.RFC3339Nano), shard, strings.TrimRight(text, "\n"))
}

// signalLocked wakes everything waiting for a change; c.mu is held.
func (c *Coordinator) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
	if c.cur != nil {
		close(c.cur.changed)
		c.cur.changed = make(chan struct{})
	}
}

// publishLocked makes a new version of the control state; c.mu is held.
func (c *Coordinator) publishLocked(edit func(*Control)) {
	edit(&c.ctl)
	c.ctl.Version++
	c.signalLocked()
}

// Replay sends a stage through the workers: it plans the stage as they
// do, publishes it, waits for every worker to have planned its shard,
// sets the start, and merges their streams until every worker has ended
// the stage or is lost. st.Start is ignored: the start is set once every
// worker is ready, and the DNS model's time at it is Options.Virtual of
// st.Start (so the model sees the stage at the same virtual instants as
// in a single-process run). When ctx ends first, the workers are told to
// stop the stage.
func (c *Coordinator) Replay(ctx context.Context, st replay.Stage) (replay.Result, error) {
	plan, err := c.opts.Replayer.Plan(st)
	if err != nil {
		return replay.Result{}, err
	}
	n := c.opts.Job.Shards
	run := &stageRun{name: st.Name, expected: make([]int64, n), sent: make([]int64, n), plans: make([][]replay.Planned, n), invoked: make([]map[string]bool, n),
		ready: make([]bool, n), ended: make([]bool, n), errs: make([]string, n), changed: make(chan struct{})}
	for i := range n {
		sp, err := plan.Shard(i, n, c.opts.Unit)
		if err != nil {
			return replay.Result{}, fmt.Errorf("stage %s: %w", st.Name, err)
		}
		run.expected[i] = int64(sp.Len())
		run.plans[i] = sp.Sent()
		run.invoked[i] = map[string]bool{}
	}
	virtual := c.opts.Virtual(st.Start)
	if st.Start.IsZero() {
		virtual = c.opts.Virtual(time.Now())
	}
	stage := Stage{Name: st.Name, From: st.From, To: st.To, Multiplier: st.Multiplier, Mode: st.Mode, Compress: st.Compress, Virtual: virtual}
	c.mu.Lock()
	stage.Index = len(c.ctl.Stages) + 1
	run.index = stage.Index
	c.cur = run
	c.publishLocked(func(ctl *Control) { ctl.Stages = append(ctl.Stages, stage) })
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
	}()

	// Every live worker plans its shard, then the stage starts for all.
	if err := c.await(ctx, run, c.opts.ReadyTimeout, func(i int) bool { return run.ready[i] || run.ended[i] }); err != nil {
		c.stop(run.index)
		return replay.Result{}, fmt.Errorf("stage %s: workers not ready: %w", st.Name, err)
	}
	c.mu.Lock()
	for i, e := range run.errs {
		if e != "" {
			c.mu.Unlock()
			c.stop(run.index)
			return replay.Result{}, fmt.Errorf("stage %s: shard %d: %s", st.Name, i, e)
		}
	}
	start := time.Now().Add(c.opts.Lead)
	run.tally = c.opts.Replayer.NewTally(replay.Stage{Name: st.Name, Results: st.Results}, start)
	c.publishLocked(func(ctl *Control) { ctl.Stages[stage.Index-1].Start = start })
	c.mu.Unlock()

	err = c.await(ctx, run, 0, func(i int) bool { return run.ended[i] })
	if err != nil {
		// Stopped: the workers end the stage with what they sent; wait
		// for them, within the client timeout, so every answer in
		// flight is recorded.
		c.stop(run.index)
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.Job.Replay.Timeout+c.opts.LostAfter)
		_ = c.await(wctx, run, 0, func(i int) bool { return run.ended[i] })
		cancel()
	}

	// A worker known lost (its pod was deleted) may still be sending
	// until its process is gone: what it reports until its stream closes
	// is real, and only after that can nothing more have been sent.
	c.awaitDetached(ctx, run)

	c.mu.Lock()
	tally := run.tally
	var lost []int
	var unsent, unreported int64
	var errs []string
	now := time.Now()
	for i, w := range c.workers {
		if !run.ended[i] && w.lost != "" {
			lost = append(lost, i)
			// Until its stream closed (or now, if it never did) the
			// worker may have sent what it did not report.
			cutoff := now
			if !w.attached && !w.detached.IsZero() {
				cutoff = w.detached
			}
			u, r := c.accountLost(run, i, start, cutoff)
			unsent += u
			unreported += r
		}
		if run.errs[i] != "" {
			errs = append(errs, fmt.Sprintf("shard %d: %s", i, run.errs[i]))
		}
	}
	run.tally = nil // frames arriving late are dropped
	c.mu.Unlock()
	res, terr := tally.Result(time.Since(start))
	res.LostShards, res.Unsent, res.Unreported = lost, unsent, unreported
	for _, i := range lost {
		// A lost worker's shard is part of the plan, sent or not.
		res.Planned += run.expected[i]
	}
	switch {
	case terr != nil:
		return res, fmt.Errorf("stage %s: %w", st.Name, terr)
	case len(errs) > 0:
		return res, fmt.Errorf("stage %s: %v", st.Name, errs)
	case ctx.Err() != nil:
		res.Incomplete = true
		return res, ctx.Err()
	}
	return res, nil
}

// awaitDetached waits, at most LostAfter, until every lost worker that
// did not end the stage has no stream open.
func (c *Coordinator) awaitDetached(ctx context.Context, run *stageRun) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.LostAfter)
	defer cancel()
	for {
		c.mu.Lock()
		open := false
		for i, w := range c.workers {
			open = open || (w.lost != "" && !run.ended[i] && w.attached)
		}
		ch := run.changed
		c.mu.Unlock()
		if !open {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// accountLost settles the requests of a lost worker's shard that it did
// not report: those due after cutoff (when it can no longer have sent
// anything) were never sent (unsent); those due before may have been sent
// — the worker died before it said so — and go to the history as
// indeterminate (unreported). c.mu is held.
func (c *Coordinator) accountLost(run *stageRun, shard int, start, lostAt time.Time) (unsent, unreported int64) {
	for _, p := range run.plans[shard] {
		if run.invoked[shard][p.RequestID] {
			continue
		}
		due := start.Add(p.Offset)
		if due.After(lostAt) {
			unsent++
			continue
		}
		unreported++
		op := history.Op{ID: p.RequestID, Type: history.Invoke, Process: p.Client, F: p.Op,
			Voucher: p.Voucher, Customer: p.Customer, IdempotencyKey: p.Key, Amount: p.Amount,
			RequestID: p.RequestID, Intended: due, Time: due, Stage: run.name}
		if p.Undoes != "" {
			// As the worker would have sent it: for the redemption its
			// redeem created, when the run saw it.
			op.RedemptionID = c.redemptions[p.Undoes]
		}
		c.unreported(op)
		op.Type, op.Time, op.Latency = history.Info, lostAt, lostAt.Sub(due)
		op.Error = fmt.Sprintf("shard worker %d lost before it reported this request: it may have been sent", shard)
		c.unreported(op)
	}
	return unsent, unreported
}

// unreported writes an entry the run did not observe to the history.
func (c *Coordinator) unreported(op history.Op) {
	if c.opts.Unreported != nil {
		c.opts.Unreported(op)
		return
	}
	if h := c.opts.Replayer.History(); h != nil {
		_ = h.Write(op)
	}
}

// await waits until every worker that is not lost satisfies ok, a worker
// falls silent (it is then lost), ctx ends, or (when positive) timeout.
func (c *Coordinator) await(ctx context.Context, run *stageRun, timeout time.Duration, ok func(i int) bool) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		c.mu.Lock()
		waiting := false
		now := time.Now()
		for i, w := range c.workers {
			if w.lost != "" || ok(i) {
				continue
			}
			if !w.last.IsZero() && now.Sub(w.last) > c.opts.LostAfter {
				c.loseLocked(i, fmt.Sprintf("silent for %s", now.Sub(w.last).Round(time.Second)))
				continue
			}
			waiting = true
		}
		ch := run.changed
		c.mu.Unlock()
		if !waiting {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stop tells the workers to stop stage index.
func (c *Coordinator) stop(index int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.ctl.Stopped, index) {
		c.publishLocked(func(ctl *Control) { ctl.Stopped = append(ctl.Stopped, index) })
	}
}

// Close finishes (see Finish) and stops serving.
func (c *Coordinator) Close(ctx context.Context) error {
	c.Finish(ctx)
	err := c.srv.Shutdown(ctx)
	if err != nil {
		err = c.srv.Close()
	}
	<-c.done
	return err
}

// Finish tells the workers the replay is over and waits (within ctx) for
// their streams to close: call it once the last stage has been sent,
// before the platforms the workers run on are taken down.
func (c *Coordinator) Finish(ctx context.Context) {
	c.mu.Lock()
	if !c.ctl.Done {
		c.publishLocked(func(ctl *Control) { ctl.Done = true })
	}
	c.mu.Unlock()
	for {
		c.mu.Lock()
		open := false
		for _, w := range c.workers {
			open = open || (w.attached && w.lost == "")
		}
		ch := c.changed
		c.mu.Unlock()
		if !open {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
}

func (c *Coordinator) serveJob(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, c.opts.Job)
}

// serveControl answers the control state once its version is above
// ?seen=, or after 20 s with the same state (the worker asks again).
func (c *Coordinator) serveControl(w http.ResponseWriter, r *http.Request) {
	seen, _ := strconv.Atoi(r.URL.Query().Get("seen"))
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	for {
		c.mu.Lock()
		ctl, ch := c.ctl, c.changed
		ctl.Stages = slices.Clone(ctl.Stages)
		ctl.Stopped = slices.Clone(ctl.Stopped)
		c.mu.Unlock()
		if ctl.Version > seen {
			writeJSON(w, ctl)
			return
		}
		select {
		case <-ch:
		case <-t.C:
			writeJSON(w, ctl)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// serveStream reads one worker's frames until its stream closes.
func (c *Coordinator) serveStream(w http.ResponseWriter, r *http.Request) {
	shard, err := strconv.Atoi(r.URL.Query().Get("shard"))
	if err != nil || shard < 0 || shard >= len(c.workers) {
		http.Error(w, fmt.Sprintf("shard: %q is not one of 0..%d", r.URL.Query().Get("shard"), len(c.workers)-1), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	wk := c.workers[shard]
	if wk.attached || wk.lost != "" {
		c.mu.Unlock()
		http.Error(w, fmt.Sprintf("shard %d: a worker has streamed already", shard), http.StatusConflict)
		return
	}
	wk.attached, wk.last = true, time.Now()
	c.mu.Unlock()

	why := c.read(shard, r)
	c.mu.Lock()
	wk.attached, wk.detached = false, time.Now()
	if why != "" {
		c.loseLocked(shard, why)
	}
	c.signalLocked()
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// read applies a worker's frames; it returns why the stream ended early,
// or "" when the worker closed it after the run was over.
func (c *Coordinator) read(shard int, r *http.Request) string {
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var f Frame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return fmt.Sprintf("bad frame: %v", err)
		}
		c.apply(shard, &f)
	}
	c.mu.Lock()
	over := c.ctl.Done
	c.mu.Unlock()
	switch {
	case sc.Err() != nil:
		return fmt.Sprintf("stream broke: %v", sc.Err())
	case !over:
		return "stream closed before the run ended"
	}
	return ""
}

// apply takes one frame into account.
func (c *Coordinator) apply(shard int, f *Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	wk := c.workers[shard]
	wk.last = time.Now()
	// A worker lost (its pod seen deleted) may still report what it
	// sends until its process is gone: that is kept.
	run := c.cur
	switch {
	case f.Hello != nil:
		wk.hello = f.Hello
		c.opts.Event("shard worker %d joined from %s, clock offset %s (±%s)", shard, f.Hello.Host, f.Hello.Offset, f.Hello.RTT/2)
		c.workerLogLocked(shard, wk.last, fmt.Sprintf("joined from %s, clock offset %s (±%s)", f.Hello.Host, f.Hello.Offset, f.Hello.RTT/2))
		c.signalLocked()
	case f.Op != nil && run != nil && run.tally != nil && f.Op.Stage == run.name:
		if f.Op.Type == history.Invoke {
			if !replay.IsRetry(f.Op.ID) {
				run.sent[shard]++
				run.invoked[shard][f.Op.ID] = true
			}
			run.tally.Invoke(*f.Op)
		} else if f.Result != nil {
			if f.Op.F == history.Redeem && f.Op.Type == history.OK && f.Op.IdempotencyKey != "" && f.Op.RedemptionID != "" {
				c.redemptions[f.Op.IdempotencyKey] = f.Op.RedemptionID
			}
			run.tally.Done(*f.Op, *f.Result)
		}
	case f.Progress != nil:
		wk.progress = *f.Progress
	case f.Log != nil:
		c.workerLogLocked(shard, f.Log.At, f.Log.Text)
	case f.End != nil && run != nil && f.End.Stage == run.index:
		run.ended[shard] = true
		run.errs[shard] = f.End.Error
		if f.End.CPU > 0 {
			wk.cpu += f.End.CPU
			wk.requests += run.sent[shard]
			wk.peakRSS = max(wk.peakRSS, f.End.PeakRSS)
		}
		if run.tally != nil {
			run.tally.Counts(f.End.Counts)
		}
		c.signalLocked()
	case f.Ready != nil && run != nil && f.Ready.Stage == run.index:
		if f.Ready.Planned != run.expected[shard] {
			run.errs[shard] = fmt.Sprintf("planned %d requests, the coordinator %d: the worker's plan differs", f.Ready.Planned, run.expected[shard])
		}
		run.ready[shard] = true
		c.signalLocked()
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
