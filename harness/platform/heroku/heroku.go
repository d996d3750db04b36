// Package heroku simulates a Heroku app, the source platform of every
// rehearsal: a router (random dyno choice, per-router concurrency cap,
// connect quarantine and retries, the 30 s first-byte and 55 s idle timers,
// router→dyno keep-alive) in front of web dynos that run the service as real
// processes or containers (boot within 60 s, daily cycling, SIGTERM then
// SIGKILL after 30 s, crash restarts with cool-offs, memory quotas with R14
// and R15). It writes Heroku's own log lines (router logfmt, dyno state
// changes, app output) and offers Heroku's faults to the chaos package.
//
// Every number comes from the project's Heroku fact sheet (heroku-facts.md,
// with its sources); numbers it marks unconfirmed or changed over time are
// Options whose defaults are today's values.
package heroku

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
	"github.com/cutover/cutover/internal/machine"
	"github.com/cutover/cutover/internal/proc"
)

// Heroku's numbers (heroku-facts.md). Request timers are multiplied by
// Options.RequestTimerScale, platform clocks by Options.TimeScale.
const (
	// Request timers.
	RequestTimeout  = 30 * time.Second // first response byte, else H12
	IdleWindow      = 55 * time.Second // rolling window after that, else H15/H28
	QueueTimeout    = 75 * time.Second // holding for a starting or quarantined dyno, else H20/H99
	ConnectTimeout  = 5 * time.Second  // connect to a dyno, else quarantine and H19
	QuarantineTime  = 5 * time.Second  // a refusing dyno gets no traffic from the router
	KeepAliveIdle   = 90 * time.Second // Router 2.0 closes idle dyno connections quietly
	BootTimeout     = 60 * time.Second // bind PORT, else R10
	ShutdownGrace   = 30 * time.Second // SIGTERM to SIGKILL, R12
	DefaultRouteLag = time.Second      // the router still routes to a dyno this long after its SIGTERM

	// Platform clocks.
	CyclePeriod    = 24 * time.Hour    // daily cycling ...
	CycleJitter    = 216 * time.Minute // ... plus up to this much
	MemoryLogEvery = 20 * time.Second  // R14 lines while over quota
)

// DefaultCrashCoolOffs are the cool-offs after the second, third ... crash of
// a dyno (the first restart is immediate). UNCONFIRMED for today's runtime.
var DefaultCrashCoolOffs = []time.Duration{20 * time.Minute, 40 * time.Minute, 60 * time.Minute, 180 * time.Minute, 320 * time.Minute}

// Options configure an App. The zero value of every field means its default.
type Options struct {
	// Addr is where the router listens (default 127.0.0.2:0, a free port).
	Addr string
	// DynoHost is the address the dynos serve on; each boot gets a free
	// port there, passed as PORT (default 127.0.0.1).
	DynoHost string
	// Seed drives every random choice: the dyno a request goes to, the
	// cycling jitter, the requests a fault picks.
	Seed uint64
	// Size sets the memory quota (default standard-1x, 512 MB).
	Size DynoSize
	// MemoryQuota overrides the size's quota in bytes (R15 stays at the
	// size's multiple of it), so tests need not allocate gigabytes.
	MemoryQuota int64
	// MemorySampleEvery is how often a dyno's RSS is measured (default 1 s,
	// real time).
	MemorySampleEvery time.Duration
	// SwapLatency is added to every response of a dyno over its quota,
	// standing in for swapping (default 250 ms; INFERENCE, Heroku only says
	// "degraded").
	SwapLatency time.Duration
	// TimeScale multiplies Heroku's platform clocks: the daily cycling
	// period and jitter, crash cool-offs, CrashResetAfter and the R14 log
	// interval. 1.0/1440 makes a day last a minute. Default 1.
	TimeScale float64
	// RequestTimerScale multiplies the request timers (30 s, 55 s, 75 s,
	// connect 5 s, quarantine 5 s, keep-alive 90 s), the boot timeout
	// (60 s), the shutdown grace (30 s) and RouteLag. Default 1: they
	// interact with the clients' own timeouts.
	RequestTimerScale float64
	// LegacyRouter closes every dyno connection after its request and logs
	// in the legacy style (protocol=http, fwd="..."); the default is
	// Router 2.0 (keep-alive, protocol=http1.1 tls=false).
	LegacyRouter bool
	// Via is the router's Via header value (default "1.1 heroku-router",
	// or "1.1 vegur" for the legacy router).
	Via string
	// ConcurrencyPerDyno is n in the router's 200n request cap (default
	// 200; the 2012-2014 docs said 50).
	ConcurrencyPerDyno int
	// MaxConnectAttempts caps connection attempts per request (default
	// 10, and never more than the number of web dynos).
	MaxConnectAttempts int
	// RouteLag is how long the router keeps sending new requests to a dyno
	// after its SIGTERM (default 1 s, scaled; negative for none). Heroku's
	// routers learn of state changes with a delay; the figure is an
	// INFERENCE.
	RouteLag time.Duration
	// ConnectTimeout replaces the router's 5 s connect timeout (H19),
	// scaled like the request timers; tests on loaded machines raise it.
	ConnectTimeout time.Duration
	// BootTimeout replaces the 60 s a web process has to bind PORT (R10);
	// Heroku lets an app raise it. Scaled like the request timers.
	BootTimeout time.Duration
	// CrashCoolOffs replaces DefaultCrashCoolOffs (platform clock).
	CrashCoolOffs []time.Duration
	// CrashResetAfter is how long a dyno must stay up for its crash count
	// to reset, Heroku's "starts correctly" (default 20 min, platform
	// clock; INFERENCE).
	CrashResetAfter time.Duration
	// Log receives the app's log stream, one line per Write, in the
	// `heroku logs` form. Nil discards it.
	Log io.Writer
	// Now stamps log lines (default time.Now).
	Now func() time.Time
	// Egress returns the outbound source address for the next dyno boot,
	// passed as EGRESS_ADDR; a new one on every boot, as Heroku has no
	// static egress IP (default 127.2.x.y in sequence).
	Egress func() string
	// Runner starts the service (default proc.Local{}; the docker driver
	// passes a container runner).
	Runner proc.Runner
}

