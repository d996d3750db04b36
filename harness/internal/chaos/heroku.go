package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/cutover/cutover/harness/platform"
	herokuplat "github.com/cutover/cutover/harness/platform/heroku"
)

// herokuApp is what the Heroku faults need from the simulated app
// (harness/platform/heroku.App implements it).
type herokuApp interface {
	platform.Platform
	SetMaintenance(on bool)
	TimeoutBurst(share float64, d time.Duration) error
	RequestTimeout() time.Duration
	TimedOut() []herokuplat.TimedOut
	FlakyRouter(share float64, d time.Duration, code herokuplat.Code) error
	RestartRouter(ctx context.Context) (int, error)
	CrashDyno(ctx context.Context, name string, hold time.Duration) error
	CycleNow(ctx context.Context, name string) error
	InflateMemory(ctx context.Context, name string, bytes int64) error
}

// The faults find the app by a type assertion at run time; this makes a
// change of the app's method set fail to compile instead.
var _ herokuApp = (*herokuplat.App)(nil)

// untilHealed is the window of a timed router fault that has no duration:
// it lasts until a heal step ends it.
const untilHealed = 24 * time.Hour

func heroku(env *Env) (herokuApp, error) {
	if env.Heroku == nil {
		return nil, fmt.Errorf("no Heroku app in this run")
	}
	return asHeroku(env.Heroku)
}

func asHeroku(p platform.Platform) (herokuApp, error) {
	h, ok := p.(herokuApp)
	if !ok {
		return nil, fmt.Errorf("platform %s does not simulate Heroku's router and dynos", p.Name())
	}
	return h, nil
}

func window(dur time.Duration) time.Duration {
	if dur <= 0 {
		return untilHealed
	}
	return dur
}

// routerTimeoutBurst makes Heroku's router answer 503 H12. What it holds
// past the router's 30 s window (scaled) decides what the client's retry
// meets:
//
//   - hold: response (the default) — the router holds the responses of a
//     share of the requests: each dyno has finished, and committed, before
//     its client sees the H12; a same-key retry finds the work done.
//   - hold: database — Heroku's queries to Postgres are held (a latency
//     toxic upstream on the heroku->postgres links) until the burst ends,
//     or each for `latency`: requests time out at the router while they
//     still wait on their database, uncommitted, and the dynos carry them
//     out afterwards — Heroku does not cancel a dyno's work. A same-key
//     retry races the uncommitted original: the dangerous case. Held until
//     the burst ends, the open connections drop first (as in a Heroku
//     Postgres failover) and reconnecting hangs, so a request's first
//     query has not reached Postgres: it holds no lock and the retry gets
//     there first. With a latency shorter than the window the original
//     claims first and the retry meets its uncommitted claim; each Heroku
//     transaction then holds its locks for a few latencies. The burst must
//     outlast the router's window, and the service must wait on its
//     database longer than the router waits on it (most do; the reference
//     service's DB_TIMEOUT must be raised).
//
// Every request on a held link waits, so a database hold has no share: the
// burst's length picks the requests. (Toxiproxy's per-connection toxicity
// is not drawn from the scenario seed.)
type routerTimeoutBurst struct {
	hold    string // "response" or "database"
	share   float64
	latency time.Duration // database hold; zero holds until the burst ends
	dur     time.Duration
	// app is the Heroku app the burst ran on: its router keeps every H12
	// with the dyno's late answer, the burst's evidence.
	app herokuApp
}

const (
	holdResponse = "response"
	holdDatabase = "database"
)

// databaseHoldLinks are the links a database hold slows, and the name of
// its toxic on them.
const (
	databaseHoldLinks = "heroku->postgres"
	databaseHoldToxic = "cutover_router_timeout_burst_database"
)

var _ Healer = (*routerTimeoutBurst)(nil)

func newRouterTimeoutBurst(p params, target string, dur time.Duration) (Fault, error) {
	hold, err := p.oneOf("hold", holdResponse, holdResponse, holdDatabase)
	if err != nil {
		return nil, err
	}
	b := &routerTimeoutBurst{hold: hold, dur: dur}
	switch hold {
	case holdResponse:
		if _, ok := p["latency"]; ok {
			return nil, &ParamError{Param: "latency", Msg: "latency: only a database hold (hold: database) delays queries"}
		}
		if b.share, err = p.float("share", 0.1, 0, 1); err != nil {
			return nil, err
		}
	case holdDatabase:
		if _, ok := p["share"]; ok {
			return nil, &ParamError{Param: "share", Msg: "share: a database hold holds every Heroku query to Postgres while it lasts; shorten its duration instead"}
		}
		if b.latency, err = p.duration("latency", 0); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *routerTimeoutBurst) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	b.app = h
	if b.hold == holdResponse {
		return h.TimeoutBurst(b.share, window(b.dur))
	}
	if b.dur > 0 && b.dur <= h.RequestTimeout() {
		return fmt.Errorf("a database hold of %s is within the router's %s window: no request would time out", b.dur, h.RequestTimeout())
	}
	lat := b.latency
	if lat == 0 {
		// Until the heal, which lets the held queries through.
		lat = untilHealed
	}
	ls, err := links(env, databaseHoldLinks)
	if err != nil {
		return err
	}
	for _, l := range ls {
		// Upstream: the dyno's queries wait before they reach Postgres,
		// so nothing of the request is committed while it is held.
		if _, err := l.AddToxic(databaseHoldToxic, "latency", "upstream", 1, toxiproxy.Attributes{"latency": lat.Milliseconds()}); err != nil {
			return fmt.Errorf("hold the queries on %s: %w", l.Name, err)
		}
		if b.latency > 0 {
			continue
		}
		// Held until the heal, a transaction caught halfway would sit on
		// its row locks for the whole burst and block the target's
		// requests on the same rows. So the open connections drop (their
		// transactions roll back, their requests fail at once), as in a
		// Heroku Postgres failover, and reconnecting hangs: every request
		// then waits before it reaches the database, holding nothing.
		if err := l.Disable(); err != nil {
			return fmt.Errorf("drop the connections on %s: %w", l.Name, err)
		}
		if err := l.Enable(); err != nil {
			return fmt.Errorf("reopen %s: %w", l.Name, err)
		}
	}
	return nil
}

