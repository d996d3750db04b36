package heroku

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/internal/proc"
)

// dyno is one web dyno slot (web.1 ...). Its run goroutine owns its
// lifecycle: boot, up, cycling, restarts, crashes and cool-offs, memory
// checks. Other goroutines talk to it with commands.
type dyno struct {
	app   *App
	name  string
	index int
	cmds  chan command
	done  chan struct{}
	tail  *tail

	// Guarded by app.mu.
	state    platform.ReplicaState
	boot     *boot
	restarts int
	started  time.Time

	// Owned by the run goroutine.
	rng     *rand.Rand
	crashes int
	lastR14 time.Time
}

// boot is one process of a dyno, from start to exit.
type boot struct {
	inst    proc.Instance
	backend *backend
	addr    string
	egress  string
	started time.Time
	// extraMem is added to the measured RSS (the memory-leak fault).
	extraMem atomic.Int64
}

type cmdKind int

const (
	cmdRestart cmdKind = iota // heroku ps:restart
	cmdCycle                  // the daily cycle, now
	cmdCrash                  // SIGKILL the process; the dyno crashes
	cmdStop                   // scale down or close
	cmdInflate                // add to the measured memory
)

type command struct {
	kind cmdKind
	// hold keeps a crashed dyno down this long instead of the restart
	// policy (cmdCrash).
	hold  time.Duration
	bytes int64 // cmdInflate
	done  chan struct{}
}

// outcome is how one boot ended.
type outcome int

const (
	endStop    outcome = iota // the dyno is gone
	endReplace                // a new process starts right away (restart, cycling)
	endCrash                  // crashed: the restart policy applies
)

func newDyno(a *App, index int) *dyno {
	return &dyno{
		app:   a,
		name:  fmt.Sprintf("web.%d", index+1),
		index: index,
		cmds:  make(chan command),
		done:  make(chan struct{}),
		tail:  &tail{max: 20},
		state: platform.Starting,
		rng:   rand.New(rand.NewPCG(a.opts.Seed, uint64(index)+1)),
	}
}

// do hands cmd to the dyno and waits until it acted on it.
func (d *dyno) do(ctx context.Context, cmd command) error {
	cmd.done = make(chan struct{})
	select {
	case d.cmds <- cmd:
	case <-d.done:
		return nil // already gone
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", d.name, ctx.Err())
	}
	select {
	case <-cmd.done:
		return nil
	case <-d.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", d.name, ctx.Err())
	}
}

func (d *dyno) run(ctx context.Context) {
	defer d.app.wg.Done()
	defer close(d.done)
	for {
		out, hold := d.serve(ctx)
		switch out {
		case endStop:
			return
		case endReplace:
			continue
		case endCrash:
			if !d.waitCrashed(ctx, hold) {
				return
			}
		}
	}
}

// setState records and logs a state change.
func (d *dyno) setState(to platform.ReplicaState) {
	d.app.mu.Lock()
	from := d.state
	d.state = to
	d.app.mu.Unlock()
	if from != to {
		d.app.log.dyno(d.name, fmt.Sprintf("State changed from %s to %s", from, to))
	}
	d.app.publish()
}

// waitCrashed applies the crash restart policy: the first restart is
// immediate, later ones wait the cool-offs. It returns false when the dyno
// is stopped instead.
func (d *dyno) waitCrashed(ctx context.Context, hold time.Duration) bool {
	d.crashes++
	delay := time.Duration(0)
	if d.crashes > 1 {
		offs := d.app.opts.CrashCoolOffs
		if len(offs) > 0 {
			delay = d.app.clock(offs[min(d.crashes-2, len(offs)-1)])
		}
	}
	if hold > 0 {
		delay = hold
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.setState(platform.Starting)
			return true
		case cmd := <-d.cmds:
			switch cmd.kind {
			case cmdRestart:
				d.crashes = 0
				d.app.log.dyno(d.name, "Restarting")
				d.setState(platform.Starting)
				close(cmd.done)
				return true
			case cmdStop:
				d.setState(platform.Down)
				close(cmd.done)
				return false
			default: // nothing runs to cycle, crash or inflate
				close(cmd.done)
			}
		case <-ctx.Done():
			return false
		}
	}
}

