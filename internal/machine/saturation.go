package machine

import (
	"fmt"
	"sort"
	"strings"
)

// Thresholds decide when the machine, not a platform, limited a window.
// The defaults (DefaultThresholds) are:
//
//   - CPUBusy 0.85: the cores were busy at least 85% of the window. Well
//     below that there was CPU to spare, so a slow answer came from the
//     system under test (a lock, a pool, a fault), not from the machine:
//     a target whose database round trips were slowed by 400 ms left the
//     cores 43% busy while the replayer, every worker waiting, sent 13% of
//     its requests late — the platform's doing. It was 0.90 until the 6x
//     default rehearsal was measured on a 2-core machine at 86-89% busy
//     with 4.6-5.6 runnable tasks per core and 13-22% of its requests sent
//     late in its 50/50 stage: the load comes in bursts and the cores idle
//     between them, so a window's mean understates how busy they were
//     within the bursts, and there three dynos outcompeted two replicas
//     for CPU and the target-against-Heroku gate measured the scheduler.
//   - RunQueuePerCore 2: at least two runnable tasks per core on average —
//     every core busy and as many tasks again waiting for one, so any
//     process (a dyno, Postgres, the replayer) waited for CPU about as long
//     as it ran.
//   - LateShare 0.01 (and at least MinLate requests): at least 1% of the
//     requests left the replayer more than its LateAfter (10 ms) after
//     their intended time — the load generator itself could not keep up.
//   - BehindShare 0.01 (and at least MinLate requests): at least 1% of the
//     planned requests were reached by the replayer more than 50 ms after
//     their intended time, before any wait for a platform — the
//     replayer's own goroutines were not given the CPU on time. The
//     harness process hosts Heroku's router and the target's load
//     balancer too, so what it measured then is its own scheduling: in
//     h12-retry-trap, when Heroku's held queries and retries were let
//     through at once, the harness reached AWS's requests 228 ms late
//     (median of a second) and AWS's answers took 600–700 ms from send to
//     completion while the replicas handled them in 23–101 ms — on cores
//     busy 68% over the stage, 97% at the peak, 4.9 runnable tasks per core.
//
// A window is saturated when the CPU was busy and the run queue or late
// sends show too — the CPU alone may be busy doing the rehearsal's work at
// full speed, and a late replayer on an idle machine is a replayer whose
// requests wait for a platform's slots (its own backpressure) —, or when
// the replayer fell behind its own schedule, whatever the mean CPU.
type Thresholds struct {
	CPUBusy         float64
	RunQueuePerCore float64
	LateShare       float64
	BehindShare     float64
	MinLate         int64
}

// DefaultThresholds are the thresholds described at Thresholds.
var DefaultThresholds = Thresholds{CPUBusy: 0.85, RunQueuePerCore: 2, LateShare: 0.01, BehindShare: 0.01, MinLate: 10}

// Load is what the replayer saw in the window: how many requests it sent,
// how many of them it sent late, and how many planned requests it reached
// late itself (see BehindShare).
type Load struct {
	Requests int64
	Late     int64
	Behind   int64
}

// Judgement is whether a window saturated the machine, with the figures
// it was judged on and, when saturated, the reasons in words.
type Judgement struct {
	Saturated       bool    `json:"saturated"`
	CPUBusy         float64 `json:"cpu_busy"`
	RunQueuePerCore float64 `json:"run_queue_per_core"`
	LateShare       float64 `json:"late_share"`
	BehindShare     float64 `json:"behind_share"`
	// Comparable: saturated only because the replayer fell behind, with
	// the cores under their threshold. The delay is then the replayer's,
	// shared by every request of the window whatever its platform, so a
	// comparison of the platforms in the window still holds; an absolute
	// latency limit does not.
	Comparable bool     `json:"comparable,omitempty"`
	Reasons    []string `json:"reasons,omitempty"`
	// CPUWait is, by platform, how long its processes waited, runnable,
	// for a CPU per CPU-second they ran (CPUWait.WaitPerRun) — whether
	// each side of a comparison was given the cores on equal terms. Only
	// platforms whose processes this machine can see (not a kind pod).
	CPUWait map[string]float64 `json:"cpu_wait_per_run,omitempty"`
}

// String is the judgement in one line, for a verdict's reasons.
func (j Judgement) String() string {
	var waits string
	if len(j.CPUWait) > 0 {
		names := make([]string, 0, len(j.CPUWait))
		for n := range j.CPUWait {
			names = append(names, n)
		}
		sort.Strings(names)
		for i, n := range names {
			if i > 0 {
				waits += ", "
			}
			waits += fmt.Sprintf("%s %.2f", n, j.CPUWait[n])
		}
		waits = "; cpu wait per cpu-second: " + waits
	}
	if !j.Saturated {
		return fmt.Sprintf("machine not saturated (cpu %.0f%%, run queue %.1f per core, %.1f%% late%s)", 100*j.CPUBusy, j.RunQueuePerCore, 100*j.LateShare, waits)
	}
	return "machine saturated: " + j.Why() + waits
}

// Why is the reasons of a saturated judgement in one phrase ("" when not
// saturated), for a gate's note or a verdict's reason.
func (j Judgement) Why() string {
	if !j.Saturated {
		return ""
	}
	return strings.Join(j.Reasons, ", ")
}

// Judge decides whether the machine saturated during w, given the
// replayer's load in the same span, by t (zero t: DefaultThresholds). A
// window without samples or cores is not saturated: nothing shows it.
func Judge(w Window, load Load, t Thresholds) Judgement {
	if t == (Thresholds{}) {
		t = DefaultThresholds
	}
	j := Judgement{CPUBusy: w.CPUBusy}
	if w.Cores > 0 {
		j.RunQueuePerCore = w.RunQueue / float64(w.Cores)
	}
	if load.Requests > 0 {
		j.LateShare = float64(load.Late) / float64(load.Requests)
		j.BehindShare = float64(load.Behind) / float64(load.Requests)
	}
	if w.Samples == 0 || w.Cores == 0 {
		return j
	}
	busy := j.CPUBusy >= t.CPUBusy
	queued := j.RunQueuePerCore >= t.RunQueuePerCore
	late := j.LateShare >= t.LateShare && load.Late >= t.MinLate
	behind := t.BehindShare > 0 && j.BehindShare >= t.BehindShare && load.Behind >= t.MinLate
	busyAndQueued := busy && (queued || late)
	if !busyAndQueued && !behind {
		return j
	}
	j.Saturated = true
	if busyAndQueued {
		j.Reasons = append(j.Reasons, fmt.Sprintf("cpu %.0f%% busy (≥ %.0f%%)", 100*j.CPUBusy, 100*t.CPUBusy))
		if queued {
			j.Reasons = append(j.Reasons, fmt.Sprintf("%.1f runnable tasks per core (≥ %.1f)", j.RunQueuePerCore, t.RunQueuePerCore))
		}
		if late {
			j.Reasons = append(j.Reasons, fmt.Sprintf("%d of %d requests sent late (%.1f%% ≥ %.1f%%)", load.Late, load.Requests, 100*j.LateShare, 100*t.LateShare))
		}
	}
	j.Comparable = !busyAndQueued
	if behind {
		j.Reasons = append(j.Reasons, fmt.Sprintf("the replayer itself reached %d of %d requests late (%.1f%% ≥ %.1f%%; cpu %.0f%% busy)", load.Behind, load.Requests, 100*j.BehindShare, 100*t.BehindShare, 100*j.CPUBusy))
	}
	return j
}
