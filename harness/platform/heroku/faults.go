package heroku

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Heroku's faults, for the chaos package. Each names what it does in
// Heroku's words; the H- and R-codes follow from the simulation.

// SetMaintenance turns maintenance mode on or off: while on, every request
// gets 503 and the maintenance page, logged as H80.
func (a *App) SetMaintenance(on bool) {
	if a.rt.maintenance.Swap(on) == on {
		return
	}
	verb := "Disable"
	if on {
		verb = "Enable"
	}
	a.log.api(fmt.Sprintf("%s Maintenance mode by user %s", verb, apiUser))
}

// TimeoutBurst makes the router hold the responses of a share (0..1) of the
// requests it forwards during d past the 30 s window: the dyno really
// handles (and commits) each such request, the client gets 503 H12. A new
// burst replaces the one running.
func (a *App) TimeoutBurst(share float64, d time.Duration) error {
	if share < 0 || share > 1 {
		return fmt.Errorf("heroku: timeout burst: share %v not in [0, 1]", share)
	}
	a.rt.burst.Store(&window{until: time.Now().Add(d), share: share})
	return nil
}

// FlakyRouter makes the router answer a share (0..1) of the requests during
// d with the router error code (H99 when empty) without reaching a dyno.
func (a *App) FlakyRouter(share float64, d time.Duration, code Code) error {
	if share < 0 || share > 1 {
		return fmt.Errorf("heroku: flaky router: share %v not in [0, 1]", share)
	}
	if code == "" {
		code = H99
	}
	if err := checkCode(code); err != nil {
		return fmt.Errorf("heroku: flaky router: %w", err)
	}
	a.rt.flaky.Store(&window{until: time.Now().Add(d), share: share, code: code})
	return nil
}

// RestartRouter is a router node restart: every connection from the router
// to the dynos is cut, in-flight requests included, which the router logs
// as H13 (nothing received yet) or H18 (part of a response received). It
// returns the number of in-flight requests cut.
func (a *App) RestartRouter(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("heroku: restart router: %w", err)
	}
	a.mu.Lock()
	live := make([]*backend, 0, len(a.backends))
	for b := range a.backends {
		live = append(live, b)
	}
	a.mu.Unlock()
	cut := 0
	for _, b := range live {
		cut += b.pool.sever()
	}
	return cut, nil
}

// KillReplica SIGKILLs a dyno's processes; the dyno manager sees a crash and
// applies the restart policy (the first restart is immediate).
func (a *App) KillReplica(ctx context.Context, name string) error {
	return a.CrashDyno(ctx, name, 0)
}

// CrashDyno kills the named dyno ("" for all) with SIGKILL. With hold > 0
// the dyno stays crashed that long (a release that crashes at boot, say);
// with 0 the crash restart policy decides. While every dyno is crashed the
// router answers H10.
func (a *App) CrashDyno(ctx context.Context, name string, hold time.Duration) error {
	ds, err := a.selectDynos(name)
	if err != nil {
		return fmt.Errorf("heroku: crash: %w", err)
	}
	return a.each(ctx, ds, command{kind: cmdCrash, hold: hold})
}

// CrashAll crashes every dyno and keeps them crashed for hold.
func (a *App) CrashAll(ctx context.Context, hold time.Duration) error {
	return a.CrashDyno(ctx, "", hold)
}

// Restart restarts the named dyno ("" for all) as `heroku ps:restart` does:
// SIGTERM to the old process, a new one at the same time, SIGKILL after the
// grace. It returns once the restarted dynos are up.
func (a *App) Restart(ctx context.Context, name string) error {
	ds, err := a.selectDynos(name)
	if err != nil {
		return fmt.Errorf("heroku: restart: %w", err)
	}
	if err := a.restartAll(ctx, ds); err != nil {
		return fmt.Errorf("heroku: restart: %w", err)
	}
	return nil
}

func (a *App) restartAll(ctx context.Context, ds []*dyno) error {
	if err := a.each(ctx, ds, command{kind: cmdRestart}); err != nil {
		return err
	}
	return a.waitUp(ctx, ds)
}

// CycleNow runs the daily cycle of the named dyno ("" for all) now, and
// returns once they are up again.
func (a *App) CycleNow(ctx context.Context, name string) error {
	ds, err := a.selectDynos(name)
	if err != nil {
		return fmt.Errorf("heroku: cycle: %w", err)
	}
	if err := a.each(ctx, ds, command{kind: cmdCycle}); err != nil {
		return fmt.Errorf("heroku: cycle: %w", err)
	}
	if err := a.waitUp(ctx, ds); err != nil {
		return fmt.Errorf("heroku: cycle: %w", err)
	}
	return nil
}

// InflateMemory adds bytes to the memory the named dyno is measured at (a
// leak without touching the service); it lasts until the dyno's process
// ends. R14 and R15 follow at the next sample.
func (a *App) InflateMemory(ctx context.Context, name string, bytes int64) error {
	d, err := a.dynoByName(name)
	if err != nil {
		return fmt.Errorf("heroku: inflate memory: %w", err)
	}
	if err := d.do(ctx, command{kind: cmdInflate, bytes: bytes}); err != nil {
		return fmt.Errorf("heroku: inflate memory: %w", err)
	}
	return nil
}

// each sends cmd to every dyno at once and waits for all.
func (a *App) each(ctx context.Context, ds []*dyno, cmd command) error {
	errs := make(chan error, len(ds))
	for _, d := range ds {
		go func() { errs <- d.do(ctx, cmd) }()
	}
	var err error
	for range ds {
		err = errors.Join(err, <-errs)
	}
	return err
}