// serve runs one process of the dyno from start to end.
func (d *dyno) serve(ctx context.Context) (outcome, time.Duration) {
	a := d.app
	b, err := d.start(ctx)
	if err != nil {
		a.log.dyno(d.name, "Error starting process: "+err.Error())
		d.setState(platform.Crashed)
		return endCrash, 0
	}

	// Boot: the process must bind PORT within the boot timeout (R10).
	bootCtx, cancelBoot := context.WithTimeout(ctx, a.request(a.opts.BootTimeout))
	defer cancelBoot()
	bound := make(chan error, 1)
	go func() { bound <- proc.WaitListening(bootCtx, b.inst) }()
	for booting := true; booting; {
		select {
		case err := <-bound:
			switch {
			case err == nil:
				booting = false
			case errors.Is(err, proc.ErrExited):
				d.exited(b)
				d.setState(platform.Crashed)
				return endCrash, 0
			case ctx.Err() != nil:
				d.killNow(b)
				return endStop, 0
			default:
				a.log.dyno(d.name, fmt.Sprintf("Error R10 (Boot timeout) -> Web process failed to bind to $PORT within %s of launch", humanSeconds(a.request(a.opts.BootTimeout))))
				a.log.dyno(d.name, "Stopping process with SIGKILL")
				d.killNow(b)
				d.setState(platform.Crashed)
				return endCrash, 0
			}
		case cmd := <-d.cmds:
			if out, hold, handled := d.command(ctx, b, cmd); handled {
				cancelBoot()
				<-bound //nolint:errcheck // the boot was cancelled: its outcome is the command's
				return out, hold
			}
		case <-ctx.Done():
			d.killNow(b)
			return endStop, 0
		}
	}

	// Up: the router may send it requests.
	b.backend.routable.Store(true)
	d.setState(platform.Up)
	cycle := time.NewTimer(d.cycleAfter())
	defer cycle.Stop()
	stable := time.NewTimer(a.clock(a.opts.CrashResetAfter))
	defer stable.Stop()
	mem := time.NewTicker(a.opts.MemorySampleEvery)
	defer mem.Stop()
	for {
		select {
		case <-b.inst.Done():
			d.exited(b)
			d.setState(platform.Crashed)
			return endCrash, 0
		case <-cycle.C:
			a.log.dyno(d.name, "Cycling")
			d.replace(b)
			return endReplace, 0
		case <-stable.C:
			d.crashes = 0
		case <-mem.C:
			if d.checkMemory(b) {
				return endCrash, 0
			}
		case cmd := <-d.cmds:
			if out, hold, handled := d.command(ctx, b, cmd); handled {
				return out, hold
			}
		case <-ctx.Done():
			d.killNow(b)
			return endStop, 0
		}
	}
}

// command acts on cmd for the running process b; handled reports whether
// the process ended.
func (d *dyno) command(ctx context.Context, b *boot, cmd command) (out outcome, hold time.Duration, handled bool) {
	defer close(cmd.done)
	switch cmd.kind {
	case cmdRestart:
		d.crashes = 0
		d.app.log.dyno(d.name, "Restarting")
		d.replace(b)
		return endReplace, 0, true
	case cmdCycle:
		d.app.log.dyno(d.name, "Cycling")
		d.replace(b)
		return endReplace, 0, true
	case cmdCrash:
		d.unroute(b)
		d.killNow(b)
		d.setState(platform.Crashed)
		return endCrash, cmd.hold, true
	case cmdStop:
		d.app.log.dyno(d.name, "Stopping all processes with SIGTERM")
		d.stopGracefully(ctx, b)
		d.setState(platform.Down)
		d.app.mu.Lock()
		d.boot = nil
		d.app.mu.Unlock()
		return endStop, 0, true
	case cmdInflate:
		b.extraMem.Add(cmd.bytes)
	}
	return 0, 0, false
}

// start launches a new process for the dyno.
func (d *dyno) start(ctx context.Context) (*boot, error) {
	a := d.app
	port, release, err := proc.FreePort(a.opts.DynoHost)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(a.opts.DynoHost, strconv.Itoa(port))
	egress := a.nextEgress()
	a.mu.Lock()
	spec := a.spec
	a.bootSeq++
	seq := a.bootSeq
	a.mu.Unlock()
	what := strings.Join(spec.Command, " ")
	if what == "" {
		what = spec.Image
	}
	a.log.dyno(d.name, fmt.Sprintf("Starting process with command `%s`", what))
	name := d.name
	release() // held until now, so no other dyno could be given this port
	inst, err := a.opts.Runner.Start(ctx, spec, proc.InstanceConfig{
		Name:   d.name,
		Addr:   addr,
		Egress: egress,
		Env:    map[string]string{"DYNO": d.name},
		Output: func(_, line string) {
			a.log.app(name, line)
			d.tail.add(line)
		},
	})
	if err != nil {
		return nil, err
	}
	b := &boot{inst: inst, addr: addr, egress: egress, started: time.Now()}
	b.backend = &backend{
		dyno:  d.name,
		index: d.index,
		seq:   seq,
		addr:  addr,
		pool:  newConnPool(addr, !a.opts.LegacyRouter, a.request(KeepAliveIdle)),
	}
	a.mu.Lock()
	a.backends[b.backend] = struct{}{}
	if d.boot != nil {
		d.restarts++
	}
	d.boot = b
	d.started = b.started
	a.mu.Unlock()
	// The process's connections go when it does.
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case <-inst.Done():
		case <-a.lifetime.Done():
			_ = inst.Kill()
			<-inst.Done()
		}
		d.unroute(b)
		b.backend.pool.closeIdle()
		a.mu.Lock()
		delete(a.backends, b.backend)
		a.mu.Unlock()
	}()
	return b, nil
}

