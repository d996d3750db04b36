// Package replay sends a slice of a trace at a multiple of its recorded rate
// against the coupon API, the way the rehearsal needs it: each request goes
// to the address its virtual client resolved through the client DNS model,
// is sent when the plan says (open model, latency measured from the
// intended send time), and ends up in a Jepsen-style history and in vegeta's
// own result encoding (readable by `vegeta report` and `vegeta plot`).
// Clients may retry redeems and rollbacks whose outcome was indeterminate
// (Config.Retries), each attempt recorded as its own operation.
//
// A stage is planned before it starts (Plan): its slice of the trace read,
// decoded, remapped, each request's URL parsed and headers built. Sending
// it then takes no decoding and no building but the request itself: a
// pacer hands each planned request, at its intended time, to a worker that
// sends it with the shared transport — less work per request than vegeta's
// attacker, which builds each one from a target as it goes (see
// BenchmarkReplayerVsVegeta).
//
// One Replayer serves a whole run (its connection pools and the redemptions
// that later rollbacks need outlive a stage); the run engine calls Replay
// once per scenario step with a Stage, and gets a Result back.
package replay

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
	"github.com/cutover/cutover/internal/machine"
)

// Resolver tells which address a virtual client sends its request to at a
// given time (the client DNS model: weighted records, TTL caching). It is
// called once per planned request, from one goroutine in the plan's order,
// with now = the intended send time, so a client's resolver cache and
// connections evolve the same way in every run. A client's retry goes
// where its first attempt went, without asking again: which requests are
// retried depends on latency, and must not shift the routing of the planned
// requests that follow.
type Resolver interface {
	Address(ctx context.Context, client string, now time.Time) (netip.Addr, error)
}

// FixedAddress is a Resolver that sends every request to one address.
type FixedAddress netip.Addr

// Address implements Resolver.
func (a FixedAddress) Address(context.Context, string, time.Time) (netip.Addr, error) {
	return netip.Addr(a), nil
}

// HistoryWriter receives the history entries; *history.Writer is one. The
// replayer calls it from one goroutine at a time; if other goroutines (the
// nemesis) write the same history, the caller serializes them.
type HistoryWriter interface {
	Write(history.Op) error
}

// Defaults of Config.
const (
	DefaultMaxWorkers     = 1024
	DefaultMaxConnections = 512
	DefaultTimeout        = 40 * time.Second
	DefaultLateAfter      = 10 * time.Millisecond
	// DefaultBehindAfter is how far behind its intended time the replayer
	// may reach a request before it counts as behind (Result.Behind): 50
	// ms, the smallest min_delta of the shipped comparative budgets and a
	// fifth of their smallest absolute latency limit. Smoke on this 2-core
	// machine reached 1.8–3.2 % of a stage's requests 10+ ms late at 47–66 %
	// CPU, with p99s of 23–100 ms — a delay no budget would notice — while
	// the flush in h12-retry-trap reached them a median 228 ms late.
	DefaultBehindAfter = 50 * time.Millisecond
	DefaultMultiplier  = 6
	// DefaultRedeemMemory is how many redeems (by idempotency key) the
	// replayer remembers for later rollbacks; a rollback further away
	// from its redeem is skipped as if the redeem were not in the replay.
	DefaultRedeemMemory = 200_000
	// DefaultRetryBackoff is the wait before a client's first retry.
	DefaultRetryBackoff = time.Second
)

