package machine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat and v1's
// cpuacct.stat (USER_HZ): 100 per second on every Linux architecture Go
// supports (the kernel exports USER_HZ, not its own HZ).
const clockTick = 100

// proc is one process as /proc/<pid>/stat describes it.
type proc struct {
	pid, ppid int
	// start is when the process started, in clock ticks since boot: with
	// pid it names the process (a pid can be reused).
	start uint64
	// CPU times in clock ticks: the process's own (all its threads), and
	// those of its children it waited for.
	utime, stime, cutime, cstime uint64
	rssPages                     int64
}

// parseProcStat parses the text of /proc/<pid>/stat.
func parseProcStat(b []byte) (proc, error) {
	// The command (field 2) is in parentheses and may hold anything; the
	// fields restart after the last ')'.
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return proc{}, errors.New("malformed stat line")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return proc{}, fmt.Errorf("pid: %w", err)
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 22 {
		return proc{}, fmt.Errorf("stat of %d has %d fields", pid, len(f)+2)
	}
	p := proc{pid: pid}
	nums := []struct {
		field int
		dst   *uint64
	}{{14, &p.utime}, {15, &p.stime}, {16, &p.cutime}, {17, &p.cstime}, {22, &p.start}}
	for _, n := range nums {
		v, err := strconv.ParseInt(f[n.field-3], 10, 64)
		if err != nil {
			return proc{}, fmt.Errorf("stat of %d: field %d: %w", pid, n.field, err)
		}
		*n.dst = uint64(max(v, 0)) // cutime/cstime are signed in the kernel
	}
	if p.ppid, err = strconv.Atoi(f[1]); err != nil {
		return proc{}, fmt.Errorf("stat of %d: ppid: %w", pid, err)
	}
	if p.rssPages, err = strconv.ParseInt(f[21], 10, 64); err != nil {
		return proc{}, fmt.Errorf("stat of %d: rss: %w", pid, err)
	}
	return p, nil
}

// procTable is every process of the machine at one instant.
type procTable struct {
	byPID    map[int]proc
	children map[int][]int
}

// scanProcs reads the stat of every process under root (/proc). Processes
// that exit while it reads are skipped.
func scanProcs(root string) (procTable, error) {
	d, err := os.Open(root)
	if err != nil {
		return procTable{}, fmt.Errorf("read processes: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return procTable{}, fmt.Errorf("read processes: %w", err)
	}
	t := procTable{byPID: make(map[int]proc, len(names)), children: map[int][]int{}}
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, n, "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		p, err := parseProcStat(b)
		if err != nil {
			continue
		}
		t.byPID[p.pid] = p
		t.children[p.ppid] = append(t.children[p.ppid], p.pid)
	}
	return t, nil
}

// tree returns the processes of the trees rooted at roots (each root and
// its descendants), each once.
func (t procTable) tree(roots []int) []proc {
	var out []proc
	seen := map[int]bool{}
	stack := append([]int(nil), roots...)
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		p, ok := t.byPID[pid]
		if !ok || seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, p)
		stack = append(stack, t.children[pid]...)
	}
	return out
}

// machineCPU is the first line of /proc/stat: the whole machine's CPU
// time in clock ticks, by state.
type machineCPU struct {
	busy, user, system, idle uint64
}

// readMachine reads the machine-wide CPU times (/proc/stat) and the number
// of CPUs it counts.
func readMachine(root string) (machineCPU, int, error) {
	b, err := os.ReadFile(filepath.Join(root, "stat"))
	if err != nil {
		return machineCPU{}, 0, fmt.Errorf("read machine cpu: %w", err)
	}
	var m machineCPU
	cpus := 0
	found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cpus++
			continue
		}
		// cpu user nice system idle iowait irq softirq steal guest guest_nice
		// (guest time is already inside user).
		var v [8]uint64
		for i := 0; i < 8 && i+1 < len(f); i++ {
			v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
		}
		m.user = v[0] + v[1]
		m.system = v[2] + v[5] + v[6]
		m.idle = v[3] + v[4]
		// Steal is time this VM wanted a CPU and did not get one: busy
		// from the rehearsal's point of view.
		m.busy = m.user + m.system + v[7]
		found = true
	}
	if !found {
		return machineCPU{}, 0, errors.New("read machine cpu: no cpu line in /proc/stat")
	}
	return m, cpus, nil
}

// readLoad reads /proc/loadavg: the 1-minute load average and the number
// of runnable tasks now (the reader itself included).
func readLoad(root string) (load1 float64, running int, err error) {
	b, err := os.ReadFile(filepath.Join(root, "loadavg"))
	if err != nil {
		return 0, 0, fmt.Errorf("read load: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return 0, 0, fmt.Errorf("read load: malformed %q", b)
	}
	if load1, err = strconv.ParseFloat(f[0], 64); err != nil {
		return 0, 0, fmt.Errorf("read load: %w", err)
	}
	r, _, ok := strings.Cut(f[3], "/")
	if !ok {
		return 0, 0, fmt.Errorf("read load: malformed %q", b)
	}
	if running, err = strconv.Atoi(r); err != nil {
		return 0, 0, fmt.Errorf("read load: %w", err)
	}
	return load1, running, nil
}

// readUptime reads /proc/uptime as clock ticks since boot (the unit of a
// process's start time).
func readUptime(root string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(root, "uptime"))
	if err != nil {
		return 0, fmt.Errorf("read uptime: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("read uptime: malformed %q", b)
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("read uptime: %w", err)
	}
	return uint64(s * clockTick), nil
}

// readMemAvailable reads MemTotal and MemAvailable from /proc/meminfo, in
// bytes.
func readMemAvailable(root string) (total, available int64, err error) {
	b, err := os.ReadFile(filepath.Join(root, "meminfo"))
	if err != nil {
		return 0, 0, fmt.Errorf("read meminfo: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			total = v << 10
		case "MemAvailable:":
			available = v << 10
		}
	}
	return total, available, nil
}

// readPSS reads a process's proportional set size (its private pages,
// and its share of each page it shares), in bytes, from smaps_rollup, so
// the shared buffers of a Postgres server count once across its backends.
// ok is false where the kernel has no smaps_rollup (before 4.14).
func readPSS(root string, pid int) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, false
	}
	i := bytes.Index(b, []byte("\nPss:"))
	if i < 0 {
		return 0, false
	}
	rest := b[i+5:]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	f := strings.Fields(string(rest))
	if len(f) == 0 {
		return 0, false
	}
	kb, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, false
	}
	return kb << 10, true
}