// cycleAfter is this boot's daily cycle: 24 h plus up to 216 min.
func (d *dyno) cycleAfter() time.Duration {
	jitter := time.Duration(d.rng.Int64N(int64(CycleJitter)))
	return d.app.clock(CyclePeriod + jitter)
}

// unroute stops new requests to b.
func (d *dyno) unroute(b *boot) {
	if b.backend.routable.Swap(false) {
		d.app.publish()
	}
}

// replace is a controlled restart: SIGTERM to the old process, which keeps
// its in-flight requests for the grace, and a new process at once.
func (d *dyno) replace(old *boot) {
	a := d.app
	d.setState(platform.Starting)
	a.log.dyno(d.name, "Stopping all processes with SIGTERM")
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		d.stopGracefully(a.lifetime, old)
	}()
}

// stopGracefully sends SIGTERM, waits up to the grace, then SIGKILLs (R12),
// and logs the exit. The router keeps routing to the process for RouteLag.
func (d *dyno) stopGracefully(ctx context.Context, b *boot) {
	a := d.app
	if lag := a.request(a.opts.RouteLag); lag > 0 {
		t := time.AfterFunc(lag, func() { d.unroute(b) })
		defer t.Stop()
	} else {
		d.unroute(b)
	}
	_ = b.inst.Signal(syscall.SIGTERM)
	grace := time.NewTimer(a.request(ShutdownGrace))
	defer grace.Stop()
	select {
	case <-b.inst.Done():
	case <-grace.C:
		a.log.dyno(d.name, fmt.Sprintf("Error R12 (Exit timeout) -> Process failed to exit within %s of SIGTERM", humanSeconds(a.request(ShutdownGrace))))
		a.log.dyno(d.name, "Stopping remaining processes with SIGKILL")
		_ = b.inst.Kill()
		<-b.inst.Done()
	case <-ctx.Done():
		_ = b.inst.Kill()
		<-b.inst.Done()
	}
	d.unroute(b)
	a.log.dyno(d.name, fmt.Sprintf("Process exited with status %d", b.inst.ExitCode()))
}

// killNow SIGKILLs b and logs its exit.
func (d *dyno) killNow(b *boot) {
	d.unroute(b)
	_ = b.inst.Kill()
	<-b.inst.Done()
	d.app.log.dyno(d.name, fmt.Sprintf("Process exited with status %d", b.inst.ExitCode()))
}

// exited handles a process that ended on its own.
func (d *dyno) exited(b *boot) {
	d.unroute(b)
	<-b.inst.Done()
	d.app.log.dyno(d.name, fmt.Sprintf("Process exited with status %d", b.inst.ExitCode()))
}

// checkMemory measures b: over the quota it is degraded and R14 is logged;
// past the kill threshold it is SIGKILLed (R15) and checkMemory returns true.
func (d *dyno) checkMemory(b *boot) bool {
	a := d.app
	rss, err := b.inst.RSS()
	if err != nil {
		return false // exiting; the exit is handled elsewhere
	}
	rss += b.extraMem.Load()
	usage := fmt.Sprintf("Process running mem=%dMB(%.1f%%)", rss/mb, 100*float64(rss)/float64(a.quota))
	switch {
	case rss > a.killAt:
		a.log.dyno(d.name, usage)
		a.log.dyno(d.name, "Error R15 (Memory quota vastly exceeded)")
		a.log.dyno(d.name, "Stopping process with SIGKILL")
		d.killNow(b)
		d.setState(platform.Crashed)
		return true
	case rss > a.quota:
		b.backend.degraded.Store(true)
		if now := time.Now(); d.lastR14.IsZero() || now.Sub(d.lastR14) >= a.clock(MemoryLogEvery) {
			d.lastR14 = now
			a.log.dyno(d.name, usage)
			a.log.dyno(d.name, "Error R14 (Memory quota exceeded)")
		}
	default:
		b.backend.degraded.Store(false)
		d.lastR14 = time.Time{}
	}
	return false
}

// humanSeconds writes a duration as Heroku's messages do ("60 seconds").
func humanSeconds(d time.Duration) string {
	if d >= time.Second && d%time.Second == 0 {
		return fmt.Sprintf("%d seconds", d/time.Second)
	}
	return d.String()
}

// tail keeps a dyno's last lines of output, for error messages.
type tail struct {
	max   int
	mu    sync.Mutex
	ring  []string
	start int
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ring) < t.max {
		t.ring = append(t.ring, line)
		return
	}
	t.ring[t.start] = line
	t.start = (t.start + 1) % t.max
}

func (t *tail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append(append([]string(nil), t.ring[t.start:]...), t.ring[:t.start]...)
}
