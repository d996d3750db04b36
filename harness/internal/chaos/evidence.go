package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
)

// Witness is a fault that can show, from the run's own record, whether it
// bit: the router codes it caused, the dyno state lines, the pods evicted,
// the latency its toxic added to a link, the errors and the recovery after a
// database outage. Every fault kind implements it (a test checks the
// catalogue), so a fault that started but did nothing is never taken for
// one that did.
type Witness interface {
	Evidence(rec *Record, w Window) Effect
}

// Effect is what a fault's evidence shows.
type Effect struct {
	// Observed is whether the evidence shows the fault bit.
	Observed bool
	// Evidence are the figures counted, by name.
	Evidence map[string]float64
	// Summary says what was seen, in a sentence fragment.
	Summary string
}

// Window is when a fault was in force. End is zero for a one-shot fault or
// one still active when the run ended.
type Window struct{ Start, End time.Time }

// Record is the run's own data that evidence is measured from.
type Record struct {
	// Requests are the client operations that completed (no invokes, no
	// nemesis entries), with the platform that served each one.
	Requests []history.Op
	// Heroku is the Heroku app's log stream (router and dyno manager
	// lines), in time order.
	Heroku []routerlog.Entry
	// Target is the target platform's lifecycle log, in time order.
	Target []platform.Event
	// Workers are the shard workers the run lost, with when.
	Workers []WorkerLoss
	// End is when the run's traffic ended.
	End time.Time
	// Slack is how long after a fault ended its effects may still show
	// (Heroku's router logs an H12 when its 30 s window closes).
	Slack time.Duration
}

// span is the window over which a fault's effects are counted: from its
// start to its end plus the slack (or the end of the run).
func (rec *Record) span(w Window) (from, to time.Time) {
	to = rec.End
	if !w.End.IsZero() {
		if e := w.End.Add(rec.Slack); e.Before(to) || to.IsZero() {
			to = e
		}
	}
	return w.Start, to
}

func in(t, from, to time.Time) bool { return !t.Before(from) && (to.IsZero() || !t.After(to)) }

// routerCodes counts the router lines with each of codes inside the span.
func (rec *Record) routerCodes(w Window, codes ...string) map[string]float64 {
	from, to := rec.span(w)
	want := map[string]bool{}
	out := map[string]float64{}
	for _, c := range codes {
		want[c] = true
		out[strings.ToLower(c)] = 0
	}
	for _, e := range rec.Heroku {
		if !e.IsRouter() || !in(e.Time, from, to) {
			continue
		}
		if c := e.Code(); want[c] {
			out[strings.ToLower(c)]++
		}
	}
	return out
}

// dynoLines counts dyno manager lines of dyno ("" = any dyno) containing
// text inside the span.
func (rec *Record) dynoLines(w Window, dyno, text string) float64 {
	from, to := rec.span(w)
	n := 0.0
	for _, e := range rec.Heroku {
		if e.Source != "heroku" || e.Process == "router" || (dyno != "" && e.Process != dyno) || !in(e.Time, from, to) {
			continue
		}
		if strings.Contains(e.Message, text) {
			n++
		}
	}
	return n
}

// targetEvents counts target lifecycle lines with reason (and, when set,
// whose object or message contains text) inside the span.
func (rec *Record) targetEvents(w Window, reason, text string) float64 {
	from, to := rec.span(w)
	n := 0.0
	for _, e := range rec.Target {
		// An event the API server stamped in whole seconds (a core/v1
		// LastTimestamp) is compared at that precision: a pod scheduled
		// within the second the fault began counts.
		start := from
		if e.Time.Nanosecond() == 0 {
			start = from.Truncate(time.Second)
		}
		if e.Reason != reason || !in(e.Time, start, to) {
			continue
		}
		if text == "" || strings.Contains(e.Message, text) || strings.Contains(e.Object, text) {
			n++
		}
	}
	return n
}

// outage counts the client errors on platform ("" = any) inside the span
// and how long after since the last of them came: the recovery time.
func (rec *Record) outage(w Window, platform string, since time.Time) (errs, total, recoveryS float64) {
	from, to := rec.span(w)
	var last time.Time
	for _, op := range rec.Requests {
		if platform != "" && op.Platform != platform {
			continue
		}
		if !in(op.Time, from, to) {
			continue
		}
		total++
		if op.IsError() {
			errs++
			if op.Time.After(last) {
				last = op.Time
			}
		}
	}
	if !last.IsZero() && last.After(since) {
		recoveryS = last.Sub(since).Seconds()
	}
	return errs, total, recoveryS
}

// describe joins non-zero figures into "12 h12, 3 r14".
func describe(ev map[string]float64) string {
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %s", number(ev[k]), strings.ReplaceAll(k, "_", " ")))
	}
	if len(parts) == 0 {
		return "nothing counted"
	}
	return strings.Join(parts, ", ")
}

func number(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3g", v)
}

func sum(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}

// effect builds an Effect whose summary lists the figures.
func effect(observed bool, ev map[string]float64, what string) Effect {
	s := describe(ev)
	if what != "" {
		s = what + ": " + s
	}
	return Effect{Observed: observed, Evidence: ev, Summary: s}
}
