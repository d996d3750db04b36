package machine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name, line string
		want       proc
		err        string
	}{
		{
			name: "plain",
			line: "14857 (cat) R 14852 14852 8854 0 -1 4194304 101 0 0 0 7 3 2 1 20 0 1 0 44014 3133440 416 18446744073709551615 0",
			want: proc{pid: 14857, ppid: 14852, utime: 7, stime: 3, cutime: 2, cstime: 1, start: 44014, rssPages: 416},
		},
		{
			name: "command with spaces and parentheses",
			line: "7 (postgres: a (b) c) S 1 7 7 0 -1 0 0 0 0 0 10 20 30 40 20 0 1 0 99 100 5 0",
			want: proc{pid: 7, ppid: 1, utime: 10, stime: 20, cutime: 30, cstime: 40, start: 99, rssPages: 5},
		},
		{name: "truncated", line: "7 (x) S 1 2 3", err: "fields"},
		{name: "no command", line: "7 S 1", err: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.line))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// startShell starts sh -c script in its own process group and kills the
// group at the end of the test.
func startShell(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// TestSamplerProcessTrees runs real processes — one that burns a core, one
// that forks a stream of short-lived children (as a postmaster forks
// backends), one idle — and checks what the sampler accounts to each.
func TestSamplerProcessTrees(t *testing.T) {
	if testing.Short() {
		t.Skip("samples real processes for 2 s")
	}
	busy := startShell(t, "while :; do :; done")
	// Each child burns CPU for ~50 ms and exits; the parent waits for it
	// (its time moves into the parent's cutime).
	forking := startShell(t, `while :; do sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'; done`)
	idle := startShell(t, "sleep 60")

	ctx := context.Background()
	s, err := Start(ctx, Options{Interval: 100 * time.Millisecond})
	require.NoError(t, err)
	s.TrackPIDs("busy", busy)
	s.TrackPIDs("forking", forking)
	s.Follow("idle ", func() []Process { return []Process{{Name: "sleeper", PID: idle}} })
	from := time.Now()
	time.Sleep(2 * time.Second)
	to := time.Now()
	s.Stop()
	s.Stop() // twice is fine

	w := s.Window(from, to)
	require.Empty(t, s.Problems())
	require.GreaterOrEqual(t, w.Samples, 15)
	require.Equal(t, s.Cores(), w.Cores)
	byName := map[string]ComponentUsage{}
	for _, c := range w.Components {
		byName[c.Name] = c
	}
	// On a machine shared with other work (a load of 14 on 2 cores was
	// seen) a burner may get far less than a core; it can never get more
	// than one (one thread), nor can the forking tree (one child at a
	// time): more would be counting twice.
	for _, n := range []string{"busy", "forking"} {
		c := byName[n]
		require.Greater(t, c.Cores(), 0.05, "%s: %+v", n, c)
		require.Less(t, c.Cores(), 1.15, "%s: %+v", n, c)
		require.Positive(t, c.MemoryMax, n)
	}
	require.Greater(t, byName["busy"].UserCores, byName["busy"].SystemCores)
	sl, ok := byName["idle sleeper"]
	require.True(t, ok, "followed component missing: %v", w.Components)
	require.Less(t, sl.Cores(), 0.02)
	require.Contains(t, byName, Harness)
	require.Greater(t, w.CPUBusy, 0.0)
	require.LessOrEqual(t, w.CPUBusy, 1+1e-9)
	require.Positive(t, w.MemAvailableMin)
	// Two busy shells run on this machine: at least one task runs.
	require.GreaterOrEqual(t, w.RunQueueMax, 1)
}

// TestSamplerSplitsHarnessByLabel burns CPU in a goroutine labelled as a
// component and checks the harness's CPU is split by the label.
func TestSamplerSplitsHarnessByLabel(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles this process for 1.5 s")
	}
	s, err := Start(context.Background(), Options{Interval: 250 * time.Millisecond, SplitHarness: true})
	require.NoError(t, err)
	from := time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	Do(context.Background(), "burner", func(context.Context) {
		go func() { // inherits the label
			defer close(done)
			x := uint64(1)
			for {
				select {
				case <-stop:
					sink = x
					return
				default:
				}
				for i := 0; i < 10000; i++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
		}()
	})
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	<-done
	to := time.Now()
	s.Stop()
	require.Empty(t, s.Problems())
	w := s.Window(from, to)
	var burner, harness ComponentUsage
	for _, c := range w.Components {
		switch c.Name {
		case "burner":
			burner = c
		case Harness:
			harness = c
		}
	}
	require.Greater(t, burner.Cores(), 0.2, "%+v", w.Components)
	require.Greater(t, burner.Cores(), harness.Cores(), "%+v", w.Components)
	require.Positive(t, harness.MemoryMax, "the harness keeps the process's memory")
}

var sink uint64

func TestAggregate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	samples := []Sample{
		{Time: at(0)}, // a first reading has no span: never aggregated
		{Time: at(1), Span: time.Second, CPUBusy: 0.5, RunQueue: 1, RunQueueMax: 2, Load1: 1, MemAvailable: 900,
			Components: map[string]Usage{"pg": {User: 0.2, System: 0.1, Memory: 100}}},
		{Time: at(3), Span: 2 * time.Second, CPUBusy: 1, RunQueue: 4, RunQueueMax: 6, Load1: 3, MemAvailable: 800,
			Components: map[string]Usage{"pg": {User: 1, System: 0.5, Memory: 300}, "web.1": {User: 0.4}}},
		{Time: at(4), Span: time.Second, CPUBusy: 0.1, Components: map[string]Usage{"pg": {User: 1}}},
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     Window
	}{
		{
			name: "first two spans", from: at(0), to: at(3),
			want: Window{Samples: 2, CPUBusy: (0.5 + 2) / 3, CPUBusyMax: 1, RunQueue: (1 + 8) / 3.0, RunQueueMax: 6, Load1Max: 3, MemAvailableMin: 800,
				Components: []ComponentUsage{
					{Name: "pg", UserCores: 1.2 / 3, SystemCores: 0.6 / 3, MemoryMax: 300, MemoryMean: 200},
					{Name: "web.1", UserCores: 0.4 / 3, MemoryMax: 0, MemoryMean: 0},
				}},
		},
		{
			// The sample at 3 s spans 1–3 s: its middle, 2 s, is outside.
			name: "a sample counts where its span's middle is", from: at(0), to: at(2),
			want: Window{Samples: 1, CPUBusy: 0.5, CPUBusyMax: 0.5, RunQueue: 1, RunQueueMax: 2, Load1Max: 1, MemAvailableMin: 900,
				Components: []ComponentUsage{
					{Name: "pg", UserCores: 0.2, SystemCores: 0.1, MemoryMax: 100, MemoryMean: 100},
				}},
		},
		{name: "nothing in range", from: at(10), to: at(20), want: Window{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Aggregate(samples, tt.from, tt.to)
			tt.want.From, tt.want.To = tt.from, tt.to
			require.InDelta(t, tt.want.CPUBusy, got.CPUBusy, 1e-9)
			require.InDelta(t, tt.want.RunQueue, got.RunQueue, 1e-9)
			tt.want.CPUBusy, tt.want.RunQueue = got.CPUBusy, got.RunQueue
			require.Len(t, got.Components, len(tt.want.Components))
			for i := range got.Components {
				require.InDelta(t, tt.want.Components[i].UserCores, got.Components[i].UserCores, 1e-9)
				require.InDelta(t, tt.want.Components[i].SystemCores, got.Components[i].SystemCores, 1e-9)
				tt.want.Components[i].UserCores, tt.want.Components[i].SystemCores = got.Components[i].UserCores, got.Components[i].SystemCores
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestJudge(t *testing.T) {
	w := func(busy, runq float64) Window { return Window{Samples: 10, Cores: 2, CPUBusy: busy, RunQueue: runq} }
	tests := []struct {
		name       string
		w          Window
		load       Load
		want       bool
		reasons    []string
		comparable bool
	}{
		{name: "idle machine", w: w(0.3, 0.5), load: Load{Requests: 1000}, want: false},
		{name: "busy cpu, short queue, on time: working at full speed", w: w(0.97, 2.5), load: Load{Requests: 1000, Late: 2}, want: false},
		{name: "under the busy threshold", w: w(0.80, 9), load: Load{Requests: 1000, Late: 100}, want: false},
		{name: "busy cpu and a long run queue", w: w(0.95, 9), load: Load{Requests: 1000}, want: true,
			reasons: []string{"cpu 95% busy", "4.5 runnable tasks per core"}},
		{name: "busy cpu and a late replayer", w: w(0.92, 1), load: Load{Requests: 1000, Late: 40}, want: true,
			reasons: []string{"cpu 92% busy", "40 of 1000 requests sent late"}},
		{name: "late on an idle machine: the platform held the workers", w: w(0.4, 0.5), load: Load{Requests: 1000, Late: 400}, want: false},
		{name: "a slow target database: workers held, cores idle (measured)", w: w(0.43, 5.2), load: Load{Requests: 2057, Late: 259}, want: false},
		{name: "bursts: the 6x default rehearsal's 50/50 stage (measured)", w: w(0.86, 9.2), load: Load{Requests: 15958, Late: 2064}, want: true,
			reasons: []string{"cpu 86% busy", "4.6 runnable tasks per core", "2064 of 15958 requests sent late"}},
		{name: "a long queue without a busy cpu (tasks in D state)", w: w(0.5, 10), load: Load{Requests: 1000}, want: false},
		{name: "a few late of few requests are noise", w: w(0.95, 1), load: Load{Requests: 100, Late: 5}, want: false},
		{name: "no samples", w: Window{Cores: 2}, load: Load{Requests: 100, Late: 100}, want: false},
		{name: "the replayer behind its own schedule, whatever the mean cpu (h12-retry-trap's flush, measured)", w: w(0.72, 9), load: Load{Requests: 9429, Late: 3621, Behind: 2904}, want: true,
			reasons: []string{"the replayer itself reached 2904 of 9429 requests late"}, comparable: true},
		{name: "busy, queued and behind", w: w(0.95, 14.6), load: Load{Requests: 4201, Late: 2818, Behind: 2818}, want: true,
			reasons: []string{"cpu 95% busy", "7.3 runnable tasks per core", "2818 of 4201 requests sent late", "the replayer itself reached 2818 of 4201 requests late"}},
		{name: "late for the platform's slots, on time itself", w: w(0.4, 0.5), load: Load{Requests: 1000, Late: 400, Behind: 3}, want: false},
		{name: "a few behind of few requests are noise", w: w(0.3, 1), load: Load{Requests: 100, Behind: 5}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := Judge(tt.w, tt.load, Thresholds{})
			require.Equal(t, tt.want, j.Saturated, j.String())
			require.Equal(t, tt.comparable, j.Comparable, "only the replayer's delay leaves the platforms comparable")
			require.Len(t, j.Reasons, len(tt.reasons))
			for i, r := range tt.reasons {
				require.True(t, strings.HasPrefix(j.Reasons[i], r), "reason %q, want %q...", j.Reasons[i], r)
			}
			if j.Saturated {
				require.True(t, strings.HasPrefix(j.String(), "machine saturated: "+tt.reasons[0]))
			}
		})
	}
}

func TestBusySince(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to machineCPU
		want     float64
	}{
		{"half busy", machineCPU{busy: 100, idle: 100}, machineCPU{busy: 150, idle: 150}, 0.5},
		{"all busy", machineCPU{busy: 100, idle: 100}, machineCPU{busy: 300, idle: 100}, 1},
		{"no time passed", machineCPU{busy: 100, idle: 100}, machineCPU{busy: 100, idle: 100}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, CPUCounters{tc.to}.BusySince(CPUCounters{tc.from}), 1e-9)
		})
	}
	s, err := Start(t.Context(), Options{Interval: time.Hour})
	require.NoError(t, err)
	defer s.Stop()
	a, err := s.ReadCPU()
	require.NoError(t, err)
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // keep a core busy
	}
	b, err := s.ReadCPU()
	require.NoError(t, err)
	busy := b.BusySince(a)
	require.Greater(t, busy, 0.0, "a spinning core shows")
	require.LessOrEqual(t, busy, 1.0)
}

