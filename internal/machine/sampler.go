package machine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// Options configure a Sampler.
type Options struct {
	// Interval is the time between two samples (default DefaultInterval).
	// The run queue is read ten times as often.
	Interval time.Duration
	// SplitHarness runs a CPU profile of this process meanwhile, to split
	// its CPU among the components its goroutines are labelled with (Do,
	// Labels): router, load balancer, DNS model, ... It costs about 1% of
	// a core. Without it (or when a profile already runs) the harness is
	// one component.
	SplitHarness bool
	// MemoryInterval is how often a process's proportional set size is
	// read again (default DefaultMemoryInterval); between two readings its
	// last one stands. A new process is read at once.
	MemoryInterval time.Duration
	// ProcRoot and CgroupRoot are where procfs and the cgroup filesystem
	// are mounted (default /proc and /sys/fs/cgroup).
	ProcRoot, CgroupRoot string
}

// DefaultInterval is the default time between two samples: short enough
// to follow a 10-second gate window, long enough that the sampler's own
// reading of /proc stays small: 1.6 % of a core in a 3x rehearsal of ~60
// processes (measured 2026-12-06 with cutover run --cpuprofile; half of it
// the PSS readings every MemoryInterval, most of the rest the process
// table).
const DefaultInterval = time.Second

// DefaultMemoryInterval is the default MemoryInterval. A process's PSS
// (smaps_rollup) costs the kernel a walk of its page tables under its
// memory-map lock: read every second for each of the ~60 processes of a
// rehearsal (Postgres backends sharing 128 MB of buffers), it was 5 % of a
// core and most of the harness's added CPU at 3x (issue 15). Memory moves
// slowly; CPU is still read every sample.
const DefaultMemoryInterval = 5 * time.Second

// Process is one named process, such as a dyno (its name "web.1" and the
// pid of its process, or of its container's init).
type Process struct {
	Name string
	PID  int
}

// Usage is what one component used during one sample's span.
type Usage struct {
	// User and System are CPU seconds.
	User   float64 `json:"user_s"`
	System float64 `json:"system_s"`
	// Memory is in bytes at the sample: a process tree's proportional set
	// size (shared pages count once across it), a container's working set
	// (usage minus inactive file cache), the harness process's resident set.
	Memory int64 `json:"memory_bytes"`
}

// Sample is one reading of the machine and its components, covering the
// span since the previous sample.
type Sample struct {
	Time time.Time     `json:"time"`
	Span time.Duration `json:"span"`
	// CPUBusy, CPUUser and CPUSystem are shares of all cores' time over
	// the span (0..1); busy counts user, system, interrupts and steal
	// (time the hypervisor gave to another machine) — everything but idle
	// and I/O wait.
	CPUBusy   float64 `json:"cpu_busy"`
	CPUUser   float64 `json:"cpu_user"`
	CPUSystem float64 `json:"cpu_system"`
	// RunQueue is the mean number of runnable tasks over the span (read
	// ten times per sample, the sampler's own thread not counted);
	// RunQueueMax the highest reading.
	RunQueue    float64 `json:"run_queue"`
	RunQueueMax int     `json:"run_queue_max"`
	Load1       float64 `json:"load1"`
	// MemAvailable is the kernel's estimate of memory available for new
	// work, in bytes.
	MemAvailable int64            `json:"mem_available_bytes"`
	Components   map[string]Usage `json:"components"`
}

