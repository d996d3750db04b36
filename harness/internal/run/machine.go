package run

import (
	"context"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/internal/replay"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/internal/machine"
)

// processLister is a stack that names its server processes (both drivers
// do), so the machine sampler accounts for Postgres, Redis, Toxiproxy, ...
// as components of their own.
type processLister interface {
	Processes() []machine.Process
}

// machineWatch accounts for the rehearsal machine during the run: a
// sampler following the harness, the stack's servers and every replica of
// both platforms, and the replayer's counters, so each gate evaluation and
// each stage can be judged for saturation (machine.Judge) — a stage in
// which the machine, not a platform, was the bottleneck cannot pass or
// fail on latency.
type machineWatch struct {
	s *machine.Sampler
	// counters are the replayer's counts so far.
	counters func() replay.Counters

	// platforms lists each platform's replica processes (those it can
	// see: a kind pod has none), for their CPU wait.
	platforms map[string]func() []int

	mu    sync.Mutex
	marks []counterMark // in time order
}

// counterMark is the replayer's counters at one time, so a window's late
// share is the difference between two marks.
type counterMark struct {
	at                 time.Time
	sent, late, behind int64
	cpu                machine.CPUCounters
	cpuOK              bool
	// waits are the platforms' CPU wait counters (those that could be
	// read).
	waits map[string]machine.CPUWait
}

// startMachine starts the run's machine sampler, or takes the caller's
// (Options.Machine). A machine that cannot be sampled (no /proc) leaves the
// run without machine figures, and says so.
func (r *rehearsal) startMachine(ctx context.Context) {
	s := r.opts.Machine
	if s == nil {
		var err error
		s, err = machine.Start(ctx, machine.Options{SplitHarness: true})
		if err != nil {
			r.event("the rehearsal machine cannot be sampled, so a saturated machine will not be told from a slow platform: %v", err)
			return
		}
		r.closers = append(r.closers, func(context.Context) error { s.Stop(); return nil })
	}
	r.machine = &machineWatch{s: s, platforms: map[string]func() []int{}}
}

// followStack has the sampler account for the stack's servers, as
// "stack/postgres" and so on.
func (r *rehearsal) followStack() {
	if r.machine == nil {
		return
	}
	if l, ok := r.stack.(processLister); ok {
		r.machine.s.Follow("stack/", l.Processes)
	}
}

// followReplicas has the sampler follow the replicas of both platforms as
// they start, restart and stop, as "heroku/web.1" and "aws/<replica>".
func (r *rehearsal) followReplicas() {
	if r.machine == nil {
		return
	}
	for _, side := range []struct {
		name string
		p    platform.Platform
	}{{platform.Heroku, r.heroku}, {platform.Target, r.target}} {
		p := side.p
		processes := func() []machine.Process {
			var out []machine.Process
			for _, rep := range p.Replicas() {
				if rep.PID > 0 {
					out = append(out, machine.Process{Name: rep.Name, PID: rep.PID})
				}
			}
			return out
		}
		r.machine.platforms[side.name] = func() []int {
			var pids []int
			for _, proc := range processes() {
				pids = append(pids, proc.PID)
			}
			return pids
		}
		r.machine.s.Follow(side.name+"/", processes)
	}
}

// mark records the replayer's counters now (a stage's start).
func (m *machineWatch) mark(now time.Time) counterMark {
	cm := counterMark{at: now}
	if m.counters != nil {
		c := m.counters()
		cm.sent, cm.late, cm.behind = c.Sent, c.Late, c.Behind
	}
	if c, err := m.s.ReadCPU(); err == nil {
		cm.cpu, cm.cpuOK = c, true
	}
	sets := map[string][]int{}
	for name, pids := range m.platforms {
		sets[name] = pids()
	}
	if w, err := m.s.ReadCPUWaits(sets); err == nil && len(w) > 0 {
		cm.waits = w
	}
	m.mu.Lock()
	m.marks = append(m.marks, cm)
	m.mu.Unlock()
	return cm
}

// since is what the replayer sent (and sent late), how busy the CPU was
// and how long each platform's processes waited for it per CPU-second
// they ran, from the last mark at or before since up to now.
func (m *machineWatch) since(since, now time.Time) (machine.Load, float64, bool, map[string]float64) {
	cur := m.mark(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	base := m.marks[0]
	for _, x := range m.marks {
		if x.at.After(since) {
			break
		}
		base = x
	}
	load := machine.Load{Requests: cur.sent - base.sent, Late: cur.late - base.late, Behind: cur.behind - base.behind}
	var waits map[string]float64
	for name, w := range cur.waits {
		if b, ok := base.waits[name]; ok {
			if ratio, ok := w.WaitPerRun(b); ok {
				if waits == nil {
					waits = map[string]float64{}
				}
				waits[name] = ratio
			}
		}
	}
	if !cur.cpuOK || !base.cpuOK || !cur.at.After(base.at) {
		return load, 0, false, waits
	}
	return load, cur.cpu.BusySince(base.cpu), true, waits
}

// judge is the machine's figures over [from, to), with the CPU share read
// from the counters at both ends on the caller's goroutine (a saturated
// machine delays the sampling goroutine: the first window of a stage may
// have no sample yet; the run queue comes from the samples there are),
// judged with the replayer's load over the span — or with load, when
// given.
func (m *machineWatch) judge(from, to time.Time, load *machine.Load) *report.StageMachine {
	w := m.s.Window(from, to)
	counted, busy, ok, waits := m.since(from, to)
	if ok {
		w.CPUBusy = busy
		w.Samples = max(w.Samples, 1)
	}
	if load == nil {
		load = &counted
	}
	j := machine.Judge(w, *load, machine.DefaultThresholds)
	j.CPUWait = waits
	return &report.StageMachine{Window: w, Saturation: j}
}

// saturation judges the window [since, now) of a running stage (nil when
// the machine is not sampled).
func (m *machineWatch) saturation(since, now time.Time) *machine.Judgement {
	if m == nil {
		return nil
	}
	j := m.judge(since, now, nil).Saturation
	return &j
}

// stage is the machine's share of a finished stage, judged with the
// replayer's figures for the stage; nil when the machine is not sampled.
func (m *machineWatch) stage(from, to time.Time, res replay.Result) *report.StageMachine {
	if m == nil {
		return nil
	}
	return m.judge(from, to, &machine.Load{Requests: res.Requests, Late: res.Late, Behind: res.Behind})
}

// saturated is the machine's judgement of a finished stage (nil when it
// is not sampled).
func saturated(sm *report.StageMachine) *machine.Judgement {
	if sm == nil {
		return nil
	}
	return &sm.Saturation
}