// App is one simulated Heroku app: a router and its web dynos.
type App struct {
	opts   Options
	quota  int64
	killAt int64
	log    *logSink
	ln     net.Listener
	srv    *http.Server
	rt     *router

	lifetime context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	handlers sync.WaitGroup // router requests in progress
	srvDone  chan struct{}

	tbl atomic.Pointer[table]

	mu       sync.Mutex
	spec     platform.ServiceSpec
	deployed bool
	release  int
	dynos    []*dyno
	backends map[*backend]struct{} // every live dyno process
	bootSeq  int
	egressN  int
	closed   bool
}

var (
	_ platform.Platform      = (*App)(nil)
	_ platform.ReplicaKiller = (*App)(nil)
	_ platform.Restarter     = (*App)(nil)
)

// New starts the router (answering H81 until a Deploy) and returns the app.
func New(opts Options) (*App, error) {
	o, err := withDefaults(opts)
	if err != nil {
		return nil, fmt.Errorf("heroku: %w", err)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("heroku: router listen on %s: %w", o.Addr, err)
	}
	style := routerlog.Router20
	if o.LegacyRouter {
		style = routerlog.Legacy
	}
	quota := o.Size.Quota()
	if o.MemoryQuota > 0 {
		quota = o.MemoryQuota
	}
	a := &App{
		opts:     o,
		quota:    quota,
		killAt:   int64(float64(quota) * sizes[o.Size].killAt),
		log:      &logSink{w: o.Log, now: o.Now, style: style},
		ln:       ln,
		backends: map[*backend]struct{}{},
		srvDone:  make(chan struct{}),
	}
	a.lifetime, a.cancel = context.WithCancel(context.Background())
	a.tbl.Store(&table{changed: make(chan struct{})})
	a.rt = newRouter(a, ln.Addr().(*net.TCPAddr).Port)
	a.srv = &http.Server{
		Handler:           a.rt,
		ReadHeaderTimeout: a.rt.idleWindow,
		// "Long-standing preallocated idle connections": closed after 1 min.
		IdleTimeout:    time.Minute,
		MaxHeaderBytes: maxHeaders*maxHeaderLine + maxRequestLine,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	// The router's goroutines (its accept loop, every connection and the
	// requests it forwards) carry the router's label, so a run's machine
	// accounting tells its CPU apart from the rest of the harness.
	machine.Do(a.lifetime, machine.Router, func(context.Context) {
		go func() {
			defer close(a.srvDone)
			_ = a.srv.Serve(ln)
		}()
	})
	return a, nil
}

func withDefaults(o Options) (Options, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.2:0"
	}
	if o.DynoHost == "" {
		o.DynoHost = "127.0.0.1"
	}
	if o.Size == "" {
		o.Size = Standard1X
	}
	size, err := ParseDynoSize(string(o.Size))
	if err != nil {
		return o, err
	}
	o.Size = size
	if o.MemorySampleEvery <= 0 {
		o.MemorySampleEvery = time.Second
	}
	if o.SwapLatency == 0 {
		o.SwapLatency = 250 * time.Millisecond
	}
	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.RequestTimerScale == 0 {
		o.RequestTimerScale = 1
	}
	if o.TimeScale < 0 || o.RequestTimerScale < 0 {
		return o, errors.New("time scales must be positive")
	}
	if o.Via == "" {
		o.Via = "1.1 heroku-router"
		if o.LegacyRouter {
			o.Via = "1.1 vegur"
		}
	}
	if o.ConcurrencyPerDyno <= 0 {
		o.ConcurrencyPerDyno = 200
	}
	if o.MaxConnectAttempts <= 0 {
		o.MaxConnectAttempts = 10
	}
	if o.RouteLag == 0 {
		o.RouteLag = DefaultRouteLag
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = ConnectTimeout
	}
	if o.BootTimeout <= 0 {
		o.BootTimeout = BootTimeout
	}
	if o.CrashCoolOffs == nil {
		o.CrashCoolOffs = DefaultCrashCoolOffs
	}
	if o.CrashResetAfter == 0 {
		o.CrashResetAfter = 20 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Runner == nil {
		o.Runner = proc.Local{}
	}
	return o, nil
}

// request scales a request timer.
func (a *App) request(d time.Duration) time.Duration {
	return time.Duration(float64(d) * a.opts.RequestTimerScale)
}

// clock scales a platform clock.
func (a *App) clock(d time.Duration) time.Duration {
	return time.Duration(float64(d) * a.opts.TimeScale)
}

// Name is "heroku".
func (a *App) Name() string { return platform.Heroku }

// Endpoint is the router's host:port.
func (a *App) Endpoint() string { return a.ln.Addr().String() }

// Deploy releases spec and scales web to replicas, returning once every dyno
// is up. Deploying again is a new release: every dyno restarts on it.
func (a *App) Deploy(ctx context.Context, spec platform.ServiceSpec, replicas int) error {
	if len(spec.Command) == 0 && spec.Image == "" {
		return fmt.Errorf("heroku: deploy %q: the spec has neither a command nor an image", spec.Name)
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errors.New("heroku: deploy: app is closed")
	}
	a.spec = spec
	a.deployed = true
	a.release++
	release := a.release
	running := append([]*dyno(nil), a.dynos...)
	a.mu.Unlock()
	a.log.api(fmt.Sprintf("Release v%d created by user %s", release, apiUser))
	a.publish()
	if err := a.restartAll(ctx, running); err != nil {
		return fmt.Errorf("heroku: deploy %q: %w", spec.Name, err)
	}
	if err := a.Scale(ctx, replicas); err != nil {
		return fmt.Errorf("heroku: deploy %q: %w", spec.Name, err)
	}
	return nil
}

const apiUser = "cutover@harness.local"

// Scale sets the number of web dynos and returns once they are all up (or
// stopped, when scaling down).
func (a *App) Scale(ctx context.Context, replicas int) error {
	if replicas < 0 {
		return fmt.Errorf("heroku: scale to %d: negative", replicas)
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errors.New("heroku: scale: app is closed")
	}
	if !a.deployed {
		a.mu.Unlock()
		return errors.New("heroku: scale: nothing deployed yet")
	}
	for i := len(a.dynos); i < replicas; i++ {
		d := newDyno(a, i)
		a.dynos = append(a.dynos, d)
		a.wg.Add(1)
		go d.run(a.lifetime)
	}
	removed := append([]*dyno(nil), a.dynos[replicas:]...)
	a.dynos = a.dynos[:replicas]
	kept := append([]*dyno(nil), a.dynos...)
	a.mu.Unlock()
	a.log.api(fmt.Sprintf("Scaled to web@%d:%s by user %s", replicas, a.opts.Size.label(), apiUser))
	a.publish()

	errs := make(chan error, len(removed))
	for _, d := range removed {
		go func() { errs <- d.do(ctx, command{kind: cmdStop}) }()
	}
	var err error
	for range removed {
		err = errors.Join(err, <-errs)
	}
	if err != nil {
		return fmt.Errorf("heroku: scale to %d: %w", replicas, err)
	}
	if err := a.waitUp(ctx, kept); err != nil {
		return fmt.Errorf("heroku: scale to %d: %w", replicas, err)
	}
	return nil
}

// Replicas lists web.1 ... web.N with their state.
func (a *App) Replicas() []platform.Replica {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]platform.Replica, 0, len(a.dynos))
	for _, d := range a.dynos {
		r := platform.Replica{Name: d.name, State: d.state, Started: d.started, Restarts: d.restarts}
		if d.boot != nil {
			r.Addr = d.boot.addr
			r.PID = d.boot.inst.PID()
			r.Egress = d.boot.egress
		}
		out = append(out, r)
	}
	return out
}