// Config is what stays the same for every stage of a run.
type Config struct {
	// RunPrefix is prepended to voucher codes, customers and idempotency
	// keys (see Identity); the seed data must be created with the same prefix.
	RunPrefix string
	// Resolver picks each request's address; Platforms names the platform
	// behind each address ("heroku", "aws"). An address missing from the
	// map is reported under its own text.
	Resolver  Resolver
	Platforms map[netip.Addr]string
	// Port is the service port, the same on every platform.
	Port int
	// Host is sent as the Host header (the service's DNS name); empty
	// sends address:port.
	Host string
	// AppID and AppToken, when set, replace the credentials of every
	// request (recorded traces carry redacted ones).
	AppID, AppToken string
	// History receives invoke and completion entries; nil writes none.
	History HistoryWriter
	// MaxWorkers caps the workers (concurrent requests) and
	// MaxConnections the connections, each per platform address: one
	// platform's stalled answers never hold the workers of another's
	// clients. Uncapped, a high rate exhausts file descriptors; capped,
	// requests that find no free worker are sent late and counted as late.
	MaxWorkers, MaxConnections int
	// Timeout bounds one request, body included.
	Timeout time.Duration
	// BehindAfter: see DefaultBehindAfter.
	BehindAfter time.Duration
	// LateAfter is how far behind its intended time a request may be
	// sent before it counts as late.
	LateAfter time.Duration
	// RedeemMemory: see DefaultRedeemMemory.
	RedeemMemory int
	// Retries is how many times a client re-sends a request whose outcome
	// was indeterminate (info: a timeout, a connection error, a 408 or a
	// 5xx, the Heroku router's 503s included), as real clients do. Only
	// redeems with an idempotency key (re-sent with the same key and body)
	// and rollbacks (re-sent for the same redemption) are retried. Each
	// attempt is its own history operation (ID "<id>.r<n>", X-Request-Id
	// "<id>-r<n>") and its own vegeta result, resolved afresh through the
	// Resolver. Zero never retries.
	Retries int
	// Via dials some "address:port"s through others ("host:port"): a
	// shard worker in a pod reaches the platforms on the host's loopback
	// through relays. Requests still name, and are reported under, the
	// address the resolver gave.
	Via map[string]string
	// RetryBackoff is the wait between an attempt's end and its retry,
	// doubled for each further retry (zero means DefaultRetryBackoff). It
	// is client time: neither the multiplier nor Compress scales it.
	RetryBackoff time.Duration
}

// Mode is how a stage reaches its multiplier.
type Mode string

const (
	// Paced sends every request once, at its trace offset divided by the
	// multiplier: the trace plays M times faster.
	Paced Mode = "paced"
	// Amplify keeps the trace's real time and sends each request M times
	// (M must be a whole number), each copy with its own customers,
	// idempotency keys and clients, on the same vouchers.
	Amplify Mode = "amplify"
)

// Stage is one replay: the slice [From, To) of the trace's offsets, at
// Multiplier× the recorded rate, starting now.
type Stage struct {
	// Name labels the history entries and the vegeta results ("attack").
	Name string
	// Trace is read from its current position; lines before From are
	// skipped and reading stops at the first line at or after To.
	Trace *trace.Reader
	// From and To are offsets into the trace; To zero means the end.
	From, To time.Duration
	// Multiplier is the load factor (zero means DefaultMultiplier).
	Multiplier float64
	// Mode is Paced (the zero value) or Amplify.
	Mode Mode
	// Compress, when above 1, maps the slice into 1/Compress of its time
	// (the --quick mode): only the requests of a 1/Compress share of the
	// end users (customers; else idempotency keys, else clients — see
	// sampleUnit) are sent, and their offsets are divided by Compress, so
	// the request rate stays that of the multiplied trace while the stage
	// lasts Compress times less. Sampling by end user keeps each
	// customer's flow (validate → redeem → retry → rollback) whole; its
	// gaps shrink by the same factor.
	Compress float64
	// Results receives every result in vegeta's gob encoding (readable by
	// `vegeta report` and `vegeta plot`); nil discards them. A result's
	// Timestamp is the intended send time and its Latency is measured from
	// it. Requests the replayer skipped are not in it.
	Results io.Writer
	// Start is when the slice's first instant is due (zero: when Replay
	// starts sending, once its first requests are planned). A caller whose
	// resolver keeps its own clock passes the instant that clock started
	// at, so intended times map to it exactly; a stream plans its first
	// batch (streamBatch requests) after it, a Plan made in advance
	// nothing.
	Start time.Time
	// Plan, when set, is the stage planned in advance by Replayer.Plan;
	// Trace, From, To, Mode and Compress are then not read again.
	Plan *Plan
}

// Replayer replays stages of traces for one run.
type Replayer struct {
	cfg       Config
	transport *http.Transport
	redeems   *redeemBook
	seq       uint64 // requests planned so far in the run, for request ids
	retrySeq  uint64 // retries sent so far in the run
	runHash   uint64 // of the run prefix, for request ids
	// sent, late and behind count the run's attempts so far, those sent
	// late and the planned requests reached late, for Counters.
	sent, late, behind atomic.Int64
}

