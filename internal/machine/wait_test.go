package machine

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeProc writes a /proc with the processes given as pid → ppid, each
// with its threads' schedstat lines ("" leaves a thread without one).
func fakeProc(t *testing.T, procs map[int]int, threads map[int][]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, ppid := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "task"), 0o755))
		stat := fmt.Sprintf("%d (p%d) S %d 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 100 1000 10 0", pid, pid, ppid)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644))
		for i, line := range threads[pid] {
			tdir := filepath.Join(dir, "task", strconv.Itoa(pid*100+i))
			require.NoError(t, os.MkdirAll(tdir, 0o755))
			if line != "" {
				require.NoError(t, os.WriteFile(filepath.Join(tdir, "schedstat"), []byte(line+"\n"), 0o644))
			}
		}
	}
	return root
}

func TestReadCPUWait(t *testing.T) {
	tree := map[int]int{10: 1, 11: 10, 12: 11, 20: 1}
	for _, tc := range []struct {
		name    string
		threads map[int][]string
		pids    []int
		want    CPUWait
		err     string
	}{
		{"every thread of the tree, not others", map[int][]string{10: {"100 50 3", "200 0 1"}, 11: {"1000 400 9"}, 12: {"7 3 1"}, 20: {"5000 5000 2"}},
			[]int{10}, CPUWait{Run: 1307, Delay: 453, Threads: 4}, ""},
		{"two roots", map[int][]string{10: {"100 50 3"}, 11: {"1 1 1"}, 12: {"1 1 1"}, 20: {"5000 5000 2"}},
			[]int{12, 20}, CPUWait{Run: 5001, Delay: 5001, Threads: 2}, ""},
		{"no processes", nil, nil, CPUWait{}, ""},
		{"a thread gone meanwhile", map[int][]string{10: {"100 50 3", ""}, 11: {"1 1 1"}, 12: {"1 1 1"}, 20: {"1 1 1"}},
			[]int{10}, CPUWait{Run: 102, Delay: 52, Threads: 3}, ""},
		{"a kernel without schedstat", map[int][]string{10: {""}, 11: {""}, 12: {""}, 20: {""}},
			[]int{10}, CPUWait{}, "no schedstat for any of 3 threads"},
		{"a malformed line", map[int][]string{10: {"many"}, 11: {"1 1 1"}, 12: {"1 1 1"}, 20: {"1 1 1"}},
			[]int{10}, CPUWait{}, "malformed \"many\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readCPUWaits(fakeProc(t, tree, tc.threads), map[string][]int{"p": tc.pids})
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got["p"])
		})
	}
}

// Each platform's set is read from the one scan, as if alone; a set
// without processes (a kind target's) is left out.
func TestReadCPUWaitsOfSeveralSets(t *testing.T) {
	root := fakeProc(t, map[int]int{10: 1, 11: 10, 20: 1}, map[int][]string{10: {"100 50 3"}, 11: {"10 5 1"}, 20: {"5000 4000 2"}})
	got, err := readCPUWaits(root, map[string][]int{"heroku": {10}, "aws": {20}, "kind": nil})
	require.NoError(t, err)
	require.Equal(t, map[string]CPUWait{
		"heroku": {Run: 110, Delay: 55, Threads: 2},
		"aws":    {Run: 5000, Delay: 4000, Threads: 1},
	}, got)
}

func TestWaitPerRun(t *testing.T) {
	ms := int64(time.Millisecond)
	for _, tc := range []struct {
		name     string
		from, to CPUWait
		want     float64
		ok       bool
	}{
		{"waited as long as it ran", CPUWait{Run: 10 * ms, Delay: 5 * ms}, CPUWait{Run: 110 * ms, Delay: 105 * ms}, 1, true},
		{"never waited", CPUWait{Run: 10 * ms}, CPUWait{Run: 30 * ms}, 0, true},
		{"a thread ended: less delay than before", CPUWait{Run: 10 * ms, Delay: 50 * ms}, CPUWait{Run: 30 * ms, Delay: 20 * ms}, 0, true},
		{"too little run to say", CPUWait{Run: 10 * ms}, CPUWait{Run: 10*ms + 999_999, Delay: 90 * ms}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.to.WaitPerRun(tc.from)
			require.Equal(t, tc.ok, ok)
			require.InDelta(t, tc.want, got, 1e-9)
		})
	}
}

// On this machine's kernel the counters move for a real process tree.
func TestReadCPUWaitOfRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spins processes for half a second")
	}
	busy := startShell(t, "while :; do :; done")
	s, err := Start(t.Context(), Options{Interval: time.Hour})
	require.NoError(t, err)
	defer s.Stop()
	a, err := s.ReadCPUWait([]int{busy})
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond)
	b, err := s.ReadCPUWait([]int{busy})
	require.NoError(t, err)
	require.Greater(t, b.Run-a.Run, int64(50*time.Millisecond), "a spinning shell ran")
	_, ok := b.WaitPerRun(a)
	require.True(t, ok)
}
