package heroku

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
)

func TestMemoryR14ThenR15(t *testing.T) {
	t.Parallel()
	// A 64 MB quota stands in for standard-1x's 512 MB: R14 above 64 MB,
	// R15 above 128 MB (2×).
	ta := start(t, fast(Options{Seed: 9, MemoryQuota: 64 * mb, SwapLatency: 300 * time.Millisecond}), 1, nil)
	before := replica(t, ta.App, "web.1")

	status, _, _ := ta.get(t, "/alloc?mb=80", "")
	require.Equal(t, 200, status)
	r14 := ta.logs.waitDyno(t, "web.1", "Error R14 (Memory quota exceeded)")
	require.Equal(t, "R14", r14.Code())
	// Degraded: every response of the dyno waits the swap latency.
	status, _, took := ta.get(t, "/", "")
	require.Equal(t, 200, status, ta.logs.dump())
	require.GreaterOrEqual(t, took, 300*time.Millisecond)

	// The kill may come before the dyno's answer is through (H13/H18).
	status, _, _ = ta.get(t, "/alloc?mb=60", "")
	require.Contains(t, []int{200, 503}, status)
	ta.logs.waitDyno(t, "web.1", "Error R15 (Memory quota vastly exceeded)")
	ta.logs.waitDyno(t, "web.1", "State changed from crashed to starting")
	ta.logs.waitDynoN(t, "web.1", "State changed from starting to up", 2)

	msgs := messages(ta.logs.entries(t), "web.1")
	usage := 0
	for _, m := range msgs {
		var n int
		var pct float64
		if _, err := fmt.Sscanf(m, "Process running mem=%dMB(%f%%)", &n, &pct); err == nil {
			usage++
			require.Greater(t, pct, 100.0, m)
		}
	}
	require.GreaterOrEqual(t, usage, 2, "a mem= line before R14 and before R15")
	requireSubsequence(t, msgs, []string{
		"State changed from starting to up",
		"Error R14 (Memory quota exceeded)",
		"Error R15 (Memory quota vastly exceeded)",
		"Stopping process with SIGKILL",
		"Process exited with status 137",
		"State changed from up to crashed",
		"State changed from crashed to starting",
		"State changed from starting to up",
	})
	after := replica(t, ta.App, "web.1")
	require.NotEqual(t, before.PID, after.PID)
	require.Equal(t, 1, after.Restarts)
	// The new process is back under quota, so not slowed down.
	status, _, _ = ta.get(t, "/", "")
	require.Equal(t, 200, status)
	for _, b := range ta.tbl.Load().backends {
		require.False(t, b.degraded.Load())
	}
}

func TestInflateMemoryFault(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 10, MemoryQuota: 64 * mb}), 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, ta.InflateMemory(ctx, "web.1", 200*mb))
	ta.logs.waitDyno(t, "web.1", "Error R15 (Memory quota vastly exceeded)")
	ta.logs.waitDynoN(t, "web.1", "State changed from starting to up", 2)
	require.Error(t, ta.InflateMemory(ctx, "web.9", mb))
}