// Sampler samples the machine and the tracked components on an interval,
// from one goroutine it owns until Stop.
type Sampler struct {
	opts  Options
	self  int
	cores int
	// selfCgroup is where this process is accounted: a tracked process in
	// another cgroup is a container, measured by its cgroup.
	selfCgroup cgroupOf

	mu       sync.Mutex
	tracked  map[string]func() []int
	groups   []group
	samples  []Sample
	problems []string
	memTotal int64

	// Owned by the sampling goroutine.
	split    *labelSplit
	prev     state
	cgCache  map[memberKey]cgroupOf
	runSum   int
	runN     int
	runMax   int
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

type group struct {
	prefix string
	list   func() []Process
}

type memberKey struct {
	pid   int
	start uint64
}

// state is the previous reading, for the deltas.
type state struct {
	at     time.Time
	uptime uint64
	cpu    machineCPU
	self   proc
	comps  map[string]compState
}

type compState struct {
	members map[memberKey]memberVal
	cgroups map[string]cgroupUsage
}

type memberVal struct {
	user, system uint64
	ppid         int
	// pss is the member's last PSS reading (bytes; pssOK when it has
	// one) and pssAt when it was read.
	pss   int64
	pssOK bool
	pssAt time.Time
}

// Start takes a first reading and starts sampling every opts.Interval
// until Stop or until ctx ends.
func Start(ctx context.Context, opts Options) (*Sampler, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.MemoryInterval <= 0 {
		opts.MemoryInterval = DefaultMemoryInterval
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.CgroupRoot == "" {
		opts.CgroupRoot = "/sys/fs/cgroup"
	}
	s := &Sampler{
		opts:    opts,
		self:    os.Getpid(),
		tracked: map[string]func() []int{},
		cgCache: map[memberKey]cgroupOf{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	_, cores, err := readMachine(opts.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("start machine sampler: %w", err)
	}
	s.cores = cores
	if s.selfCgroup, err = readCgroup(opts.ProcRoot, s.self); err != nil {
		// Without cgroups every tracked process is measured as a tree.
		s.problem(err.Error())
	}
	if s.memTotal, _, err = readMemAvailable(opts.ProcRoot); err != nil {
		return nil, fmt.Errorf("start machine sampler: %w", err)
	}
	if opts.SplitHarness {
		if s.split, err = startSplit(); err != nil {
			s.problem(err.Error())
		}
	}
	if _, err := s.read(); err != nil {
		s.split.stopIfAny()
		return nil, fmt.Errorf("start machine sampler: %w", err)
	}
	go s.loop(ctx)
	return s, nil
}

// Cores is the number of CPUs the machine has.
func (s *Sampler) Cores() int { return s.cores }

// MemTotal is the machine's memory in bytes.
func (s *Sampler) MemTotal() int64 { return s.memTotal }

// Track accounts for the processes pids returns as one component called
// name: each process with its descendants, or — for a process in a
// container — its container's cgroup. pids is called at every sample, from
// the sampler's goroutine, so the component follows restarts; it must be
// safe to call from another goroutine and not block. Tracking a name again
// replaces it.
func (s *Sampler) Track(name string, pids func() []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracked[name] = pids
}

// TrackPIDs tracks fixed processes as one component.
func (s *Sampler) TrackPIDs(name string, pids ...int) {
	fixed := append([]int(nil), pids...)
	s.Track(name, func() []int { return fixed })
}

// Follow accounts for each process list returns as its own component,
// named prefix + its Name (e.g. prefix "heroku " and the dyno "web.1"), so
// the replicas of a platform are followed as they are started, restarted
// and stopped. list has Track's constraints.
func (s *Sampler) Follow(prefix string, list func() []Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = append(s.groups, group{prefix: prefix, list: list})
}

// Stop takes a last sample and ends the sampling (and the CPU profile).
// It is safe to call twice.
func (s *Sampler) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

// Samples returns a copy of every sample so far, oldest first.
func (s *Sampler) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// Problems lists what the sampler could not measure (each once): a
// component whose cgroup could not be read, a CPU profile that could not
// run. A sampler with problems still measured everything else.
func (s *Sampler) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.problems...)
}

func (s *Sampler) problem(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.problems {
		if p == msg {
			return
		}
	}
	s.problems = append(s.problems, msg)
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	defer s.split.stopIfAny()
	fast := max(s.opts.Interval/10, time.Millisecond)
	t := time.NewTicker(fast)
	defer t.Stop()
	next := time.Now().Add(s.opts.Interval)
	for {
		select {
		case <-s.stop:
			s.sample()
			return
		case <-ctx.Done():
			s.sample()
			return
		case now := <-t.C:
			s.readRunQueue()
			if !now.Before(next) {
				s.sample()
				next = next.Add(s.opts.Interval)
				if next.Before(now) { // fell behind (a stalled machine): skip
					next = now.Add(s.opts.Interval)
				}
			}
		}
	}
}

func (s *Sampler) readRunQueue() {
	_, running, err := readLoad(s.opts.ProcRoot)
	if err != nil {
		return
	}
	running = max(running-1, 0) // this thread, reading
	s.runSum += running
	s.runN++
	s.runMax = max(s.runMax, running)
}

func (s *Sampler) sample() {
	smp, err := s.read()
	if err != nil {
		s.problem(err.Error())
		return
	}
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
}

// read takes one reading and, unless it is the first, returns the sample
// of the span since the previous one.
func (s *Sampler) read() (Sample, error) {
	now := time.Now()
	uptime, err := readUptime(s.opts.ProcRoot)
	if err != nil {
		return Sample{}, err
	}
	cpu, _, err := readMachine(s.opts.ProcRoot)
	if err != nil {
		return Sample{}, err
	}
	load1, _, err := readLoad(s.opts.ProcRoot)
	if err != nil {
		return Sample{}, err
	}
	_, avail, err := readMemAvailable(s.opts.ProcRoot)
	if err != nil {
		return Sample{}, err
	}
	table, err := scanProcs(s.opts.ProcRoot)
	if err != nil {
		return Sample{}, err
	}
	self, ok := table.byPID[s.self]
	if !ok {
		return Sample{}, errors.New("this process is not in /proc")
	}
	first := s.prev.at.IsZero()
	smp := Sample{Time: now, Span: now.Sub(s.prev.at), Load1: load1, MemAvailable: avail, Components: map[string]Usage{}}
	if !first {
		total := float64(sub(cpu.busy, s.prev.cpu.busy) + sub(cpu.idle, s.prev.cpu.idle))
		if total > 0 {
			smp.CPUBusy = float64(sub(cpu.busy, s.prev.cpu.busy)) / total
			smp.CPUUser = float64(sub(cpu.user, s.prev.cpu.user)) / total
			smp.CPUSystem = float64(sub(cpu.system, s.prev.cpu.system)) / total
		}
	}
	if s.runN > 0 {
		smp.RunQueue = float64(s.runSum) / float64(s.runN)
		smp.RunQueueMax = s.runMax
	}
	s.runSum, s.runN, s.runMax = 0, 0, 0

	// The harness process: its own threads (its children's time is theirs),
	// split among the labelled components when a profile runs.
	harness := Usage{Memory: self.rssPages * int64(os.Getpagesize())}
	if !first {
		harness.User = ticks(sub(self.utime, s.prev.self.utime))
		harness.System = ticks(sub(self.stime, s.prev.self.stime))
	}
	split := s.splitHarness(harness)
	for name, u := range split {
		smp.Components[name] = u
	}

	comps := map[string]compState{}
	for name, pids := range s.components() {
		prev, seen := s.prev.comps[name]
		u, st := s.measure(table, pids, prev, seen && !first, uptime, now)
		comps[name] = st
		if name == Harness {
			name = "harness (tracked)"
		}
		if old, ok := smp.Components[name]; ok { // a label and a process of one name
			u.User, u.System, u.Memory = u.User+old.User, u.System+old.System, u.Memory+old.Memory
		}
		smp.Components[name] = u
	}
	s.prev = state{at: now, uptime: uptime, cpu: cpu, self: self, comps: comps}
	return smp, nil
}

// components lists every tracked component with its processes now.
func (s *Sampler) components() map[string][]int {
	s.mu.Lock()
	tracked := make(map[string]func() []int, len(s.tracked))
	for k, v := range s.tracked {
		tracked[k] = v
	}
	groups := append([]group(nil), s.groups...)
	s.mu.Unlock()
	out := map[string][]int{}
	for name, f := range tracked {
		out[name] = f()
	}
	for _, g := range groups {
		for _, p := range g.list() {
			if p.PID > 0 {
				out[g.prefix+p.Name] = append(out[g.prefix+p.Name], p.PID)
			}
		}
	}
	return out
}

// splitHarness divides the harness's usage among the labels of the last
// profile (unlabelled goroutines stay the harness's); memory stays whole.
func (s *Sampler) splitHarness(h Usage) map[string]Usage {
	out := map[string]Usage{Harness: h}
	if s.split == nil {
		return out
	}
	times, err := s.split.cut()
	if err != nil {
		s.problem(err.Error())
		if s.split.buf == nil {
			s.split = nil
		}
		return out
	}
	var total int64
	for _, t := range times {
		total += t
	}
	if total == 0 {
		return out
	}
	rest := h
	names := make([]string, 0, len(times))
	for n := range times {
		if n != "" && n != Harness {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		share := float64(times[n]) / float64(total)
		u := Usage{User: h.User * share, System: h.System * share}
		out[n] = u
		rest.User -= u.User
		rest.System -= u.System
	}
	rest.User, rest.System = max(rest.User, 0), max(rest.System, 0)
	out[Harness] = rest
	return out
}

// measure reads one component: the cgroups of its containerized processes
// and the process trees of the others, and its CPU since prev (when
// hasPrev; a component's first reading is only a baseline).
func (s *Sampler) measure(t procTable, pids []int, prev compState, hasPrev bool, uptime uint64, now time.Time) (Usage, compState) {
	st := compState{members: map[memberKey]memberVal{}, cgroups: map[string]cgroupUsage{}}
	var u Usage
	var userT, sysT int64 // ticks
	cgBorn := map[string]uint64{}
	var roots []int
	for _, pid := range pids {
		p, ok := t.byPID[pid]
		if !ok {
			continue
		}
		cg, isCtr := s.containerOf(p)
		if !isCtr {
			roots = append(roots, pid)
			continue
		}
		if _, done := st.cgroups[cg.cpu]; done {
			continue
		}
		cu, err := readCgroupUsage(s.opts.CgroupRoot, cg)
		if err != nil {
			// The container may have just gone; a process tree is the
			// next best thing.
			s.problem(err.Error())
			roots = append(roots, pid)
			continue
		}
		st.cgroups[cg.cpu] = cu
		cgBorn[cg.cpu] = p.start
		u.Memory += cu.memory
	}
	for path, cu := range st.cgroups {
		if !hasPrev {
			continue
		}
		if old, ok := prev.cgroups[path]; ok && cu.user >= old.user && cu.system >= old.system {
			userT += int64(cu.user - old.user)
			sysT += int64(cu.system - old.system)
		} else if ok || cgBorn[path] >= s.prev.uptime {
			// A new container since the last sample (or a counter reset).
			userT += int64(cu.user)
			sysT += int64(cu.system)
		}
	}

	// Process trees. A member's CPU counts its reaped children's (cutime),
	// so a Postgres backend that ends is not lost: its time moves into the
	// postmaster's. The sum over members is therefore continuous except
	// where a member ends and is reaped by a process outside the
	// component (the harness, for a dyno it restarts): that member's last
	// moments are lost, never counted twice.
	members := t.tree(roots)
	pidNow := map[int]bool{}
	pageSize := int64(os.Getpagesize())
	for _, m := range members {
		k := memberKey{m.pid, m.start}
		v := memberVal{user: m.utime + m.cutime, system: m.stime + m.cstime, ppid: m.ppid}
		if old, ok := prev.members[k]; ok && old.pssOK && now.Sub(old.pssAt) < s.opts.MemoryInterval {
			v.pss, v.pssOK, v.pssAt = old.pss, true, old.pssAt
		} else if pss, ok := readPSS(s.opts.ProcRoot, m.pid); ok {
			v.pss, v.pssOK, v.pssAt = pss, true, now
		}
		st.members[k] = v
		pidNow[m.pid] = true
		if v.pssOK {
			u.Memory += v.pss
		} else {
			u.Memory += m.rssPages * pageSize
		}
		if !hasPrev {
			continue
		}
		if old, ok := prev.members[k]; ok {
			userT += int64(v.user) - int64(old.user)
			sysT += int64(v.system) - int64(old.system)
		} else if m.start >= s.prev.uptime {
			userT += int64(v.user)
			sysT += int64(v.system)
		}
	}
	if hasPrev {
		for k, old := range prev.members {
			if _, alive := t.byPID[k.pid]; alive && t.byPID[k.pid].start == k.start {
				continue
			}
			// Ended and reaped by a member: its whole time is now in that
			// member's cutime, of which this much was counted before.
			if pidNow[old.ppid] {
				userT -= int64(old.user)
				sysT -= int64(old.system)
			}
		}
	}
	u.User, u.System = ticks(uint64(max(userT, 0))), ticks(uint64(max(sysT, 0)))
	return u, st
}

// containerOf says whether p runs in a cgroup of its own (a container)
// rather than the harness's, and which.
func (s *Sampler) containerOf(p proc) (cgroupOf, bool) {
	k := memberKey{p.pid, p.start}
	cg, ok := s.cgCache[k]
	if !ok {
		var err error
		if cg, err = readCgroup(s.opts.ProcRoot, p.pid); err != nil {
			return cgroupOf{}, false
		}
		if len(s.cgCache) > 10000 {
			clear(s.cgCache)
		}
		s.cgCache[k] = cg
	}
	if s.selfCgroup.cpu == "" || cg.cpu == s.selfCgroup.cpu || cg.cpu == "/" {
		return cg, false
	}
	return cg, true
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

func ticks(n uint64) float64 { return float64(n) / clockTick }

func (l *labelSplit) stopIfAny() {
	if l != nil {
		l.stop()
	}
}

// CPUCounters are the machine's cumulative CPU time counters, read on the
// caller's goroutine (ReadCPU): two of them give the exact CPU busy share
// of the span between, even when a saturated machine delays the sampling
// goroutine.
type CPUCounters struct{ cpu machineCPU }

// ReadCPU reads the machine's CPU counters now.
func (s *Sampler) ReadCPU() (CPUCounters, error) {
	cpu, _, err := readMachine(s.opts.ProcRoot)
	return CPUCounters{cpu}, err
}

// BusySince is the share of all cores' time that was busy from since to c
// (0..1; 0 when no time passed).
func (c CPUCounters) BusySince(since CPUCounters) float64 {
	busy := sub(c.cpu.busy, since.cpu.busy)
	total := float64(busy + sub(c.cpu.idle, since.cpu.idle))
	if total == 0 {
		return 0
	}
	return float64(busy) / total
}
