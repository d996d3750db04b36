package chaos

import (
	"context"
	"fmt"

	"github.com/cutover/cutover/harness/platform"
)

// herokuApp is what the Heroku faults need from the simulated app
// (harness/platform/heroku implements it).
type herokuApp interface {
	platform.Platform
	platform.ReplicaKiller
	platform.Restarter
	SetMaintenance(on bool)
	// SetTimeoutBurst holds a share of requests past the router's 30 s
	// window (0 ends the burst); the dyno still completes them.
	SetTimeoutBurst(share float64)
	CrashAll(ctx context.Context) error
	// LeakMemory makes a dyno's memory grow at rate up to a ceiling; a
	// zero rate stops the leak.
	LeakMemory(ctx context.Context, dyno string, mbPerSecond float64, toMB int) error
	RestartRouter(ctx context.Context) error
	// SetFlaky fails a share of requests with a router error code (0 ends it).
	SetFlaky(rate float64, code string)
}

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

type routerTimeoutBurst struct{ share float64 }

var _ Healer = routerTimeoutBurst{}

func newRouterTimeoutBurst(p params, target string) (Fault, error) {
	share, err := p.float("share", 0.1, 0, 1)
	if err != nil {
		return nil, err
	}
	return routerTimeoutBurst{share: share}, nil
}

func (b routerTimeoutBurst) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	h.SetTimeoutBurst(b.share)
	return nil
}

func (b routerTimeoutBurst) Heal(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	h.SetTimeoutBurst(0)
	return nil
}

type dynoCrash struct{ dyno string }

func newDynoCrash(p params, target string) (Fault, error) { return dynoCrash{dyno: target}, nil }

func (c dynoCrash) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	name, err := pickReplica(env, h, c.dyno)
	if err != nil {
		return err
	}
	return h.KillReplica(ctx, name)
}

type appCrash struct{}

func newAppCrash(p params, target string) (Fault, error) { return appCrash{}, nil }

func (appCrash) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	return h.CrashAll(ctx)
}

type dynoCycle struct{ dyno string }

func newDynoCycle(p params, target string) (Fault, error) { return dynoCycle{dyno: target}, nil }

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
	return h.Restart(ctx, name)
}

type memoryLeak struct {
	dyno   string
	rate   float64
	toMB   int
	picked string
}

var _ Healer = (*memoryLeak)(nil)

func newMemoryLeak(p params, target string) (Fault, error) {
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

func (m *memoryLeak) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	if m.picked, err = pickReplica(env, h, m.dyno); err != nil {
		return err
	}
	return h.LeakMemory(ctx, m.picked, m.rate, m.toMB)
}

func (m *memoryLeak) Heal(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	return h.LeakMemory(ctx, m.picked, 0, 0)
}

type maintenance struct{}

var _ Healer = maintenance{}

func newMaintenance(p params, target string) (Fault, error) { return maintenance{}, nil }

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

type routerRestart struct{}

func newRouterRestart(p params, target string) (Fault, error) { return routerRestart{}, nil }

func (routerRestart) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	return h.RestartRouter(ctx)
}

type flakyRouter struct {
	rate float64
	code string
}

var _ Healer = flakyRouter{}

func newFlakyRouter(p params, target string) (Fault, error) {
	rate, err := p.float("rate", 0.05, 0, 1)
	if err != nil {
		return nil, err
	}
	code, err := p.oneOf("code", "H13", "H10", "H11", "H12", "H13", "H18", "H19", "H21", "H27", "H99")
	if err != nil {
		return nil, err
	}
	return flakyRouter{rate: rate, code: code}, nil
}

func (f flakyRouter) Start(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	h.SetFlaky(f.rate, f.code)
	return nil
}

func (f flakyRouter) Heal(ctx context.Context, env *Env) error {
	h, err := heroku(env)
	if err != nil {
		return err
	}
	h.SetFlaky(0, "")
	return nil
}