func TestCyclingWithinOneCompressedDay(t *testing.T) {
	t.Parallel()
	// A day in 2 s; the 30 s grace in 300 ms. The service ignores SIGTERM,
	// so each cycle ends in R12 and SIGKILL.
	scale := 2.0 / (24 * 60 * 60)
	ta := start(t, fast(Options{Seed: 11, TimeScale: scale, RequestTimerScale: 0.01}), 3, map[string]string{"ON_TERM": "ignore"})
	egress := map[string]string{}
	for _, r := range ta.Replicas() {
		egress[r.Name] = r.Egress
	}
	deployed := time.Now()
	for _, name := range []string{"web.1", "web.2", "web.3"} {
		ta.logs.waitDyno(t, name, "Process exited with status 137")
	}
	require.Less(t, time.Since(deployed), 2*time.Second+time.Duration(float64(CycleJitter)*scale)+3*time.Second)

	entries := ta.logs.entries(t)
	cycledAt := map[string]time.Time{}
	for _, name := range []string{"web.1", "web.2", "web.3"} {
		requireSubsequence(t, messages(entries, name), []string{
			"State changed from starting to up",
			"Cycling",
			"State changed from up to starting",
			"Stopping all processes with SIGTERM",
			"Error R12 (Exit timeout) -> Process failed to exit within 300ms of SIGTERM",
			"Stopping remaining processes with SIGKILL",
			"Process exited with status 137",
		})
		var up, cycling, term, kill time.Time
		for _, e := range entries {
			if e.Process != name || e.Source != "heroku" {
				continue
			}
			// The first of each: a dyno may have cycled twice by now.
			first := func(at *time.Time) {
				if at.IsZero() {
					*at = e.Time
				}
			}
			switch e.Message {
			case "State changed from starting to up":
				first(&up)
			case "Cycling":
				first(&cycling)
			case "Stopping all processes with SIGTERM":
				first(&term)
			case "Stopping remaining processes with SIGKILL":
				first(&kill)
			}
		}
		// 24 h + up to 216 min, compressed.
		lived := cycling.Sub(up)
		require.GreaterOrEqual(t, lived, 2*time.Second-10*time.Millisecond, name)
		// (Upper bounds leave room for a loaded machine's late timers.)
		require.Less(t, lived, 2*time.Second+time.Duration(float64(CycleJitter)*scale)+time.Second, name)
		// SIGKILL at the scaled grace after SIGTERM.
		grace := kill.Sub(term)
		require.GreaterOrEqual(t, grace, 300*time.Millisecond-5*time.Millisecond, name)
		require.Less(t, grace, 800*time.Millisecond, name)
		cycledAt[name] = cycling
	}
	// The jitter spreads the cycles apart.
	require.NotEqual(t, cycledAt["web.1"], cycledAt["web.2"])
	require.NotEqual(t, cycledAt["web.2"], cycledAt["web.3"])

	// Every replacement is up, with a new egress address.
	for _, name := range []string{"web.1", "web.2", "web.3"} {
		require.Eventually(t, func() bool { return replica(t, ta.App, name).State == platform.Up }, 5*time.Second, 10*time.Millisecond)
		r := replica(t, ta.App, name)
		require.NotEqual(t, egress[name], r.Egress, name)
		require.GreaterOrEqual(t, r.Restarts, 1)
	}
}

