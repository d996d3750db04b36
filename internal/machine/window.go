package machine

import (
	"sort"
	"time"
)

// Window is what the machine and each component did during a span of the
// run (a stage): the samples whose span's middle falls in [From, To),
// weighted by their spans.
type Window struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Samples int       `json:"samples"`
	Cores   int       `json:"cores"`
	// CPUBusy, CPUUser and CPUSystem are mean shares of all cores' time
	// (0..1); CPUBusyMax is the busiest sample's.
	CPUBusy    float64 `json:"cpu_busy"`
	CPUBusyMax float64 `json:"cpu_busy_max"`
	CPUUser    float64 `json:"cpu_user"`
	CPUSystem  float64 `json:"cpu_system"`
	// RunQueue is the mean number of runnable tasks, RunQueueMax the most
	// seen at once.
	RunQueue    float64 `json:"run_queue"`
	RunQueueMax int     `json:"run_queue_max"`
	Load1Max    float64 `json:"load1_max"`
	// MemAvailableMin is the least memory the kernel had available.
	MemAvailableMin int64 `json:"mem_available_min_bytes"`
	// Components, busiest first.
	Components []ComponentUsage `json:"components"`
}

// ComponentUsage is one component's share of a window.
type ComponentUsage struct {
	Name string `json:"name"`
	// UserCores and SystemCores are the mean number of cores used (CPU
	// seconds over the window's seconds): 0.5 is half of one core.
	UserCores   float64 `json:"user_cores"`
	SystemCores float64 `json:"system_cores"`
	// MemoryMax and MemoryMean are in bytes (see Usage.Memory).
	MemoryMax  int64 `json:"memory_max_bytes"`
	MemoryMean int64 `json:"memory_mean_bytes"`
}

// Cores is the component's total CPU, in cores.
func (c ComponentUsage) Cores() float64 { return c.UserCores + c.SystemCores }

// Window aggregates the samples taken so far over [from, to).
func (s *Sampler) Window(from, to time.Time) Window {
	w := Aggregate(s.Samples(), from, to)
	w.Cores = s.cores
	return w
}

// Aggregate is Window over any samples (cores left zero).
func Aggregate(samples []Sample, from, to time.Time) Window {
	w := Window{From: from, To: to}
	var span, runSpan time.Duration
	type acc struct {
		user, system float64
		memMax       int64
		memSum       float64
		n            int
	}
	comps := map[string]*acc{}
	for _, smp := range samples {
		if smp.Span <= 0 {
			continue
		}
		mid := smp.Time.Add(-smp.Span / 2)
		if mid.Before(from) || !mid.Before(to) {
			continue
		}
		f := smp.Span.Seconds()
		w.Samples++
		span += smp.Span
		w.CPUBusy += smp.CPUBusy * f
		w.CPUUser += smp.CPUUser * f
		w.CPUSystem += smp.CPUSystem * f
		w.CPUBusyMax = max(w.CPUBusyMax, smp.CPUBusy)
		if smp.RunQueueMax > 0 || smp.RunQueue > 0 {
			w.RunQueue += smp.RunQueue * f
			runSpan += smp.Span
		}
		w.RunQueueMax = max(w.RunQueueMax, smp.RunQueueMax)
		w.Load1Max = max(w.Load1Max, smp.Load1)
		if w.MemAvailableMin == 0 || smp.MemAvailable < w.MemAvailableMin {
			w.MemAvailableMin = smp.MemAvailable
		}
		for name, u := range smp.Components {
			a := comps[name]
			if a == nil {
				a = &acc{}
				comps[name] = a
			}
			a.user += u.User
			a.system += u.System
			a.memMax = max(a.memMax, u.Memory)
			a.memSum += float64(u.Memory)
			a.n++
		}
	}
	if span > 0 {
		secs := span.Seconds()
		w.CPUBusy /= secs
		w.CPUUser /= secs
		w.CPUSystem /= secs
		for name, a := range comps {
			w.Components = append(w.Components, ComponentUsage{
				Name: name, UserCores: a.user / secs, SystemCores: a.system / secs,
				MemoryMax: a.memMax, MemoryMean: int64(a.memSum / float64(a.n)),
			})
		}
	}
	if runSpan > 0 {
		w.RunQueue /= runSpan.Seconds()
	}
	sort.Slice(w.Components, func(i, j int) bool {
		ci, cj := w.Components[i].Cores(), w.Components[j].Cores()
		if ci != cj {
			return ci > cj
		}
		return w.Components[i].Name < w.Components[j].Name
	})
	return w
}