// Close stops the router and every dyno (SIGTERM, then SIGKILL after the
// grace or when ctx ends). Safe to call twice.
func (a *App) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	dynos := append([]*dyno(nil), a.dynos...)
	a.mu.Unlock()

	err := a.srv.Close()
	<-a.srvDone
	// Requests in progress end promptly once their connections are gone;
	// none writes a log line after Close returns.
	a.handlers.Wait()
	var wg sync.WaitGroup
	for _, d := range dynos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = d.do(ctx, command{kind: cmdStop})
		}()
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
	}
	a.cancel() // anything still running is killed now
	a.wg.Wait()
	wg.Wait()
	a.mu.Lock()
	live := make([]*backend, 0, len(a.backends))
	for b := range a.backends {
		live = append(live, b)
	}
	a.mu.Unlock()
	for _, b := range live {
		b.pool.sever()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("heroku: close router: %w", err)
	}
	return nil
}

// table is what the router knows about the dynos: an immutable snapshot,
// replaced (and changed closed) on every state change.
type table struct {
	deployed bool
	quantity int        // web dynos in the formation
	backends []*backend // dyno processes taking requests
	starting int        // dynos starting
	changed  chan struct{}
}

// backend is one dyno process as the router sees it.
type backend struct {
	dyno     string
	index    int
	seq      int
	addr     string
	pool     *connPool
	routable atomic.Bool
	// quarantine is the unix-nano time until which the router skips it.
	quarantine atomic.Int64
	// degraded is set while the dyno is over its memory quota.
	degraded atomic.Bool
}