func TestCrashBackoffSequence(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash loop through five cool-offs takes about 6 s")
	}
	t.Parallel()
	// Cool-offs of 20/40/60/180/320 min become 100/200/300/900/1600 ms.
	scale := 1.0 / 12000
	ta := newTestApp(t, fast(Options{Seed: 12, TimeScale: scale, CrashResetAfter: 24 * time.Hour}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The service crashes 100 ms after binding; on a loaded machine that
	// can be before the dyno manager saw it up, which fails the deploy.
	// Either way the crash loop follows.
	go func() { _ = ta.Deploy(ctx, spec(map[string]string{"CRASH_AFTER": "100ms"}), 1) }()
	want := []time.Duration{0}
	for _, c := range DefaultCrashCoolOffs {
		want = append(want, time.Duration(float64(c)*scale))
	}
	want = append(want, want[len(want)-1]) // then every 320 min

	// Wait for the crash after the last cool-off we check.
	deadline := time.Now().Add(15 * time.Second)
	var gaps []time.Duration
	for time.Now().Before(deadline) {
		gaps = crashGaps(ta.logs.entries(t), "web.1")
		if len(gaps) >= len(want) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.GreaterOrEqual(t, len(gaps), len(want), ta.logs.dump())
	for i, w := range want {
		require.GreaterOrEqual(t, gaps[i], w-5*time.Millisecond, "cool-off %d: got %v want %v", i, gaps[i], w)
		// Timers on a loaded machine fire late, never early.
		require.Less(t, gaps[i], w+w/2+300*time.Millisecond, "cool-off %d: got %v want %v", i, gaps[i], w)
	}
	msgs := messages(ta.logs.entries(t), "web.1")
	requireSubsequence(t, msgs, []string{
		"Process exited with status 1",
		"State changed from crashed to starting",
		"Process exited with status 1",
		"State changed from crashed to starting",
	})
	require.Contains(t, ta.logs.dump(), "app[web.1]: crashing as told by CRASH_AFTER")
}

// crashGaps are the times from each "to crashed" to the next "crashed to
// starting" of a dyno.
func crashGaps(entries []routerlog.Entry, name string) []time.Duration {
	var gaps []time.Duration
	var crashed time.Time
	for _, e := range entries {
		if e.Source != "heroku" || e.Process != name {
			continue
		}
		switch {
		case strings.HasPrefix(e.Message, "State changed from ") && strings.HasSuffix(e.Message, " to crashed"):
			crashed = e.Time
		case e.Message == "State changed from crashed to starting" && !crashed.IsZero():
			gaps = append(gaps, e.Time.Sub(crashed))
			crashed = time.Time{}
		}
	}
	return gaps
}

func TestBootTimeoutR10(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t, fast(Options{Seed: 13, RequestTimerScale: 0.01, BootTimeout: BootTimeout}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := ta.Deploy(ctx, spec(map[string]string{"START_DELAY": "5000ms"}), 1)
	require.ErrorContains(t, err, "web.1 crashed")
	requireSubsequence(t, messages(ta.logs.entries(t), "web.1"), []string{
		"Starting process with command `" + serviceBin + "`",
		"Error R10 (Boot timeout) -> Web process failed to bind to $PORT within 600ms of launch",
		"Stopping process with SIGKILL",
		"Process exited with status 137",
		"State changed from starting to crashed",
	})
	id := reqID("r10-h10")
	require.Eventually(t, func() bool {
		return replica(t, ta.App, "web.1").State == platform.Crashed
	}, 5*time.Second, 10*time.Millisecond)
	// The first restart is immediate, so the dyno may be starting again:
	// the router holds or answers H10; either way the client gets 503.
	status, _, _ := ta.get(t, "/", id)
	require.Equal(t, 503, status)
}

func TestH20WhileDynosStart(t *testing.T) {
	t.Parallel()
	// Boot takes 1.2 s; the router holds requests 750 ms (75 s scaled).
	ta := newTestApp(t, fast(Options{Seed: 14, RequestTimerScale: 0.01, BootTimeout: 500 * time.Second}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deployed := make(chan error, 1)
	go func() { deployed <- ta.Deploy(ctx, spec(map[string]string{"START_DELAY": "1200ms"}), 1) }()
	require.Eventually(t, func() bool {
		rs := ta.Replicas()
		return len(rs) == 1 && rs[0].State == platform.Starting
	}, 5*time.Second, 5*time.Millisecond)
	id := reqID("h20")
	status, body, took := ta.get(t, "/", id)
	require.Equal(t, 503, status)
	require.Contains(t, body, "Application Error")
	require.GreaterOrEqual(t, took, 750*time.Millisecond)
	l := ta.logs.waitRequest(t, id)
	l.Time, l.Keys = time.Time{}, nil
	require.Equal(t, routerlog.Line{
		At: "error", Code: "H20", Desc: "App boot timeout", Method: "GET", Path: "/", Host: ta.Endpoint(),
		RequestID: id, Fwd: "127.0.0.1", ConnectMS: -1, ServiceMS: -1, Status: 503, Bytes: -1,
		Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
	}, l)
	require.NoError(t, <-deployed)

	// A request that arrives while a dyno starts is held, then served: a
	// release whose boot takes 300 ms.
	go func() { deployed <- ta.Deploy(ctx, spec(map[string]string{"START_DELAY": "300ms"}), 1) }()
	require.Eventually(t, func() bool { return replica(t, ta.App, "web.1").State == platform.Starting }, 5*time.Second, time.Millisecond)
	// Past the route lag (10 ms scaled) the old process, which dies on
	// SIGTERM, gets no more requests (during it, they would fail with H13
	// as on Heroku).
	time.Sleep(50 * time.Millisecond)
	status, _, took = ta.get(t, "/", "")
	require.Equal(t, 200, status, ta.logs.dump())
	require.Greater(t, took, 100*time.Millisecond)
	require.NoError(t, <-deployed)
}

func TestRestartChangesEgressAndLogs(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 15}), 2, nil)
	before := ta.Replicas()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, ta.Restart(ctx, "web.2"))
	after := ta.Replicas()
	require.Equal(t, before[0].PID, after[0].PID, "web.1 untouched")
	require.NotEqual(t, before[1].PID, after[1].PID)
	require.NotEqual(t, before[1].Egress, after[1].Egress)
	require.Equal(t, 1, after[1].Restarts)
	require.Contains(t, ta.logs.dump(), "app[web.2]: listening on")
	ta.logs.waitDyno(t, "web.2", "Process exited with status 143")
	requireSubsequence(t, messages(ta.logs.entries(t), "web.2"), []string{
		"Restarting",
		"State changed from up to starting",
		"Stopping all processes with SIGTERM",
		"State changed from starting to up",
	})
	require.Error(t, ta.Restart(ctx, "web.3"))
}

func TestScaleUpAndDown(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 16}), 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, ta.Scale(ctx, 3))
	var names []string
	for _, r := range ta.Replicas() {
		names = append(names, r.Name)
		require.Equal(t, platform.Up, r.State)
		require.NotZero(t, r.PID)
		require.NotEmpty(t, r.Addr)
	}
	require.Equal(t, []string{"web.1", "web.2", "web.3"}, names)
	require.NoError(t, ta.Scale(ctx, 1))
	require.Len(t, ta.Replicas(), 1)
	ta.logs.waitDyno(t, "web.3", "State changed from up to down")
	require.Contains(t, ta.logs.dump(), "app[api]: Scaled to web@3:Standard-1X by user")
	require.Error(t, ta.Scale(ctx, -1))
}

