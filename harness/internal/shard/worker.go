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
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/dnsmodel"
	"github.com/cutover/cutover/harness/internal/replay"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// WorkerOptions configure one worker.
type WorkerOptions struct {
	// Coordinator is the coordinator's base URL.
	Coordinator string
	// Shard is this worker's index (a pod of an Indexed Job reads it
	// from JOB_COMPLETION_INDEX).
	Shard int
	// Dir is where the trace is downloaded; empty uses a temporary
	// directory, removed at the end.
	Dir string
	// Reach says how this worker reaches each of Job.Reach, in order;
	// empty reaches them as they are.
	Reach []string
	// Logf reports what the worker does; nil discards it.
	Logf func(format string, args ...any)
	// Measure reports the process's CPU time and peak memory with each
	// stage: set it when the worker is a process of its own (a pod).
	Measure bool
}

// Work runs one worker until the coordinator says the run is over, ctx
// ends, or the coordinator cannot be reached. It streams every operation
// of its shard back as it happens.
func Work(ctx context.Context, opts WorkerOptions) error {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The coordinator is reached directly, never through a proxy.
	tr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	w := &workerRun{opts: opts, http: cl}

	var job Job
	if err := w.get(ctx, "/v1/job", &job); err != nil {
		return err
	}
	if opts.Shard < 0 || opts.Shard >= job.Shards {
		return fmt.Errorf("shard %d: the job has shards 0..%d", opts.Shard, job.Shards-1)
	}
	if err := reachThrough(&job, opts.Reach); err != nil {
		return err
	}
	offset, rtt, err := w.clock(ctx)
	if err != nil {
		return err
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cutover-worker-"); err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	tracePath, err := w.download(ctx, dir)
	if err != nil {
		return err
	}
	rd, err := trace.Open(tracePath)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer func() { _ = rd.Close() }()
	model, err := dnsmodel.Build(ctx, job.DNS)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	res := &virtualClock{model: model}
	platforms := map[netip.Addr]string{}
	for a, name := range job.Replay.Platforms {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return fmt.Errorf("worker: job: platforms: %w", err)
		}
		platforms[addr] = name
	}

	up := newUpstream(ctx, cl, opts.Coordinator, opts.Shard, offset)
	defer up.close()
	// From here the worker's log also goes to the coordinator.
	logf := opts.Logf
	opts.Logf = func(format string, args ...any) {
		logf(format, args...)
		up.send(Frame{Log: &LogLine{At: time.Now().Add(-offset), Text: fmt.Sprintf(format, args...)}})
	}
	w.opts = opts
	rp, err := replay.New(replay.Config{
		RunPrefix: job.Replay.RunPrefix, Resolver: res, Platforms: platforms, Port: job.Replay.Port,
		Host: job.Replay.Host, AppID: job.Replay.AppID, AppToken: job.Replay.AppToken,
		History: up.ops(), Timeout: job.Replay.Timeout, Retries: job.Replay.Retries, Via: job.Replay.Via,
	})
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer rp.Close()
	up.follow(rp.Counters)
	host, _ := os.Hostname()
	up.send(Frame{Hello: &Hello{Shard: opts.Shard, Offset: offset, RTT: rtt, Host: host}})
	opts.Logf("shard %d of %d: clock offset %s (±%s)", opts.Shard, job.Shards, offset, rtt/2)

	controls := make(chan Control, 1)
	go w.poll(ctx, controls)

	var ctl Control
	next := 1
	for {
		// Wait for the next stage, or the end of the run.
		for next > len(ctl.Stages) && !ctl.Done {
			select {
			case ctl = <-controls:
			case err := <-up.failed:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if next > len(ctl.Stages) {
			return up.finish()
		}
		spec := ctl.Stages[next-1]
		next++
		if err := w.stage(ctx, rp, rd, model, job.Shards, spec, offset, controls, &ctl, res, up); err != nil {
			return err
		}
	}
}

// reachThrough rewrites the job for a worker that reaches the job's
// endpoints through others: the platforms are dialed through them (the
// requests still name, and report, the platforms' own addresses) and the
// Route53 API is called at its relayed address.
func reachThrough(job *Job, reach []string) error {
	if len(reach) == 0 {
		return nil
	}
	if len(reach) != len(job.Reach) {
		return fmt.Errorf("worker: --reach: %d endpoints given, the job lists %d (%v)", len(reach), len(job.Reach), job.Reach)
	}
	via := map[string]string{}
	for i, from := range job.Reach {
		via[from] = reach[i]
	}
	job.Replay.Via = via
	if u, err := url.Parse(job.DNS.Route53URL); err == nil && via[u.Host] != "" {
		u.Host = via[u.Host]
		job.DNS.Route53URL = u.String()
	}
	if to := via[job.DNS.DNSAddr]; to != "" {
		job.DNS.DNSAddr = to
	}
	return nil
}

// workerRun is a worker's connection to its coordinator.
type workerRun struct {
	opts WorkerOptions
	http *http.Client
}

// stage plans and sends one stage of the worker's shard.
func (w *workerRun) stage(ctx context.Context, rp *replay.Replayer, rd *trace.Reader, model *dnsmodel.Model, shards int,
	spec Stage, offset time.Duration, controls <-chan Control, ctl *Control, res *virtualClock, up *upstream) error {
	st := replay.Stage{Name: spec.Name, Trace: rd, From: spec.From, To: spec.To, Multiplier: spec.Multiplier, Mode: spec.Mode, Compress: spec.Compress}
	plan, err := rp.Plan(st)
	if err == nil {
		plan, err = plan.Shard(w.opts.Shard, shards, model.Unit)
	}
	if err != nil {
		up.send(Frame{End: &End{Stage: spec.Index, Error: err.Error()}})
		return fmt.Errorf("worker: %w", err)
	}
	up.send(Frame{Ready: &Ready{Stage: spec.Index, Planned: int64(plan.Len())}})
	// Wait for the start (or a stop).
	for {
		spec = ctl.Stages[spec.Index-1]
		if !spec.Start.IsZero() || slices.Contains(ctl.Stopped, spec.Index) {
			break
		}
		select {
		case *ctl = <-controls:
		case err := <-up.failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if spec.Start.IsZero() {
		up.send(Frame{End: &End{Stage: spec.Index, Counts: replay.ShardCounts{Planned: int64(plan.Len())}}})
		return nil
	}
	// The stage's weights are read afresh, as the run's own model does.
	model.StageStarted()
	// The coordinator's instant, on this worker's clock.
	start := spec.Start.Add(offset)
	res.set(start, spec.Virtual)
	st.Plan, st.Start, st.Results = plan, start, up.results()

	cpu0, _ := usage()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	var result replay.Result
	var rerr error
	go func() {
		defer close(done)
		result, rerr = rp.Replay(sctx, st)
	}()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case *ctl = <-controls:
			if slices.Contains(ctl.Stopped, spec.Index) {
				stop()
			}
		case err := <-up.failed:
			stop()
			<-done
			return err
		}
	}
	end := &End{Stage: spec.Index, Counts: replay.CountsOf(result)}
	if w.opts.Measure {
		cpu1, rss := usage()
		end.CPU, end.PeakRSS = cpu1-cpu0, rss
	}
	if rerr != nil && !errors.Is(rerr, context.Canceled) {
		end.Error = rerr.Error()
	}
	// The counts the stage ends with go before its end.
	up.mu.Lock()
	up.progressLocked()
	up.writeLocked(Frame{End: end})
	up.mu.Unlock()
	w.opts.Logf("stage %s: %d requests sent, %d planned", spec.Name, result.Requests, result.Planned)
	return ctx.Err()
}

// usage is this process's CPU time (user and system) and peak resident
// memory so far.
func usage() (cpu time.Duration, peakRSS int64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	// Linux reports ru_maxrss in kilobytes.
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss * 1024
}

// get reads a JSON document from the coordinator.
func (w *workerRun) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.opts.Coordinator+path, nil)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return fmt.Errorf("worker: get %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("worker: get %s: %s: %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("worker: get %s: %w", path, err)
	}
	return nil
}