// New checks cfg and makes a Replayer; Close it at the end of the run.
func New(cfg Config) (*Replayer, error) {
	if cfg.Resolver == nil {
		return nil, errors.New("replay config: resolver: missing")
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("replay config: port: %d is not a TCP port", cfg.Port)
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = DefaultMaxWorkers
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.BehindAfter <= 0 {
		cfg.BehindAfter = DefaultBehindAfter
	}
	if cfg.LateAfter <= 0 {
		cfg.LateAfter = DefaultLateAfter
	}
	if cfg.RedeemMemory <= 0 {
		cfg.RedeemMemory = DefaultRedeemMemory
	}
	if cfg.Retries < 0 {
		return nil, fmt.Errorf("replay config: retries: %d is negative", cfg.Retries)
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	dial := dialer.DialContext
	if len(cfg.Via) > 0 {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if via, ok := cfg.Via[addr]; ok {
				addr = via
			}
			return dialer.DialContext(ctx, network, addr)
		}
	}
	tr := &http.Transport{
		Proxy:               nil, // load goes where the resolver says, never through a proxy
		DialContext:         dial,
		MaxIdleConnsPerHost: cfg.MaxConnections,
		MaxConnsPerHost:     cfg.MaxConnections,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	h := fnv.New64a()
	h.Write([]byte(cfg.RunPrefix))
	return &Replayer{cfg: cfg, transport: tr, redeems: newRedeemBook(cfg.RedeemMemory), runHash: h.Sum64()}, nil
}

// History is where the replayer writes its history (Config.History).
func (r *Replayer) History() HistoryWriter { return r.cfg.History }

// Close drops the idle connections.
func (r *Replayer) Close() { r.transport.CloseIdleConnections() }

// Counters returns how many requests the run has sent so far (retries
// included), how many of them were sent late (for any reason), and how
// many planned requests the replayer itself reached late (Result.Behind):
// a machine that cannot keep up shows in the third climbing. Safe to call
// while a stage runs.
func (r *Replayer) Counters() Counters {
	return Counters{Sent: r.sent.Load(), Late: r.late.Load(), Behind: r.behind.Load()}
}

// Counters are the run's totals so far: see Replayer.Counters.
type Counters struct{ Sent, Late, Behind int64 }

func (s *Stage) check() error {
	switch {
	case s.Trace == nil && s.Plan == nil:
		return errors.New("stage: trace: missing")
	case s.From < 0 || (s.To != 0 && s.To <= s.From):
		return fmt.Errorf("stage %s: slice [%v, %v) is empty or negative", s.Name, s.From, s.To)
	case s.Multiplier < 0 || math.IsNaN(s.Multiplier) || math.IsInf(s.Multiplier, 0):
		return fmt.Errorf("stage %s: multiplier: %v is not a positive number", s.Name, s.Multiplier)
	case s.Compress != 0 && (s.Compress < 1 || math.IsInf(s.Compress, 0) || math.IsNaN(s.Compress)):
		return fmt.Errorf("stage %s: compress: %v is below 1", s.Name, s.Compress)
	}
	if s.Multiplier == 0 {
		s.Multiplier = DefaultMultiplier
	}
	if s.Compress == 0 {
		s.Compress = 1
	}
	switch s.Mode {
	case "":
		s.Mode = Paced
	case Paced:
	case Amplify:
		if s.Multiplier != math.Trunc(s.Multiplier) || s.Multiplier > 1000 {
			return fmt.Errorf("stage %s: multiplier: amplify sends whole copies, %v is not a whole number up to 1000", s.Name, s.Multiplier)
		}
	default:
		return fmt.Errorf("stage %s: mode: unknown %q (want %q or %q)", s.Name, s.Mode, Paced, Amplify)
	}
	return nil
}

// Replay sends the stage's slice and returns its result once every request
// has completed. When ctx ends first, in-flight requests are abandoned
// (recorded as info) and Replay returns the result so far with ctx's error.
// A stage without a Plan is planned while it is sent, a bounded number
// of requests ahead (see streamAhead); a bad trace line stops it with an
// error naming the line — before anything is sent when it is among the
// first requests.
func (r *Replayer) Replay(ctx context.Context, st Stage) (Result, error) {
	if err := st.check(); err != nil {
		return Result{}, err
	}
	var src source
	if st.Plan != nil {
		src = &cursor{plan: st.Plan}
	} else {
		s, err := r.stream(st)
		if err != nil {
			return Result{}, err
		}
		src = s
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	start := st.Start
	if start.IsZero() {
		start = time.Now()
	}
	rec := newRecorder(st, r.cfg, start, &r.sent, &r.late, &r.behind)
	cl := newClient(ctx, r.cfg, st.Name, r.transport, r.redeems, rec, &r.retrySeq)
	retryDone := make(chan struct{})
	if r.cfg.Retries > 0 {
		cl.retries = newRetrier(r.cfg.MaxWorkers, cl.retry, cl.abandon)
		go func() {
			defer close(retryDone)
			cl.retries.run(ctx)
		}()
	} else {
		close(retryDone)
	}
	r.pace(ctx, src, start, cl)
	planned, planErr := src.finish()
	// Every first attempt has completed; the retries they scheduled (and
	// the retries of those) belong to the stage too.
	if cl.retries != nil {
		cl.retries.wait()
	}
	cancel()
	<-retryDone
	rec.close()

	res := rec.result(time.Since(start))
	res.Planned = planned
	if planErr != nil {
		return res, planErr
	}
	if rec.err != nil {
		return res, fmt.Errorf("stage %s: %w", st.Name, rec.err)
	}
	if err := parent.Err(); err != nil {
		res.Incomplete = true
		return res, err
	}
	return res, nil
}

// pace sends the planned requests in order, each at its intended time (an
// open model: it never waits for earlier answers), and returns once every
// first attempt has completed (or ctx ended). It resolves each request's address in plan
// order, skipped ones included, so a client's resolver cache and
// connections evolve the same way in every run whatever the answers; and
// it skips rollbacks whose redeem is known not to have succeeded.
//
// Each request is sent from a worker of its platform address's lane
// (see lane), at most Config.MaxWorkers of them: a platform whose answers
// stall holds only its own requests, never another's, and the loop never
// waits for a free worker. With one pool of workers for both platforms,
// Heroku holding every request past its router window took every worker,
// and the requests the weights sent to AWS waited for one — sent late,
// their latency (measured from the intended time) was Heroku's stall.
func (r *Replayer) pace(ctx context.Context, src source, start time.Time, cl *client) {
	var wg sync.WaitGroup
	lanes := map[netip.Addr]*lane{}
	defer func() {
		for _, l := range lanes {
			l.close()
		}
		wg.Wait()
	}()
	// The resolver works for the clients' DNS model: its CPU is accounted
	// to it (see package machine).
	dnsLabels := machine.Labels(ctx, machine.DNSModel)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
send:
	for {
		if ctx.Err() != nil {
			break
		}
		p, ok := src.next(ctx)
		if !ok {
			break
		}
		p.intended = start.Add(p.offset)
		if p.op == history.Redeem && p.key != "" {
			r.redeems.planned(p.key)
		}
		// Resolved before a rollback may be skipped: whether it is depends
		// on its redeem's outcome, and routing must not. (Skipping first,
		// a redeem failing in one run and not in another — a fault's
		// timing — changed that client's resolver cache and so the
		// platform of its later requests.)
		pprof.SetGoroutineLabels(dnsLabels)
		p.addr, p.resolveErr = r.cfg.Resolver.Address(ctx, p.client, p.intended)
		pprof.SetGoroutineLabels(ctx)
		if p.undoes != "" {
			if _, ok := r.redeems.usable(p.undoes); !ok {
				cl.rec.skip()
				continue
			}
		}
		if wait := time.Until(p.intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				cl.unsent(p)
				break send
			}
		}
		// A request whose name did not resolve goes with the zero
		// address's, and fails at once. The time until a worker takes it
		// counts as the replayer's own (Result.Behind) while the lane has
		// a worker for it: the pace loop and the scheduler, i.e. the
		// machine, not a platform holding its workers.
		l := lanes[p.addr]
		if l == nil {
			l = newLane(r.cfg.MaxWorkers, cl.first, cl.unsent, cl.rec.reached)
			lanes[p.addr] = l
		}
		l.add(ctx, &wg, p)
	}
}
