package machine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// CPUWait is how long the threads of a set of processes ran on a CPU and
// how long they waited, runnable, for one, summed over every thread of
// every process of their trees (/proc/PID/task/TID/schedstat: the
// kernel's per-thread run time and run delay, CONFIG_SCHED_INFO). Two
// readings give, exactly and per platform, what the machine-wide run queue
// only samples: whether these processes were given the CPU when they
// wanted it. A thread that ends takes its counts with it, so a difference
// can undercount, never overcount, a span with exits.
type CPUWait struct {
	Run, Delay int64 // nanoseconds
	Threads    int
}

// ReadCPUWait reads the run time and run delay of the process trees
// rooted at pids now.
func (s *Sampler) ReadCPUWait(pids []int) (CPUWait, error) {
	w, err := s.ReadCPUWaits(map[string][]int{"": pids})
	return w[""], err
}

// ReadCPUWaits reads ReadCPUWait for several sets of processes (a
// platform's each) at once, from one scan of the process table: a set
// with no pids is left out.
func (s *Sampler) ReadCPUWaits(sets map[string][]int) (map[string]CPUWait, error) {
	return readCPUWaits(s.opts.ProcRoot, sets)
}

func readCPUWaits(root string, sets map[string][]int) (map[string]CPUWait, error) {
	out := map[string]CPUWait{}
	var t procTable
	scanned := false
	for name, pids := range sets {
		if len(pids) == 0 {
			continue
		}
		if !scanned {
			var err error
			if t, err = scanProcs(root); err != nil {
				return nil, err
			}
			scanned = true
		}
		w, err := readCPUWait(root, t, pids)
		if err != nil {
			return nil, err
		}
		out[name] = w
	}
	return out, nil
}

func readCPUWait(root string, t procTable, pids []int) (CPUWait, error) {
	var w CPUWait
	tasks := 0
	for _, p := range t.tree(pids) {
		dir := filepath.Join(root, strconv.Itoa(p.pid), "task")
		names, err := os.ReadDir(dir)
		if err != nil {
			continue // gone meanwhile
		}
		for _, task := range names {
			tasks++
			b, err := os.ReadFile(filepath.Join(dir, task.Name(), "schedstat"))
			if err != nil {
				continue // gone meanwhile, or no schedstat (below)
			}
			run, delay, ok := parseSchedstat(b)
			if !ok {
				return CPUWait{}, fmt.Errorf("read cpu wait: %s: malformed %q", filepath.Join(dir, task.Name(), "schedstat"), bytes.TrimSpace(b))
			}
			w.Run += run
			w.Delay += delay
			w.Threads++
		}
	}
	if tasks > 0 && w.Threads == 0 {
		return CPUWait{}, fmt.Errorf("read cpu wait: no schedstat for any of %d threads (a kernel without CONFIG_SCHED_INFO?)", tasks)
	}
	return w, nil
}

// parseSchedstat parses "RUN_NS DELAY_NS TIMESLICES".
func parseSchedstat(b []byte) (run, delay int64, ok bool) {
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, 0, false
	}
	run, err1 := strconv.ParseInt(string(f[0]), 10, 64)
	delay, err2 := strconv.ParseInt(string(f[1]), 10, 64)
	return run, delay, err1 == nil && err2 == nil
}

// WaitPerRun is how long the threads waited for a CPU per unit of time
// they ran on one, from since to w: 1 means every CPU-second they got cost
// them another second waiting for it — what two runnable tasks per core
// mean for a process (Thresholds.RunQueuePerCore), measured for these
// processes rather than sampled for the machine. ok is false when they ran
// too little in the span to say (under a millisecond).
func (w CPUWait) WaitPerRun(since CPUWait) (ratio float64, ok bool) {
	run := w.Run - since.Run
	delay := max(w.Delay-since.Delay, 0)
	if run < int64(1e6) {
		return 0, false
	}
	return float64(delay) / float64(run), true
}
