package progress_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/internal/progress"
)

func status(step string, index int, elapsed time.Duration) progress.Status {
	return progress.Status{
		Scenario: "staged-cutover", Step: step, Index: index, Steps: 4,
		Weights: map[string]int{"heroku": 75, "aws": 25}, Order: []string{"heroku", "aws"},
		Elapsed: elapsed, Remaining: 2*time.Minute - elapsed,
		Requests: 4000, Errors: 6, Rate: 241.3, P99: 84 * time.Millisecond,
		ActiveFaults: []string{"router-timeout on heroku web.2"},
	}
}

func TestPlainPrintsAStepThenEveryInterval(t *testing.T) {
	var out bytes.Buffer
	d := progress.New(&out, progress.Options{Mode: progress.Plain, PlainEvery: 10 * time.Second})
	require.False(t, d.Live())
	for _, s := range []progress.Status{
		status("canary-10", 1, 0),
		status("canary-10", 1, 4*time.Second),  // same step, too soon: nothing
		status("canary-10", 1, 10*time.Second), // interval passed
		status("ramp-25", 2, 11*time.Second),   // new step: at once
		status("ramp-25", 2, 12*time.Second),
	} {
		require.NoError(t, d.Update(s))
	}
	require.NoError(t, d.Event("gate p99 latency on heroku broke: rolling back"))
	require.NoError(t, d.Finish(progress.Verdict{Pass: false, Scenario: "staged-cutover", Duration: 151 * time.Second,
		Reason: "stage ramp-25: p99 latency on heroku was 30.0s, over its budget of 250ms", ReportPath: "results/r1/report.html"}))

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Equal(t, []string{
		"[0:00] | step 1/4 canary-10 | weights heroku 75 / aws 25 | 241.3 req/s | p99 84.0ms | errors 6 (0.15%) | faults router-timeout on heroku web.2 | 2:00 left",
		"[0:10] | step 1/4 canary-10 | weights heroku 75 / aws 25 | 241.3 req/s | p99 84.0ms | errors 6 (0.15%) | faults router-timeout on heroku web.2 | 1:50 left",
		"[0:11] | step 2/4 ramp-25 | weights heroku 75 / aws 25 | 241.3 req/s | p99 84.0ms | errors 6 (0.15%) | faults router-timeout on heroku web.2 | 1:49 left",
		"[0:12] gate p99 latency on heroku broke: rolling back",
		"FAIL staged-cutover in 2m31s: stage ramp-25: p99 latency on heroku was 30.0s, over its budget of 250ms — report: results/r1/report.html",
	}, lines)
	require.NotContains(t, out.String(), "\x1b", "no escape codes in a log")
}

func TestLiveRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	d := progress.New(&out, progress.Options{Mode: progress.Live, Width: 80})
	require.True(t, d.Live())
	require.NoError(t, d.Update(status("canary-10", 1, time.Second)))
	first := out.String()
	require.Equal(t, 3, strings.Count(first, "\n"), "a three-line block")
	require.NotContains(t, first, "\x1b[1A", "nothing to erase the first time")
	require.Contains(t, first, "step 1/4 \x1b[1mcanary-10\x1b[0m")
	require.Contains(t, first, "weights  heroku 75 / aws 25")
	require.Contains(t, first, "router-timeout on heroku web.2")
	for _, l := range strings.Split(strings.TrimSuffix(first, "\n"), "\n") {
		require.LessOrEqual(t, visibleWidth(l), 79, "lines fit the terminal: %q", l)
	}

	out.Reset()
	require.NoError(t, d.Update(status("ramp-25", 2, 20*time.Second)))
	require.True(t, strings.HasPrefix(out.String(), strings.Repeat("\x1b[1A\x1b[2K", 3)+"\r"), "the old block is erased first")
	require.Contains(t, out.String(), "ramp-25")

	out.Reset()
	require.NoError(t, d.Event("fault dyno-crash on web.1 started"))
	got := out.String()
	i, j := strings.Index(got, "fault dyno-crash"), strings.Index(got, "cutover  staged-cutover")
	require.True(t, i >= 0 && j > i, "the event goes above the redrawn block: %q", got)

	out.Reset()
	require.NoError(t, d.Finish(progress.Verdict{Pass: true, Scenario: "staged-cutover", Duration: time.Minute, ReportPath: "r/report.html"}))
	require.Equal(t, strings.Repeat("\x1b[1A\x1b[2K", 3)+"\r"+"PASS staged-cutover in 1m0s — report: r/report.html\n", out.String())
}

func visibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		if s[i]&0xC0 != 0x80 {
			n++
		}
	}
	return n
}

func TestAutoIsPlainOnAPipeAndAFile(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	require.False(t, progress.New(w, progress.Options{}).Live())

	f, err := os.CreateTemp(t.TempDir(), "log")
	require.NoError(t, err)
	defer f.Close()
	require.False(t, progress.New(f, progress.Options{}).Live())
	require.False(t, progress.New(&bytes.Buffer{}, progress.Options{}).Live())
}

func TestRunUpdatesUntilCancelled(t *testing.T) {
	var out bytes.Buffer
	d := progress.New(&out, progress.Options{Mode: progress.Plain, PlainEvery: time.Nanosecond})
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, time.Millisecond, func() progress.Status {
			n := calls.Add(1)
			if n == 3 {
				cancel()
			}
			return status("canary-10", 1, time.Duration(n)*time.Second)
		})
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	require.GreaterOrEqual(t, strings.Count(out.String(), "\n"), 3)
}

func TestVerdictLine(t *testing.T) {
	require.Equal(t, "FAIL (incomplete) staged-cutover in 42s: interrupted — report: x/report.html",
		progress.VerdictLine(progress.Verdict{Incomplete: true, Scenario: "staged-cutover", Duration: 41600 * time.Millisecond, Reason: "interrupted", ReportPath: "x/report.html"}))
	require.Equal(t, "PASS s in 0s", progress.VerdictLine(progress.Verdict{Pass: true, Scenario: "s"}))
	require.Equal(t, "INCONCLUSIVE s in 0s: too few samples", progress.VerdictLine(progress.Verdict{Inconclusive: true, Scenario: "s", Reason: "too few samples"}))
}