// clock measures this worker's clock against the coordinator's, as NTP
// does: of five exchanges, the one with the shortest round trip, the
// coordinator's reading taken to be at its middle.
func (w *workerRun) clock(ctx context.Context) (offset, rtt time.Duration, err error) {
	rtt = -1
	for range 5 {
		var theirs time.Time
		t0 := time.Now()
		if err := w.get(ctx, "/v1/clock", &theirs); err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		if d := t1.Sub(t0); rtt < 0 || d < rtt {
			rtt = d
			offset = t0.Add(d / 2).Sub(theirs)
		}
	}
	return offset, rtt, nil
}

// download fetches the trace into dir.
func (w *workerRun) download(ctx context.Context, dir string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.opts.Coordinator+"/v1/trace", nil)
	if err != nil {
		return "", fmt.Errorf("worker: %w", err)
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("worker: download the trace: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("worker: download the trace: %s", resp.Status)
	}
	// The trace reader knows gzip by its magic bytes, not the name.
	path := filepath.Join(dir, "trace.jsonl")
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("worker: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return "", fmt.Errorf("worker: download the trace: %w", err)
	}
	return path, f.Close()
}

// poll follows the coordinator's control state, handing each new version
// to out (replacing one not yet taken), until ctx ends.
func (w *workerRun) poll(ctx context.Context, out chan Control) {
	seen := 0
	for ctx.Err() == nil {
		var ctl Control
		if err := w.get(ctx, fmt.Sprintf("/v1/control?seen=%d", seen), &ctl); err != nil {
			w.opts.Logf("control: %v", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		if ctl.Version <= seen {
			continue
		}
		seen = ctl.Version
		select {
		case <-out:
		default:
		}
		out <- ctl
	}
}

// virtualClock is the worker's resolver: the DNS model on the stage's
// virtual time, as the coordinator's stage clock maps it.
type virtualClock struct {
	model *dnsmodel.Model

	mu            sync.Mutex
	wall, virtual time.Time
}

func (v *virtualClock) set(wall, virtual time.Time) {
	v.mu.Lock()
	v.wall, v.virtual = wall, virtual
	v.mu.Unlock()
}

// Address implements replay.Resolver.
func (v *virtualClock) Address(ctx context.Context, client string, now time.Time) (netip.Addr, error) {
	v.mu.Lock()
	t := v.virtual.Add(now.Sub(v.wall))
	v.mu.Unlock()
	return v.model.Address(ctx, client, t)
}

// upstream is the worker's stream to the coordinator: frames written as
// JSON lines, flushed every 100 ms, with a heartbeat when a second passes
// without one.
type upstream struct {
	// offset is this worker's clock minus the coordinator's: every time
	// sent is put on the coordinator's clock, so the merged history has
	// one clock.
	offset  time.Duration
	mu      sync.Mutex
	pw      *io.PipeWriter
	bw      *bufio.Writer
	enc     *json.Encoder
	last    time.Time
	pending history.Op // a completion waiting for its result
	err     error
	// counters are the worker's replayer's (nil until it has one);
	// progress what was last sent of them.
	counters func() replay.Counters
	progress Progress

	failed chan error // the stream broke
	stop   context.CancelFunc
	done   chan struct{} // the flusher and the request have ended
	status chan error    // the request's outcome
}

func newUpstream(ctx context.Context, cl *http.Client, base string, shard int, offset time.Duration) *upstream {
	pr, pw := io.Pipe()
	ctx, stop := context.WithCancel(ctx)
	u := &upstream{offset: offset, pw: pw, failed: make(chan error, 1), stop: stop, done: make(chan struct{}), status: make(chan error, 1)}
	u.bw = bufio.NewWriterSize(pw, 64<<10)
	u.enc = json.NewEncoder(u.bw)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/v1/stream?shard=%d", base, shard), pr)
		if err == nil {
			req.Header.Set("Content-Type", "application/x-ndjson")
			var resp *http.Response
			if resp, err = cl.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					err = fmt.Errorf("coordinator: %s", resp.Status)
				}
			}
		}
		pr.CloseWithError(err)
		if err != nil {
			err = fmt.Errorf("worker: stream to the coordinator: %w", err)
			select {
			case u.failed <- err:
			default:
			}
		}
		u.status <- err
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				u.mu.Lock()
				u.progressLocked()
				if now.Sub(u.last) >= time.Second {
					u.writeLocked(Frame{Beat: &now})
				}
				if u.err == nil {
					u.err = u.bw.Flush()
				}
				u.mu.Unlock()
			}
		}
	}()
	go func() {
		wg.Wait()
		close(u.done)
	}()
	return u
}