// A process's PSS is read when it is new and again once MemoryInterval
// has passed since; in between its last reading stands.
func TestPSSIsReadAgainAfterMemoryInterval(t *testing.T) {
	root := fakeProc(t, map[int]int{10: 1}, nil)
	setPSS := func(kb int) {
		body := fmt.Sprintf("55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss: %d kB\nPss: %d kB\n", kb, kb)
		require.NoError(t, os.WriteFile(filepath.Join(root, "10", "smaps_rollup"), []byte(body), 0o644))
	}
	s := &Sampler{opts: Options{ProcRoot: root, MemoryInterval: 5 * time.Second}, cgCache: map[memberKey]cgroupOf{}}
	table, err := scanProcs(root)
	require.NoError(t, err)
	t0 := time.Now()
	setPSS(100)
	u, st := s.measure(table, []int{10}, compState{}, false, 0, t0)
	require.Equal(t, int64(100<<10), u.Memory, "read when new")
	setPSS(300)
	u, st = s.measure(table, []int{10}, st, true, 0, t0.Add(4*time.Second))
	require.Equal(t, int64(100<<10), u.Memory, "the last reading stands within the interval")
	u, _ = s.measure(table, []int{10}, st, true, 0, t0.Add(5*time.Second))
	require.Equal(t, int64(300<<10), u.Memory, "read again once the interval has passed")
}
