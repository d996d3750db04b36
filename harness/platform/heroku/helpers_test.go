package heroku

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
	"github.com/cutover/cutover/internal/testsupport"
)

// serviceBin is the test service (internal/testsupport/testservice),
// built once.
var serviceBin string

func TestMain(m *testing.M) {
	bin, err := testsupport.BuildService()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serviceBin = bin
	os.Exit(m.Run())
}

// logs collects the app's log stream.
type logs struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func newLogs() *logs { return &logs{changed: make(chan struct{})} }

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.Split(strings.TrimSuffix(string(p), "\n"), "\n")...)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logs) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *logs) dump() string { return strings.Join(l.all(), "\n") }

// entries parses every line; a line that does not parse fails the test.
func (l *logs) entries(t *testing.T) []routerlog.Entry {
	t.Helper()
	var out []routerlog.Entry
	for _, line := range l.all() {
		e, err := routerlog.ParseEntry(line)
		require.NoError(t, err, line)
		out = append(out, e)
	}
	return out
}

// waitRouter waits for a router line satisfying match.
func (l *logs) waitRouter(t *testing.T, match func(routerlog.Line) bool) routerlog.Line {
	t.Helper()
	var found routerlog.Line
	l.wait(t, func(line string) bool {
		e, err := routerlog.ParseEntry(line)
		if err != nil || !e.IsRouter() {
			return false
		}
		rl, err := routerlog.ParseRouter(line)
		require.NoError(t, err, line)
		if match(rl) {
			found = rl
			return true
		}
		return false
	})
	return found
}

// waitRequest waits for the router line of a request id.
func (l *logs) waitRequest(t *testing.T, id string) routerlog.Line {
	t.Helper()
	return l.waitRouter(t, func(rl routerlog.Line) bool { return rl.RequestID == id })
}

// waitDyno waits for a dyno manager line with exactly msg from process.
func (l *logs) waitDyno(t *testing.T, process, msg string) routerlog.Entry {
	t.Helper()
	return l.waitDynoN(t, process, msg, 1)
}

// waitDynoN waits for the nth such line.
func (l *logs) waitDynoN(t *testing.T, process, msg string, n int) routerlog.Entry {
	t.Helper()
	var found routerlog.Entry
	seen := 0
	l.wait(t, func(line string) bool {
		e, err := routerlog.ParseEntry(line)
		if err == nil && e.Source == "heroku" && e.Process == process && e.Message == msg {
			seen++
			found = e
			return seen == n
		}
		return false
	})
	return found
}

func (l *logs) wait(t *testing.T, match func(string) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	seen := 0
	for {
		l.mu.Lock()
		lines := l.lines[seen:]
		changed := l.changed
		l.mu.Unlock()
		for _, line := range lines {
			if match(line) {
				return
			}
		}
		seen += len(lines)
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("log line not found; the log:\n%s", l.dump())
		}
	}
}

// testApp is an App running the test service, with its log.
type testApp struct {
	*App
	logs   *logs
	client *http.Client
	url    string
}

// fast are the options most tests use: request timers at 1/10 (30 s →
// 3 s, far from what a loaded test machine takes to answer), boot and
// connect timeouts of 100 s before scaling (a starved test process can take
// 100 ms to connect on loopback), and quick memory samples. Tests of the
// timers themselves use 1/100 (30 s → 300 ms).
func fast(o Options) Options {
	if o.RequestTimerScale == 0 {
		o.RequestTimerScale = 0.1
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = 100 * time.Second
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 100 * time.Second
	}
	if o.MemorySampleEvery == 0 {
		o.MemorySampleEvery = 50 * time.Millisecond
	}
	return o
}

func start(t *testing.T, o Options, dynos int, env map[string]string) *testApp {
	t.Helper()
	ta := newTestApp(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, ta.Deploy(ctx, spec(env), dynos), ta.logs.dump())
	return ta
}

func newTestApp(t *testing.T, o Options) *testApp {
	t.Helper()
	lg := newLogs()
	o.Log = lg
	app, err := New(o)
	require.NoError(t, err)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		var pids []int
		for _, r := range app.Replicas() {
			pids = append(pids, r.PID)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, app.Close(ctx))
		require.NoError(t, app.Close(ctx), "Close twice")
		tr.CloseIdleConnections()
		for _, r := range app.Replicas() {
			require.Equal(t, platform.Down, r.State)
		}
		// No dyno process outlives the app.
		for _, pid := range pids {
			if pid != 0 {
				require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "pid %d", pid)
			}
		}
	})
	return &testApp{App: app, logs: lg, client: &http.Client{Transport: tr}, url: "http://" + app.Endpoint()}
}

// spec is the test service as a web process: bound to loopback as a dyno
// is, and killed by SIGTERM unless env says otherwise.
func spec(env map[string]string) platform.ServiceSpec {
	all := map[string]string{"HOST": "127.0.0.1", "ON_TERM": "die"}
	maps.Copy(all, env)
	return platform.ServiceSpec{Name: "testservice", Command: []string{serviceBin}, Env: all}
}

// get sends a GET with a request id and returns status, body and the time.
func (ta *testApp) get(t *testing.T, path, id string) (int, string, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ta.url+path, nil)
	require.NoError(t, err)
	if id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	began := time.Now()
	resp, err := ta.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), time.Since(began)
}

// completed asks the dyno at addr (directly) which requests it finished.
func completed(t *testing.T, addr string) []string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/completed")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		IDs []string `json:"ids"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.IDs
}

// completedAt asks the dyno at addr (directly) when it finished each
// request it finished.
func completedAt(t *testing.T, addr string) map[string]time.Time {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/completed")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		At map[string]int64 `json:"at_unix_nano"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	at := map[string]time.Time{}
	for id, ns := range out.At {
		at[id] = time.Unix(0, ns)
	}
	return at
}

// reqID makes a request id Heroku keeps (20-200 characters).
func reqID(name string) string {
	id := "test-" + name + "-0123456789abcdef"
	return strings.ReplaceAll(id, "_", "-")
}

// messages lists the dyno manager messages of one dyno, in order.
func messages(entries []routerlog.Entry, process string) []string {
	var out []string
	for _, e := range entries {
		if e.Source == "heroku" && e.Process == process {
			out = append(out, e.Message)
		}
	}
	return out
}

// requireSubsequence checks that want appears in got in order.
func requireSubsequence(t *testing.T, got, want []string) {
	t.Helper()
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	require.Equal(t, len(want), i, "missing %q in order; got:\n%s", want[min(i, len(want)-1)], strings.Join(got, "\n"))
}

func replica(t *testing.T, a *App, name string) platform.Replica {
	t.Helper()
	for _, r := range a.Replicas() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no replica %s", name)
	return platform.Replica{}
}
