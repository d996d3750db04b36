package proc

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The test binary doubles as the service under supervision: with
// PROC_TEST_MODE set it runs one of the helper modes below instead of tests.
func TestMain(m *testing.M) {
	switch mode := os.Getenv("PROC_TEST_MODE"); mode {
	case "":
		os.Exit(m.Run())
	default:
		os.Exit(helper(mode))
	}
}

func helper(mode string) int {
	switch mode {
	case "serve", "ignore-term", "alloc", "family":
		if mode == "ignore-term" {
			signal.Ignore(syscall.SIGTERM)
		}
		var keep []byte
		if mode == "alloc" {
			mb, _ := strconv.Atoi(os.Getenv("ALLOC_MB"))
			keep = make([]byte, mb<<20)
			for i := range keep {
				keep[i] = byte(i)
			}
		}
		if mode == "family" {
			// A grandchild in the same process group that allocates too.
			child := exec.Command(os.Args[0])
			child.Env = append(os.Environ(), "PROC_TEST_MODE=alloc-sleep")
			if err := child.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			fmt.Printf("child %d\n", child.Process.Pid)
		}
		fmt.Println("hello from", os.Getenv("PORT"), os.Getenv("EGRESS_ADDR"), os.Getenv("GREETING"))
		fmt.Fprintln(os.Stderr, "to stderr")
		l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, len(keep))
		}))
		return 0
	case "alloc-sleep":
		keep := make([]byte, 64<<20)
		for i := range keep {
			keep[i] = 1
		}
		time.Sleep(time.Hour)
		return int(keep[0])
	case "exit3":
		fmt.Print("no newline at the end")
		return 3
	case "parent":
		// A harness that supervises one child, then gets SIGKILLed.
		port, release, _ := FreePort("127.0.0.1")
		release()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		inst, err := Local{}.Start(context.Background(),
			Spec{Command: []string{os.Args[0]}, Env: map[string]string{"PROC_TEST_MODE": "serve"}},
			InstanceConfig{Name: "web.1", Addr: addr})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("child %d\n", inst.PID())
		time.Sleep(time.Hour)
		return 0
	}
	return 2
}

type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) add(stream, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, stream+": "+line)
}

func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.got...)
}

func start(t *testing.T, mode string, env map[string]string) (Instance, *lines) {
	t.Helper()
	port, release, err := FreePort("127.0.0.1")
	require.NoError(t, err)
	release()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	out := &lines{}
	specEnv := map[string]string{"PROC_TEST_MODE": mode}
	for k, v := range env {
		specEnv[k] = v
	}
	inst, err := Local{}.Start(context.Background(),
		Spec{Name: "svc", Command: []string{os.Args[0], "-test.run=^$"}, Env: specEnv},
		InstanceConfig{Name: "web.1", Addr: addr, Egress: "127.0.9.9", Env: map[string]string{"GREETING": "hi"}, Output: out.add})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = inst.Kill()
		<-inst.Done()
	})
	return inst, out
}

func TestBootOutputAndSIGTERM(t *testing.T) {
	inst, out := start(t, "serve", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, WaitListening(ctx, inst))

	resp, err := http.Get("http://" + inst.Addr())
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	_, port, _ := net.SplitHostPort(inst.Addr())
	require.Eventually(t, func() bool {
		got := out.all()
		return contains(got, "stdout: hello from "+port+" 127.0.9.9 hi") && contains(got, "stderr: to stderr")
	}, 5*time.Second, 10*time.Millisecond, "%v", out.all())

	forced, err := Stop(ctx, inst, 5*time.Second)
	require.NoError(t, err)
	require.False(t, forced)
	require.Equal(t, 143, inst.ExitCode())
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	inst, _ := start(t, "ignore-term", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, WaitListening(ctx, inst))
	began := time.Now()
	forced, err := Stop(ctx, inst, 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, forced)
	require.GreaterOrEqual(t, time.Since(began), 300*time.Millisecond)
	require.Equal(t, 137, inst.ExitCode())
}

func TestExitCodeAndUnterminatedLine(t *testing.T) {
	inst, out := start(t, "exit3", nil)
	<-inst.Done()
	require.Equal(t, 3, inst.ExitCode())
	require.Contains(t, out.all(), "stdout: no newline at the end")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.ErrorIs(t, WaitListening(ctx, inst), ErrExited)
}