func TestDeployAgainIsARelease(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 17}), 2, nil)
	before := ta.Replicas()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, ta.Deploy(ctx, spec(map[string]string{"RELEASE": "2"}), 2))
	after := ta.Replicas()
	for i := range after {
		require.NotEqual(t, before[i].PID, after[i].PID)
	}
	require.Contains(t, ta.logs.dump(), "app[api]: Release v2 created by user")
}

func TestDynoSizes(t *testing.T) {
	tests := []struct {
		name          string
		quota, killAt int64
	}{
		{"Standard-1X", 512 * mb, 1024 * mb},
		{"standard-2x", 1024 * mb, 2048 * mb},
		{"performance-m", 2560 * mb, 5120 * mb},
		{"performance-l", 14336 * mb, 28672 * mb},
		{"performance-l-ram", 30720 * mb, 36864 * mb},
	}
	for _, tt := range tests {
		s, err := ParseDynoSize(tt.name)
		require.NoError(t, err)
		require.Equal(t, tt.quota, s.Quota(), tt.name)
		require.Equal(t, tt.killAt, s.KillAt(), tt.name)
	}
	_, err := ParseDynoSize("hobby")
	require.Error(t, err)
	_, err = New(Options{Size: "hobby"})
	require.Error(t, err)
	app, err := New(Options{Size: "Performance-M"})
	require.NoError(t, err)
	require.Equal(t, PerformanceM.Quota(), app.quota)
	require.NoError(t, app.Close(context.Background()))
}

func TestKillReplicaAndCycleNow(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 18}), 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := replica(t, ta.App, "web.1")
	require.NoError(t, ta.KillReplica(ctx, "web.1"))
	// First crash: restarted at once.
	ta.logs.waitDynoN(t, "web.1", "State changed from starting to up", 2)
	requireSubsequence(t, messages(ta.logs.entries(t), "web.1"), []string{
		"Process exited with status 137",
		"State changed from up to crashed",
		"State changed from crashed to starting",
		"Starting process with command `" + serviceBin + "`",
		"State changed from starting to up",
	})
	require.NotEqual(t, before.PID, replica(t, ta.App, "web.1").PID)

	before = replica(t, ta.App, "web.2")
	require.NoError(t, ta.CycleNow(ctx, "web.2"))
	require.NotEqual(t, before.PID, replica(t, ta.App, "web.2").PID)
	require.Equal(t, platform.Up, replica(t, ta.App, "web.2").State)
	requireSubsequence(t, messages(ta.logs.entries(t), "web.2"), []string{
		"Cycling",
		"State changed from up to starting",
		"Stopping all processes with SIGTERM",
		"State changed from starting to up",
	})
	require.Error(t, ta.KillReplica(ctx, "web.7"))
	require.Error(t, ta.CycleNow(ctx, "web.7"))
}
