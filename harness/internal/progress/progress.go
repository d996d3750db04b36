// Package progress shows how a run is going while it runs: a live block
// redrawn in place on a terminal (current step, weights, elapsed and
// remaining time, request rate, p99, errors, active faults), plain lines
// when the output is a log (CI), and a one-line verdict at the end with the
// path of the report.
package progress

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-isatty"
)

// Mode chooses how progress is shown.
type Mode int

const (
	// Auto is Live on a terminal and Plain otherwise.
	Auto Mode = iota
	// Live redraws a block of lines in place.
	Live
	// Plain prints one line per step, and one every PlainEvery within it.
	Plain
)

func (m Mode) String() string {
	switch m {
	case Live:
		return "live"
	case Plain:
		return "plain"
	}
	return "auto"
}

// Status is a snapshot of a run, taken by the engine.
type Status struct {
	Scenario string
	// Step is the current step (a stage name, "drain", "checks"), Index its
	// position from 1 among Steps.
	Step  string
	Index int
	Steps int
	// Weights are the Route53 weights in force, shown in Order (the source
	// platform first); platforms not in Order follow by name.
	Weights map[string]int
	Order   []string
	// Elapsed is the time since the run started; Remaining the planned time
	// left (zero when unknown).
	Elapsed   time.Duration
	Remaining time.Duration
	// Requests and Errors count since the start; Rate (requests per second)
	// and P99 cover a recent window.
	Requests     int64
	Errors       int64
	Rate         float64
	P99          time.Duration
	ActiveFaults []string
}

// Verdict is the outcome printed on the last line.
type Verdict struct {
	Pass bool
	// Inconclusive: the run could not decide (it neither passed nor
	// failed); the line says INCONCLUSIVE, not FAIL.
	Inconclusive bool
	Incomplete   bool
	Scenario     string
	Duration     time.Duration
	// Reason is the first reason of the verdict, for a failure.
	Reason     string
	ReportPath string
}

// Options tune a Display; zero values take the defaults.
type Options struct {
	Mode Mode
	// PlainEvery is how often a plain line repeats within one step
	// (default 10s of run time).
	PlainEvery time.Duration
	// Width overrides the terminal's width in columns.
	Width int
}

// Display writes progress to one writer. Its methods are safe to call from
// several goroutines.
type Display struct {
	mu    sync.Mutex
	w     io.Writer
	live  bool
	width int
	every time.Duration

	drawn     int // lines of the live block on screen
	last      Status
	have      bool
	lastStep  string
	lastPlain time.Duration
}

// New makes a display writing to w. In Auto mode it is live when w is a
// terminal (an *os.File on a tty whose TERM is not "dumb").
func New(w io.Writer, opts Options) *Display {
	d := &Display{w: w, every: opts.PlainEvery, width: opts.Width}
	if d.every <= 0 {
		d.every = 10 * time.Second
	}
	switch opts.Mode {
	case Live:
		d.live = true
	case Auto:
		d.live = IsTerminal(w) && os.Getenv("TERM") != "dumb"
	}
	if d.live && d.width <= 0 {
		if f, ok := w.(*os.File); ok {
			d.width = terminalWidth(f)
		}
	}
	if d.width <= 0 {
		d.width = 100
	}
	return d
}

// IsTerminal says whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// Live says whether the display redraws in place.
func (d *Display) Live() bool { return d.live }

// Update shows s: a redraw on a terminal; on a log, a line when the step
// changed or PlainEvery passed since the last one.
func (d *Display) Update(s Status) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last, d.have = s, true
	if d.live {
		return d.redraw()
	}
	if s.Step == d.lastStep && s.Elapsed-d.lastPlain < d.every {
		return nil
	}
	d.lastStep, d.lastPlain = s.Step, s.Elapsed
	_, err := fmt.Fprintln(d.w, plainLine(s))
	return err
}

// Event prints one line that stays (a weight change, a fault starting, a
// gate breaking); on a terminal it goes above the live block.
func (d *Display) Event(format string, args ...any) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	if !d.live {
		_, err := fmt.Fprintf(d.w, "[%s] %s\n", clock(d.last.Elapsed), line)
		return err
	}
	if err := d.clear(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(d.w, "%s\n", truncate(clock(d.last.Elapsed)+"  "+line, d.width)); err != nil {
		return err
	}
	if d.have {
		return d.redraw()
	}
	return nil
}

// Run calls snapshot and shows it every interval until ctx is done. The
// caller owns the goroutine it runs in.
func (d *Display) Run(ctx context.Context, every time.Duration, snapshot func() Status) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := d.Update(snapshot()); err != nil {
				return err
			}
		}
	}
}