func TestRSSGrowsWithAllocation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	small, _ := start(t, "serve", nil)
	big, _ := start(t, "alloc", map[string]string{"ALLOC_MB": "100"})
	require.NoError(t, WaitListening(ctx, small))
	require.NoError(t, WaitListening(ctx, big))
	s, err := small.RSS()
	require.NoError(t, err)
	b, err := big.RSS()
	require.NoError(t, err)
	require.Greater(t, s, int64(1<<20))
	require.Greater(t, b-s, int64(90<<20), "small %d big %d", s, b)
}

func TestRSSSumsAndKillTakesTheGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inst, out := start(t, "family", nil)
	require.NoError(t, WaitListening(ctx, inst))
	var child int
	require.Eventually(t, func() bool {
		for _, l := range out.all() {
			if n, ok := strings.CutPrefix(l, "stdout: child "); ok {
				child, _ = strconv.Atoi(n)
				return true
			}
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)
	// The grandchild's 64 MB count towards the group.
	require.Eventually(t, func() bool {
		n, err := inst.RSS()
		return err == nil && n > 64<<20
	}, 5*time.Second, 20*time.Millisecond)

	require.NoError(t, inst.Kill())
	<-inst.Done()
	require.Equal(t, 137, inst.ExitCode())
	requireGone(t, child)
}

func TestPdeathsigKillsChildWithHarness(t *testing.T) {
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), "PROC_TEST_MODE=parent")
	stdout, err := parent.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, parent.Start())
	t.Cleanup(func() { _ = parent.Process.Kill(); _ = parent.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	child, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "child ")))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(child, 0), "child should be running")

	require.NoError(t, parent.Process.Signal(syscall.SIGKILL))
	_ = parent.Wait()
	requireGone(t, child)
}

// requireGone waits until pid no longer runs (zombies count as gone: their
// parent, not us, reaps them).
func requireGone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		i := strings.LastIndexByte(string(b), ')')
		return i > 0 && strings.HasPrefix(strings.TrimSpace(string(b[i+1:])), "Z")
	}, 5*time.Second, 10*time.Millisecond, "pid %d still runs", pid)
}

func TestParseProcFiles(t *testing.T) {
	g, err := parseStatPgrp([]byte("1234 (my (odd) cmd) S 1 777 777 0 -1 4194560"))
	require.NoError(t, err)
	require.Equal(t, 777, g)
	_, err = parseStatPgrp([]byte("1234 no parens"))
	require.Error(t, err)

	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"Name:\tx\nVmRSS:\t   2048 kB\nThreads: 1\n", 2048 * 1024, false},
		{"Name:\tzombie\nState:\tZ\n", 0, false},
		{"VmRSS:\t12 MB\n", 0, true},
		{"VmRSS:\tx kB\n", 0, true},
	}
	for _, tt := range tests {
		got, err := parseVmRSS([]byte(tt.in))
		if tt.err {
			require.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
	}
}

func TestLineWriterSplitsChunksAndLongLines(t *testing.T) {
	var got []string
	w := &lineWriter{stream: "s", emit: func(_, l string) { got = append(got, l) }}
	_, _ = w.Write([]byte("a\r\nb"))
	_, _ = w.Write([]byte("c\n\nd"))
	_, _ = w.Write([]byte(strings.Repeat("x", maxLine+5)))
	w.flush()
	require.Equal(t, []string{"a", "bc", "", "d" + strings.Repeat("x", maxLine-1), "xxxxxx"}, got)
}

func FuzzParseStatPgrp(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1"))
	f.Add([]byte("1 ()) S 0 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStatPgrp(b)
	})
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add([]byte("VmRSS:\t   2048 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseVmRSS(b)
		if err == nil && n < 0 {
			// a negative count can only come from a '-' the kernel never writes
			require.Contains(t, string(b), "-")
		}
	})
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// FreePort picks below the ephemeral range, where no outgoing connection
// can take the port between release and the server's bind; the port is
// held until release.
func TestFreePortIsOutsideTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	if low <= minPort+1000 {
		t.Skipf("this machine's ephemeral range starts at %d: FreePort falls back to port 0", low)
	}
	for range 20 {
		port, release, err := FreePort("127.0.0.1")
		require.NoError(t, err)
		require.GreaterOrEqual(t, port, minPort)
		require.Less(t, port, low, "below the ephemeral range")
		_, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		require.Error(t, err, "held until release")
		release()
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		require.NoError(t, err, "free after release")
		require.NoError(t, l.Close())
	}
}