// progressLocked writes the replayer's counters when they changed; u.mu
// is held.
func (u *upstream) progressLocked() {
	if u.counters == nil {
		return
	}
	c := u.counters()
	if p := (Progress{Late: c.Late, Behind: c.Behind}); p != u.progress {
		u.progress = p
		u.writeLocked(Frame{Progress: &p})
	}
}

// follow has the stream report the replayer's counters as they change.
func (u *upstream) follow(counters func() replay.Counters) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.counters = counters
}

// send writes one frame.
func (u *upstream) send(f Frame) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.writeLocked(f)
}

func (u *upstream) writeLocked(f Frame) {
	if u.err != nil {
		return
	}
	u.last = time.Now()
	u.err = u.enc.Encode(f)
}

// finish flushes and closes the stream, and returns how it ended.
func (u *upstream) finish() error {
	u.mu.Lock()
	if u.err == nil {
		u.err = u.bw.Flush()
	}
	err := u.err
	u.mu.Unlock()
	_ = u.pw.Close()
	if serr := <-u.status; err == nil {
		err = serr
	}
	u.status <- err // close reads it again
	return err
}

// close ends the stream (without closing it cleanly when finish was not
// called: the coordinator then counts the worker as lost).
func (u *upstream) close() {
	u.pw.CloseWithError(errors.New("worker stopped"))
	u.stop()
	<-u.done
}