// publish rebuilds the routing table from the dynos.
func (a *App) publish() {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := &table{deployed: a.deployed, quantity: len(a.dynos), changed: make(chan struct{})}
	for _, d := range a.dynos {
		if d.state == platform.Starting {
			t.starting++
		}
	}
	for b := range a.backends {
		if b.routable.Load() {
			t.backends = append(t.backends, b)
		}
	}
	sort.Slice(t.backends, func(i, j int) bool {
		if t.backends[i].index != t.backends[j].index {
			return t.backends[i].index < t.backends[j].index
		}
		return t.backends[i].seq < t.backends[j].seq
	})
	old := a.tbl.Swap(t)
	close(old.changed)
}

// waitUp waits until every dyno in ds is up, failing when one crashes.
func (a *App) waitUp(ctx context.Context, ds []*dyno) error {
	for {
		changed := a.tbl.Load().changed
		a.mu.Lock()
		all := true
		var crashed *dyno
		for _, d := range ds {
			switch d.state {
			case platform.Up:
			case platform.Crashed:
				crashed = d
				all = false
			default:
				all = false
			}
		}
		a.mu.Unlock()
		if crashed != nil {
			return fmt.Errorf("%s crashed; its last output:\n%s", crashed.name, strings.Join(crashed.tail.lines(), "\n"))
		}
		if all {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for dynos to be up: %w", ctx.Err())
		}
	}
}

// dynoByName finds a dyno of the formation.
func (a *App) dynoByName(name string) (*dyno, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range a.dynos {
		if d.name == name {
			return d, nil
		}
	}
	return nil, fmt.Errorf("no dyno %q (the app has %d web dynos)", name, len(a.dynos))
}

// selectDynos returns the named dyno, or all of them for "".
func (a *App) selectDynos(name string) ([]*dyno, error) {
	if name != "" {
		d, err := a.dynoByName(name)
		if err != nil {
			return nil, err
		}
		return []*dyno{d}, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*dyno(nil), a.dynos...), nil
}

// nextEgress allocates the outbound address of a new boot.
func (a *App) nextEgress() string {
	if a.opts.Egress != nil {
		return a.opts.Egress()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.egressN++
	n := a.egressN
	return fmt.Sprintf("127.2.%d.%d", (n/254)%256, n%254+1)
}