// Finish removes the live block and prints the verdict line.
func (d *Display) Finish(v Verdict) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.live {
		if err := d.clear(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(d.w, VerdictLine(v))
	return err
}

// VerdictLine is the one line a run ends with:
// "FAIL staged-cutover in 2m31s: <reason> — report: results/x/report.html".
func VerdictLine(v Verdict) string {
	word := "PASS"
	switch {
	case v.Inconclusive && !v.Incomplete:
		word = "INCONCLUSIVE"
	case !v.Pass:
		word = "FAIL"
	}
	if v.Incomplete {
		word += " (incomplete)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s in %s", word, v.Scenario, v.Duration.Round(time.Second))
	if v.Reason != "" {
		b.WriteString(": " + v.Reason)
	}
	if v.ReportPath != "" {
		b.WriteString(" — report: " + v.ReportPath)
	}
	return b.String()
}

// redraw replaces the live block with the current status.
func (d *Display) redraw() error {
	if err := d.clear(); err != nil {
		return err
	}
	lines := liveLines(d.last)
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(truncate(l, d.width))
		b.WriteString("\n")
	}
	d.drawn = len(lines)
	_, err := io.WriteString(d.w, b.String())
	return err
}

// clear moves up over the live block and erases it.
func (d *Display) clear() error {
	if d.drawn == 0 {
		return nil
	}
	var b strings.Builder
	for i := 0; i < d.drawn; i++ {
		b.WriteString("\x1b[1A\x1b[2K") // up one line, erase it
	}
	b.WriteString("\r")
	d.drawn = 0
	_, err := io.WriteString(d.w, b.String())
	return err
}

func liveLines(s Status) []string {
	step := s.Step
	if s.Steps > 0 {
		step = fmt.Sprintf("step %d/%d \x1b[1m%s\x1b[0m", s.Index, s.Steps, s.Step)
	}
	timing := clock(s.Elapsed) + " elapsed"
	if s.Remaining > 0 {
		timing += ", " + clock(s.Remaining) + " left " + bar(s.Elapsed, s.Remaining, 20)
	}
	errs := fmt.Sprintf("errors %d", s.Errors)
	if s.Errors > 0 {
		errs = "\x1b[31m" + errs + " (" + errorShare(s) + ")\x1b[0m"
	}
	faults := "faults   none"
	if len(s.ActiveFaults) > 0 {
		faults = "faults   \x1b[33m" + strings.Join(s.ActiveFaults, ", ") + "\x1b[0m"
	}
	return []string{
		fmt.Sprintf("cutover  %s  %s  %s", s.Scenario, step, timing),
		fmt.Sprintf("weights  %s   rate %.1f req/s   p99 %s   %s   requests %d", weightsText(s), s.Rate, durText(s.P99), errs, s.Requests),
		faults,
	}
}

func plainLine(s Status) string {
	parts := []string{fmt.Sprintf("[%s]", clock(s.Elapsed))}
	if s.Steps > 0 {
		parts = append(parts, fmt.Sprintf("step %d/%d %s", s.Index, s.Steps, s.Step))
	} else {
		parts = append(parts, s.Step)
	}
	parts = append(parts,
		"weights "+weightsText(s),
		fmt.Sprintf("%.1f req/s", s.Rate),
		"p99 "+durText(s.P99),
		fmt.Sprintf("errors %d", s.Errors))
	if s.Errors > 0 {
		parts[len(parts)-1] += " (" + errorShare(s) + ")"
	}
	if len(s.ActiveFaults) > 0 {
		parts = append(parts, "faults "+strings.Join(s.ActiveFaults, ", "))
	}
	if s.Remaining > 0 {
		parts = append(parts, clock(s.Remaining)+" left")
	}
	return strings.Join(parts, " | ")
}

func weightsText(s Status) string {
	if len(s.Weights) == 0 {
		return "-"
	}
	seen := map[string]bool{}
	var parts []string
	for _, p := range s.Order {
		if w, ok := s.Weights[p]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", p, w))
			seen[p] = true
		}
	}
	var rest []string
	for p := range s.Weights {
		if !seen[p] {
			rest = append(rest, p)
		}
	}
	sort.Strings(rest)
	for _, p := range rest {
		parts = append(parts, fmt.Sprintf("%s %d", p, s.Weights[p]))
	}
	return strings.Join(parts, " / ")
}

func errorShare(s Status) string {
	if s.Requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(s.Errors)/float64(s.Requests))
}

// clock prints a duration as m:ss (or h:mm:ss).
func clock(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

func durText(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func bar(done, left time.Duration, width int) string {
	total := done + left
	n := 0
	if total > 0 {
		n = int(float64(width) * float64(done) / float64(total))
	}
	n = max(0, min(n, width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// truncate cuts s to width visible columns, leaving escape sequences whole
// and resetting attributes when it cuts.
func truncate(s string, width int) string {
	visible := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b {
			j := strings.IndexByte(s[i:], 'm')
			if j < 0 {
				return s[:i]
			}
			i += j + 1
			continue
		}
		if visible == width-1 {
			return s[:i] + "\x1b[0m"
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		visible++
	}
	return s
}