func (u *upstream) ops() replay.HistoryWriter { return opWriter{u} }
func (u *upstream) results() io.Writer        { return resultWriter{u} }

// opWriter sends history operations: an invoke at once, a completion with
// the vegeta result the replayer records right after it.
type opWriter struct{ u *upstream }

func (o opWriter) Write(op history.Op) error {
	o.u.mu.Lock()
	defer o.u.mu.Unlock()
	op.Intended, op.Time = op.Intended.Add(-o.u.offset), op.Time.Add(-o.u.offset)
	if op.Type != history.Invoke {
		o.u.pending = op
		return nil
	}
	o.u.writeLocked(Frame{Op: &op})
	return o.u.err
}

// resultWriter sends each vegeta result with its completion.
type resultWriter struct{ u *upstream }

var _ replay.ResultWriter = resultWriter{}

func (r resultWriter) WriteResult(res *vegeta.Result) error {
	r.u.mu.Lock()
	defer r.u.mu.Unlock()
	op := r.u.pending
	v := *res
	v.Timestamp = v.Timestamp.Add(-r.u.offset)
	r.u.writeLocked(Frame{Op: &op, Result: &v})
	return r.u.err
}

// Write refuses bytes: results travel as values (WriteResult).
func (r resultWriter) Write([]byte) (int, error) {
	return 0, errors.New("shard results: encoded results are not accepted, only values")
}
