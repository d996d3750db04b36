package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/cutover/cutover/harness/platform"
)

// herokuApp is what the Heroku faults need from the simulated app
// (harness/platform/heroku.App implements it).
type herokuApp interface {
	platform.Platform
	SetMaintenance(on bool)
	TimeoutBurst(share float64, d time.Duration) error
	FlakyRouter(share float64, d time.Duration, code string) error
	RestartRouter(ctx context.Context) (int, error)
	CrashDyno(ctx context.Context, name string, hold time.Duration) error
	CycleNow(ctx context.Context, name string) error
	InflateMemory(ctx context.Context, name string, bytes int64) error
}

// untilHealed is the window of a timed router fault that has no duration:
// it lasts until a heal step ends it.
const untilHealed = 24 * time.Hour

func heroku(env *Env) (herokuApp, error) {
	if env.Heroku == nil {
		return nil, fmt.Errorf("no Heroku app in this run")
	}
	h, ok := env.Heroku.(herokuApp)
	if !ok {
		return nil, fmt.Errorf("platform %s does not simulate Heroku's router and dynos", env.Heroku.Name())
	}
	return h, nil
}

func window(dur time.Duration) time.Duration {
	if dur <= 0 {
		return untilHealed
	}
	return dur
}

// routerTimeoutBurst: the router holds a share of responses past 30 s (H12)
// while the dynos finish — and commit — the requests.
type routerTimeoutBurst struct {
	share float64
	dur   time.Duration
}

var _ Healer = routerTimeoutBurst{}

func newRouterTimeoutBurst(p params, target string, dur time.Duration) (Fault, error) {
	share, err := p.float("share", 0.1, 0, 1)
	if err != nil {
		return nil, err
	}
	return routerTimeoutBurst{share: share, dur: dur}, nil
}

func (b routerTimeoutBurst) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	return h.TimeoutBurst(b.share, window(b.dur))
}

func (b routerTimeoutBurst) Heal(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	return h.TimeoutBurst(0, 0)
}

// dynoCrash kills a dyno; with a duration it stays crashed that long,
// otherwise Heroku's crash restart policy decides.
type dynoCrash struct {
	dyno string
	hold time.Duration
}

func newDynoCrash(p params, target string, dur time.Duration) (Fault, error) {
	return dynoCrash{dyno: target, hold: dur}, nil
}

func (c dynoCrash) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	name, err := pickReplica(env, h, c.dyno)
	if err != nil {
		return err
	}
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
type dynoCycle struct{ dyno string }

func newDynoCycle(p params, target string, dur time.Duration) (Fault, error) {
	return dynoCycle{dyno: target}, nil
}

func (c dynoCycle) Start(ctx context.Context, env *Env) error {
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
	return h.CycleNow(ctx, name)
}

// memoryLeak grows one dyno's measured memory by mb_per_s until to_mb has
// been added (or the fault ends): R14 past the quota, R15 and a kill at the
// size's limit.
type memoryLeak struct {
	dyno string
	rate float64
	toMB int
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
	return memoryLeak{dyno: target, rate: rate, toMB: to}, nil
}

// leakStep is how often the leak grows.
const leakStep = 250 * time.Millisecond

func (m memoryLeak) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	name, err := pickReplica(env, h, m.dyno)
	if err != nil {
		return err
	}
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
type routerRestart struct{}

func newRouterRestart(p params, target string, dur time.Duration) (Fault, error) {
	return routerRestart{}, nil
}

func (routerRestart) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	_, err = h.RestartRouter(ctx)
	return err
}

// flakyRouter fails a share of requests with a router error code.
type flakyRouter struct {
	rate float64
	code string
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
	return flakyRouter{rate: rate, code: code, dur: dur}, nil
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