// Heal ends the burst. A database hold lets the held queries through at
// once (Toxiproxy flushes a removed latency toxic's buffer).
func (b *routerTimeoutBurst) Heal(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	if b.hold == holdResponse {
		return h.TimeoutBurst(0, 0)
	}
	ls, err := links(env, databaseHoldLinks)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range ls {
		if err := l.RemoveToxic(databaseHoldToxic); err != nil {
			errs = append(errs, fmt.Errorf("release the queries on %s: %w", l.Name, err))
		}
	}
	return errors.Join(errs...)
}

// dynoCrash kills a dyno; with a duration it stays crashed that long,
// otherwise Heroku's crash restart policy decides.
type dynoCrash struct {
	dyno   string
	hold   time.Duration
	picked string // the dyno it crashed
}

func newDynoCrash(p params, target string, dur time.Duration) (Fault, error) {
	return &dynoCrash{dyno: target, hold: dur}, nil
}

func (c *dynoCrash) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	name, err := pickReplica(env, h, c.dyno)
	if err != nil {
		return err
	}
	c.picked = name
	return h.CrashDyno(ctx, name, c.hold)
}

// appCrash crashes every dyno: H10 until they are back.
type appCrash struct{ hold time.Duration }

func newAppCrash(p params, target string, dur time.Duration) (Fault, error) {
	return appCrash{hold: dur}, nil
}

func (c appCrash) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	return h.CrashDyno(ctx, "", c.hold)
}

// dynoCycle runs the daily cycle now on one dyno (or all with "" / "all").
type dynoCycle struct {
	dyno   string
	picked string // the dyno cycled, "" for all
}

func newDynoCycle(p params, target string, dur time.Duration) (Fault, error) {
	return &dynoCycle{dyno: target}, nil
}

func (c *dynoCycle) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	name := ""
	if c.dyno != "" && c.dyno != "all" {
		if name, err = pickReplica(env, h, c.dyno); err != nil {
			return err
		}
	}
	c.picked = name
	return h.CycleNow(ctx, name)
}

// memoryLeak grows one dyno's measured memory by mb_per_s until to_mb has
// been added (or the fault ends): R14 past the quota, R15 and a kill at the
// size's limit.
type memoryLeak struct {
	dyno   string
	rate   float64
	toMB   int
	picked string // the dyno that leaked
}

func newMemoryLeak(p params, target string, dur time.Duration) (Fault, error) {
	rate, err := p.float("mb_per_s", 50, 0.001, 1e5)
	if err != nil {
		return nil, err
	}
	to, err := p.int("to_mb", 2048, 1, 1<<20)
	if err != nil {
		return nil, err
	}
	return &memoryLeak{dyno: target, rate: rate, toMB: to}, nil
}

// leakStep is how often the leak grows.
const leakStep = 250 * time.Millisecond

func (m *memoryLeak) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	name, err := pickReplica(env, h, m.dyno)
	if err != nil {
		return err
	}
	m.picked = name
	step := int64(m.rate * float64(1<<20) * leakStep.Seconds())
	total := int64(m.toMB) << 20
	for added := int64(0); added < total; added += step {
		if err := h.InflateMemory(ctx, name, min(step, total-added)); err != nil {
			// The dyno was killed (R15) or restarted: the leak ends with it.
			return nil
		}
		if !sleep(ctx, leakStep) {
			return nil
		}
	}
	return nil
}

type maintenance struct{}

var _ Healer = maintenance{}

func newMaintenance(p params, target string, dur time.Duration) (Fault, error) {
	return maintenance{}, nil
}

func (maintenance) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	h.SetMaintenance(true)
	return nil
}

func (maintenance) Heal(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	h.SetMaintenance(false)
	return nil
}

// routerRestart cuts every in-flight request (H13/H18).
type routerRestart struct{ cut int }

func newRouterRestart(p params, target string, dur time.Duration) (Fault, error) {
	return &routerRestart{}, nil
}

func (r *routerRestart) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	r.cut, err = h.RestartRouter(ctx)
	return err
}

// flakyRouter fails a share of requests with a router error code.
type flakyRouter struct {
	rate float64
	code herokuplat.Code
	dur  time.Duration
}

var _ Healer = flakyRouter{}

func newFlakyRouter(p params, target string, dur time.Duration) (Fault, error) {
	rate, err := p.float("rate", 0.05, 0, 1)
	if err != nil {
		return nil, err
	}
	code, err := p.oneOf("code", "H13", "H10", "H11", "H12", "H13", "H18", "H19", "H21", "H27", "H99")
	if err != nil {
		return nil, err
	}
	return flakyRouter{rate: rate, code: herokuplat.Code(code), dur: dur}, nil
}

func (f flakyRouter) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	return h.FlakyRouter(f.rate, window(f.dur), f.code)
}

func (f flakyRouter) Heal(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	return h.FlakyRouter(0, 0, f.code)
}
