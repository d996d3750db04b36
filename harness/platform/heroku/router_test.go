package heroku

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
)

func TestSuccessHeadersAndLogLine(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 1}), 2, nil)
	id := reqID("success")
	before := time.Now().UnixMilli()
	req, err := http.NewRequest(http.MethodGet, ta.url+"/headers?x=1", nil)
	require.NoError(t, err)
	req.Header.Set("X-Request-Id", id)
	req.Header.Set("X-Forwarded-For", "10.1.2.3")
	resp, err := ta.client.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "1.1 heroku-router", resp.Header.Get("Via"))

	var seen map[string]string
	require.NoError(t, json.Unmarshal(body, &seen))
	_, port, _ := net.SplitHostPort(ta.Endpoint())
	require.Equal(t, "10.1.2.3, 127.0.0.1", seen["X-Forwarded-For"])
	require.Equal(t, "http", seen["X-Forwarded-Proto"])
	require.Equal(t, port, seen["X-Forwarded-Port"])
	require.Equal(t, id, seen["X-Request-Id"])
	require.Equal(t, "1.1 heroku-router", seen["Via"])
	require.Equal(t, ta.Endpoint(), seen["Host"])
	start, err := strconv.ParseInt(seen["X-Request-Start"], 10, 64)
	require.NoError(t, err)
	require.InDelta(t, before, start, 1000)

	l := ta.logs.waitRequest(t, id)
	require.Contains(t, []string{"web.1", "web.2"}, l.Dyno)
	require.GreaterOrEqual(t, l.ConnectMS, 0)
	require.GreaterOrEqual(t, l.ServiceMS, 0)
	l.Time, l.Dyno, l.ConnectMS, l.ServiceMS = time.Time{}, "", 0, 0
	require.Equal(t, routerlog.Line{
		At: "info", Method: "GET", Path: "/headers?x=1", Host: ta.Endpoint(), RequestID: id,
		Fwd: "10.1.2.3, 127.0.0.1", Status: 200, Bytes: int64(len(body)),
		Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
		Keys: []string{"at", "method", "path", "host", "request_id", "fwd", "dyno", "connect", "service", "status", "bytes", "protocol", "tls", "tls_version"},
	}, l)
}

func TestH12DynoCompletesAfterTimeout(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 2, RequestTimerScale: 0.01}), 1, nil)
	id := reqID("h12")
	status, body, took := ta.get(t, "/sleep?ms=800", id)
	require.Equal(t, 503, status)
	require.Contains(t, body, "Application Error")
	require.GreaterOrEqual(t, took, 300*time.Millisecond)

	// The router gave up at 30 s (300 ms), not when the dyno answered.
	l := ta.logs.waitRequest(t, id)
	require.GreaterOrEqual(t, l.ServiceMS, 300)
	require.Less(t, l.ServiceMS, 800)
	require.GreaterOrEqual(t, l.ConnectMS, 0)
	l.Time, l.ServiceMS, l.ConnectMS, l.Keys = time.Time{}, 0, 0, nil
	require.Equal(t, routerlog.Line{
		At: "error", Code: "H12", Desc: "Request timeout", Method: "GET", Path: "/sleep?ms=800",
		Host: ta.Endpoint(), RequestID: id, Fwd: "127.0.0.1", Dyno: "web.1", Status: 503, Bytes: 0,
		Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
	}, l)

	// The dyno was not told: it finishes the request after the client
	// got its 503.
	addr := replica(t, ta.App, "web.1").Addr
	require.NotContains(t, completed(t, addr), id)
	require.Eventually(t, func() bool {
		for _, c := range completed(t, addr) {
			if c == id {
				return true
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond)
}

// TestH12BeforeTheDynoCommits is the dangerous order of events: the router
// gives up at its deadline while the dyno is still working on a write, the
// client has its 503 in hand, and only then does the dyno finish — and
// commit. A client retry sent on the 503 races an uncommitted original.
func TestH12BeforeTheDynoCommits(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 26, RequestTimerScale: 0.01}), 1, nil)
	id := reqID("h12-before-commit")
	req, err := http.NewRequest(http.MethodPost, ta.url+"/sleep?ms=900", strings.NewReader(`{"order":1}`))
	require.NoError(t, err)
	req.Header.Set("X-Request-Id", id)
	sent := time.Now()
	resp, err := ta.client.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	got := time.Now()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	// At the router's 30 s (300 ms), not when the dyno answers (900 ms).
	require.GreaterOrEqual(t, got.Sub(sent), 300*time.Millisecond)
	require.Less(t, got.Sub(sent), 900*time.Millisecond)
	require.Equal(t, "H12", ta.logs.waitRequest(t, id).Code)

	addr := replica(t, ta.App, "web.1").Addr
	require.NotContains(t, completedAt(t, addr), id, "the dyno is still working when the client has its 503")
	var done time.Time
	require.Eventually(t, func() bool {
		at, ok := completedAt(t, addr)[id]
		done = at
		return ok
	}, 5*time.Second, 20*time.Millisecond)
	require.True(t, done.After(got), "the dyno committed at %s, after the client got its 503 at %s", done, got)

	// The router's evidence: the H12, then the dyno's late 200.
	var rec TimedOut
	require.Eventually(t, func() bool {
		ts := ta.TimedOut()
		if len(ts) != 1 {
			return false
		}
		rec = ts[0]
		return !rec.Answered.IsZero()
	}, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, id, rec.RequestID)
	require.Equal(t, "web.1", rec.Dyno)
	require.Equal(t, http.StatusOK, rec.Status)
	require.False(t, rec.At.After(got), "the router's H12 time is when the 503 went out")
	require.True(t, rec.Answered.After(rec.At))
	require.False(t, rec.Answered.Before(done), "the dyno answered once it had committed")
	require.True(t, rec.CommittedAfter())
	require.Equal(t, TimeoutCounts{H12: 1, InFlight: 1, CommittedAfter: 1}, CountTimeouts(ta.TimedOut()))
}

func TestH10WhenEveryDynoHasCrashed(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 3}), 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, ta.CrashAll(ctx, time.Hour))
	for _, r := range ta.Replicas() {
		require.Equal(t, "crashed", string(r.State))
	}
	id := reqID("h10")
	status, body, took := ta.get(t, "/", id)
	require.Equal(t, 503, status)
	require.Contains(t, body, "Application Error")
	// Immediate: holding it (as for a starting dyno) would take 7.5 s.
	require.Less(t, took, time.Second, "H10 is immediate")
	l := ta.logs.waitRequest(t, id)
	l.Time, l.Keys = time.Time{}, nil
	require.Equal(t, routerlog.Line{
		At: "error", Code: "H10", Desc: "App crashed", Method: "GET", Path: "/", Host: ta.Endpoint(),
		RequestID: id, Fwd: "127.0.0.1", ConnectMS: -1, ServiceMS: -1, Status: 503, Bytes: -1,
		Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
	}, l)
	// A restart brings them back (and resets the crash count).
	require.NoError(t, ta.Restart(ctx, ""))
	status, _, _ = ta.get(t, "/", "")
	require.Equal(t, 200, status)
}

func TestH13AndH18(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 4}), 1, nil)
	tests := []struct {
		path       string
		code, desc string
		sock       string
		status     int // what the client sees
		bytes      int64
	}{
		{"/close", "H13", "Connection closed without response", "", 503, 0},
		{"/partial?head=1", "H18", "Server Request Interrupted", "backend", 503, 0},
		{"/partial", "H18", "Server Request Interrupted", "backend", 200, int64(len("only part of"))},
	}
	for i, tt := range tests {
		id := reqID("h13-h18-" + strconv.Itoa(i))
		req, err := http.NewRequest(http.MethodGet, ta.url+tt.path, nil)
		require.NoError(t, err)
		req.Header.Set("X-Request-Id", id)
		resp, err := ta.client.Do(req)
		require.NoError(t, err, tt.path)
		body, readErr := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, tt.status, resp.StatusCode, tt.path)
		if tt.status == 200 {
			require.Error(t, readErr, "the client must see the response cut short")
		} else {
			require.NoError(t, readErr)
			require.Contains(t, string(body), "Application Error")
		}
		l := ta.logs.waitRequest(t, id)
		require.GreaterOrEqual(t, l.ConnectMS, 0)
		require.GreaterOrEqual(t, l.ServiceMS, 0)
		l.Time, l.Keys, l.ConnectMS, l.ServiceMS = time.Time{}, nil, 0, 0
		require.Equal(t, routerlog.Line{
			Sock: tt.sock, At: "error", Code: tt.code, Desc: tt.desc, Method: "GET", Path: tt.path,
			Host: ta.Endpoint(), RequestID: id, Fwd: "127.0.0.1", Dyno: "web.1", Status: 503, Bytes: tt.bytes,
			Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
		}, l, tt.path)
	}
}

func TestH27OnClientAbort(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 5}), 1, nil)
	id := reqID("h27")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ta.url+"/sleep?ms=250", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("X-Request-Id", id)
	_, err = ta.client.Do(req)
	require.Error(t, err)

	l := ta.logs.waitRequest(t, id)
	require.GreaterOrEqual(t, l.ServiceMS, 0, "the dyno was reached")
	l.Time, l.Keys, l.ConnectMS, l.ServiceMS = time.Time{}, nil, 0, 0
	require.Equal(t, routerlog.Line{
		Sock: "client", At: "warning", Code: "H27", Desc: "Client Request Interrupted", Method: "POST",
		Path: "/sleep?ms=250", Host: ta.Endpoint(), RequestID: id, Fwd: "127.0.0.1", Dyno: "web.1",
		Status: 499, Bytes: 0, Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
	}, l)
	// The router closed its connection to the dyno, which noticed and
	// dropped the request.
	time.Sleep(300 * time.Millisecond)
	require.NotContains(t, completed(t, replica(t, ta.App, "web.1").Addr), id)
}

func TestH14AtZeroDynos(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 6}), 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, ta.Scale(ctx, 0))
	require.Empty(t, ta.Replicas())
	id := reqID("h14")
	status, body, _ := ta.get(t, "/", id)
	require.Equal(t, 503, status)
	require.Contains(t, body, "Application Error")
	l := ta.logs.waitRequest(t, id)
	l.Time, l.Keys = time.Time{}, nil
	require.Equal(t, routerlog.Line{
		At: "error", Code: "H14", Desc: "No web processes running", Method: "GET", Path: "/", Host: ta.Endpoint(),
		RequestID: id, Fwd: "127.0.0.1", ConnectMS: -1, ServiceMS: -1, Status: 503, Bytes: -1,
		Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
	}, l)
	require.NoError(t, ta.Scale(ctx, 1))
	status, _, _ = ta.get(t, "/", "")
	require.Equal(t, 200, status)
}

func TestH11AtTheConcurrencyCap(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 7}), 1, nil)
	const limit = 200 // 200 × 1 web dyno
	var wg sync.WaitGroup
	statuses := make(chan int, limit)
	for i := 0; i < limit; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := ta.client.Get(ta.url + "/sleep?ms=1000")
			if err != nil {
				statuses <- -1
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	require.Eventually(t, func() bool { return ta.rt.inflight.Load() == limit }, 5*time.Second, 5*time.Millisecond)
	id := reqID("h11")
	status, body, took := ta.get(t, "/", id)
	require.Equal(t, 503, status)
	require.Contains(t, body, "Application Error")
	// Immediate: a queued request would wait for the 1 s sleeps.
	require.Less(t, took, 900*time.Millisecond, "H11 is immediate")
	l := ta.logs.waitRequest(t, id)
	l.Time, l.Keys = time.Time{}, nil
	require.Equal(t, routerlog.Line{
		At: "error", Code: "H11", Desc: "Backlog too deep", Method: "GET", Path: "/", Host: ta.Endpoint(),
		RequestID: id, Fwd: "127.0.0.1", ConnectMS: -1, ServiceMS: -1, Status: 503, Bytes: -1,
		Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
	}, l)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		require.Equal(t, 200, s, "requests under the cap are served")
	}
}

func TestH80Maintenance(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 8}), 1, nil)
	ta.SetMaintenance(true)
	id := reqID("h80")
	status, body, _ := ta.get(t, "/", id)
	require.Equal(t, 503, status)
	require.Contains(t, body, "Offline for Maintenance")
	l := ta.logs.waitRequest(t, id)
	l.Time, l.Keys = time.Time{}, nil
	require.Equal(t, routerlog.Line{
		At: "info", Code: "H80", Desc: "Maintenance mode", Method: "GET", Path: "/", Host: ta.Endpoint(),
		RequestID: id, Fwd: "127.0.0.1", ConnectMS: -1, ServiceMS: -1, Status: 503, Bytes: -1,
		Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
	}, l)
	ta.SetMaintenance(false)
	status, _, _ = ta.get(t, "/", "")
	require.Equal(t, 200, status)
	require.Contains(t, ta.logs.dump(), "app[api]: Enable Maintenance mode by user")
	require.Contains(t, ta.logs.dump(), "app[api]: Disable Maintenance mode by user")
}

func TestConnectRefusedQuarantineRetryAndH21(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 18, RequestTimerScale: 0.01}), 2, nil)
	// web.1 stops listening but keeps running: connections are refused.
	status, _, _ := getDirect(t, replica(t, ta.App, "web.1").Addr, "/unlisten")
	require.Equal(t, 200, status)
	// Legacy-free: pooled connections to web.1 would still work, so cut them.
	_, err := ta.RestartRouter(context.Background())
	require.NoError(t, err)

	for i := 0; i < 20; i++ {
		id := reqID("retry-" + strconv.Itoa(i))
		status, _, _ := ta.get(t, "/", id)
		require.Equal(t, 200, status, "the router retries another dyno")
		require.Equal(t, "web.2", ta.logs.waitRequest(t, id).Dyno)
	}

	// Now both refuse: after min(10, 2) attempts, H21.
	status, _, _ = getDirect(t, replica(t, ta.App, "web.2").Addr, "/unlisten")
	require.Equal(t, 200, status)
	_, err = ta.RestartRouter(context.Background())
	require.NoError(t, err)
	time.Sleep(60 * time.Millisecond) // quarantines (50 ms scaled) are over
	id := reqID("h21")
	status, _, _ = ta.get(t, "/", id)
	require.Equal(t, 503, status)
	l := ta.logs.waitRequest(t, id)
	require.Contains(t, []string{"web.1", "web.2"}, l.Dyno)
	require.GreaterOrEqual(t, l.ConnectMS, 0)
	l.Time, l.Keys, l.Dyno, l.ConnectMS = time.Time{}, nil, "", 0
	require.Equal(t, routerlog.Line{
		At: "error", Code: "H21", Desc: "Backend connection refused", Method: "GET", Path: "/", Host: ta.Endpoint(),
		RequestID: id, Fwd: "127.0.0.1", ServiceMS: -1, Status: 503, Bytes: -1,
		Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
	}, l)

	// Right after, both are quarantined: the router waits with backoff up
	// to 75 s (750 ms scaled), and H99 if none comes back.
	id = reqID("h99")
	status, _, took := ta.get(t, "/", id)
	require.Equal(t, 503, status)
	code := ta.logs.waitRequest(t, id).Code
	// Quarantines end after 50 ms, so the router tries again and is
	// refused again (H21), or finds both still quarantined until 750 ms (H99).
	require.Contains(t, []string{"H21", "H99"}, code)
	require.Less(t, took, 2*time.Second)
}

func TestAllQuarantinedH99(t *testing.T) {
	t.Parallel()
	// Quarantine (5 s) longer than the hold (75 s) is impossible at one
	// scale, so hold the dynos in quarantine by hand.
	ta := start(t, fast(Options{Seed: 19, RequestTimerScale: 0.01}), 2, nil)
	for _, b := range ta.tbl.Load().backends {
		b.quarantine.Store(time.Now().Add(time.Hour).UnixNano())
	}
	id := reqID("h99-all")
	status, body, took := ta.get(t, "/", id)
	require.Equal(t, 503, status)
	require.Contains(t, body, "Application Error")
	require.GreaterOrEqual(t, took, 750*time.Millisecond)
	l := ta.logs.waitRequest(t, id)
	l.Time, l.Keys = time.Time{}, nil
	require.Equal(t, routerlog.Line{
		At: "error", Code: "H99", Desc: "Platform error", Method: "GET", Path: "/", Host: ta.Endpoint(),
		RequestID: id, Fwd: "127.0.0.1", ConnectMS: -1, ServiceMS: -1, Status: 503, Bytes: -1,
		Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
	}, l)
}

func getDirect(t *testing.T, addr, path string) (int, string, time.Duration) {
	t.Helper()
	began := time.Now()
	resp, err := http.Get("http://" + addr + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), time.Since(began)
}

func TestKeepAliveToDynos(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		legacy bool
		reuse  bool
	}{
		{"router 2.0 reuses connections", false, true},
		{"legacy router closes after each request", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ta := start(t, fast(Options{Seed: 20, LegacyRouter: tt.legacy}), 1, nil)
			remote := func() string {
				_, body, _ := ta.get(t, "/env", "")
				var env struct {
					Remote string `json:"remote"`
				}
				require.NoError(t, json.Unmarshal([]byte(body), &env))
				return env.Remote
			}
			first, second := remote(), remote()
			require.Equal(t, tt.reuse, first == second, "%s then %s", first, second)
		})
	}
}

func TestKeepAliveIdleClose(t *testing.T) {
	t.Parallel()
	// 90 s scaled to 1.8 s: an idle pooled connection is closed quietly.
	ta := start(t, fast(Options{Seed: 21, RequestTimerScale: 0.02}), 1, nil)
	remote := func() string {
		_, body, _ := ta.get(t, "/env", "")
		var env struct {
			Remote string `json:"remote"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &env), ta.logs.dump())
		return env.Remote
	}
	first := remote()
	time.Sleep(2 * time.Second)
	require.NotEqual(t, first, remote())
	require.NotContains(t, ta.logs.dump(), "code=H1")
}

func TestLegacyRouterLogStyle(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 22, LegacyRouter: true}), 1, nil)
	id := reqID("legacy")
	status, _, _ := ta.get(t, "/", id)
	require.Equal(t, 200, status)
	var line string
	ta.logs.wait(t, func(s string) bool {
		if strings.Contains(s, id) {
			line = s
			return true
		}
		return false
	})
	require.Contains(t, line, ` path=/ host=`)
	require.Contains(t, line, ` fwd="127.0.0.1" dyno=web.1 `)
	require.True(t, strings.HasSuffix(line, " protocol=http"), line)
}

func TestRequestLimits(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 23}), 1, nil)
	tests := []struct {
		name   string
		mutate func(*http.Request)
		status int
	}{
		{"header line at the limit", func(r *http.Request) { r.Header.Set("X-Big", strings.Repeat("a", 8192-len("X-Big: "))) }, 200},
		{"header line over 8192", func(r *http.Request) { r.Header.Set("X-Big", strings.Repeat("a", 8193-len("X-Big: "))) }, 400},
		{"header name over 1000", func(r *http.Request) { r.Header.Set("X-"+strings.Repeat("n", 1000), "v") }, 400},
		{"request line over 8192", func(r *http.Request) { r.URL.RawQuery = "q=" + strings.Repeat("x", 8192) }, 400},
		{"over 1000 headers", func(r *http.Request) {
			for i := 0; i < 1001; i++ {
				r.Header.Set("X-H"+strconv.Itoa(i), "v")
			}
		}, 400},
	}
	for i, tt := range tests {
		req, err := http.NewRequest(http.MethodGet, ta.url+"/", nil)
		require.NoError(t, err)
		tt.mutate(req)
		id := reqID("limits-" + strconv.Itoa(i))
		req.Header.Set("X-Request-Id", id)
		resp, err := ta.client.Do(req)
		require.NoError(t, err, tt.name)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, tt.status, resp.StatusCode, tt.name)
		l := ta.logs.waitRequest(t, id)
		if tt.status == 400 {
			require.Equal(t, "H26", l.Code, tt.name)
			require.Equal(t, 400, l.Status, tt.name)
			require.Empty(t, l.Dyno)
		}
	}
}

func TestRequestIDKeptOrMade(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 24}), 1, nil)
	tests := []struct {
		sent string
		kept bool
	}{
		{strings.Repeat("a", 20), true},
		{strings.Repeat("A1+/=-", 33) + "ab", true}, // 200
		{strings.Repeat("a", 19), false},
		{strings.Repeat("a", 201), false},
		{"has spaces in it but is long enough", false},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodGet, ta.url+"/headers", nil)
		require.NoError(t, err)
		req.Header.Set("X-Request-Id", tt.sent)
		resp, err := ta.client.Do(req)
		require.NoError(t, err)
		var seen map[string]string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&seen))
		_ = resp.Body.Close()
		if tt.kept {
			require.Equal(t, tt.sent, seen["X-Request-Id"])
		} else {
			require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, seen["X-Request-Id"])
		}
		ta.logs.waitRequest(t, seen["X-Request-Id"])
	}
}

func TestTimeoutBurstDynoStillCommits(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 25, RequestTimerScale: 0.01}), 1, nil)
	require.NoError(t, ta.TimeoutBurst(1, time.Hour))
	id := reqID("burst")
	status, _, took := ta.get(t, "/sleep?ms=5", id)
	require.Equal(t, 503, status)
	require.GreaterOrEqual(t, took, 300*time.Millisecond)
	require.Equal(t, "H12", ta.logs.waitRequest(t, id).Code)
	require.Contains(t, completed(t, replica(t, ta.App, "web.1").Addr), id, "the dyno committed the request")
	// The response was held: the dyno had answered before the H12.
	require.Equal(t, TimeoutCounts{H12: 1, Held: 1}, CountTimeouts(ta.TimedOut()))
	require.True(t, ta.TimedOut()[0].Answered.Before(ta.TimedOut()[0].At))

	require.NoError(t, ta.TimeoutBurst(0, 0))
	status, _, _ = ta.get(t, "/", "")
	require.Equal(t, 200, status)
	require.Error(t, ta.TimeoutBurst(1.5, time.Second))
}

func TestFlakyRouter(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 26}), 1, nil)
	require.NoError(t, ta.FlakyRouter(0.5, time.Hour, "H19"))
	failed := 0
	for i := 0; i < 100; i++ {
		status, _, _ := ta.get(t, "/", "")
		if status == 503 {
			failed++
		}
	}
	require.InDelta(t, 50, failed, 20)
	require.Contains(t, ta.logs.dump(), `code=H19 desc="Backend connection timeout"`)
	require.NoError(t, ta.FlakyRouter(0, 0, ""))
	require.Error(t, ta.FlakyRouter(0.1, time.Second, "H42"))
}

func TestRestartRouterCutsInFlightRequests(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 27}), 1, nil)
	type result struct {
		status int
	}
	ids := []string{reqID("cut-sleep"), reqID("cut-stream")}
	paths := []string{"/sleep?ms=1000", "/stream?chunks=3&gap_ms=500"}
	done := make(chan result, 2)
	for i := range ids {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, ta.url+paths[i], nil)
			req.Header.Set("X-Request-Id", ids[i])
			resp, err := ta.client.Do(req)
			if err != nil {
				done <- result{-1}
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			done <- result{resp.StatusCode}
		}()
	}
	require.Eventually(t, func() bool { return ta.rt.inflight.Load() == 2 }, 5*time.Second, time.Millisecond)
	time.Sleep(200 * time.Millisecond) // the stream's first chunk is through
	cut, err := ta.RestartRouter(context.Background())
	require.NoError(t, err)
	require.Equal(t, 2, cut)
	<-done
	<-done
	require.Equal(t, "H13", ta.logs.waitRequest(t, ids[0]).Code)
	h18 := ta.logs.waitRequest(t, ids[1])
	require.Equal(t, "H18", h18.Code)
	require.Equal(t, "backend", h18.Sock)
	require.Equal(t, int64(len("chunk 0\n")), h18.Bytes)
}

func TestH15IdleWindow(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 28, RequestTimerScale: 0.01}), 1, nil)
	id := reqID("h15")
	req, _ := http.NewRequest(http.MethodGet, ta.url+"/stream?chunks=2&gap_ms=900", nil)
	req.Header.Set("X-Request-Id", id)
	resp, err := ta.client.Do(req)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Error(t, err, "the response is cut")
	require.Equal(t, "chunk 0\n", string(body))
	l := ta.logs.waitRequest(t, id)
	require.GreaterOrEqual(t, l.ServiceMS, 550)
	l.Time, l.Keys, l.ConnectMS, l.ServiceMS = time.Time{}, nil, 0, 0
	require.Equal(t, routerlog.Line{
		At: "error", Code: "H15", Desc: "Idle connection", Method: "GET", Path: "/stream?chunks=2&gap_ms=900",
		Host: ta.Endpoint(), RequestID: id, Fwd: "127.0.0.1", Dyno: "web.1", Status: 503, Bytes: 8,
		Protocol: "http1.1", TLS: "false", TLSVersion: "unknown",
	}, l)
}

func TestH28ClientIdleDuringBody(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 29, RequestTimerScale: 0.01}), 1, nil)
	conn, err := net.Dial("tcp", ta.Endpoint())
	require.NoError(t, err)
	defer conn.Close()
	id := reqID("h28")
	_, err = io.WriteString(conn, "POST /sleep HTTP/1.1\r\nHost: x\r\nX-Request-Id: "+id+"\r\nContent-Length: 10\r\n\r\nabc")
	require.NoError(t, err)
	// The rest of the body never comes: after 55 s (550 ms) the router
	// gives up.
	l := ta.logs.waitRequest(t, id)
	require.GreaterOrEqual(t, l.ServiceMS, 550)
	require.Equal(t, "H28", l.Code)
	require.Equal(t, "client", l.Sock)
	require.Equal(t, "warning", l.At)
	require.Equal(t, 499, l.Status)
}

func TestRandomSelectionIsUniformAndSeeded(t *testing.T) {
	t.Parallel()
	sequence := func(seed uint64) []string {
		ta := start(t, fast(Options{Seed: seed}), 3, nil)
		var dynos []string
		for i := 0; i < 150; i++ {
			id := reqID("pick-" + strconv.Itoa(i))
			status, _, _ := ta.get(t, "/", id)
			require.Equal(t, 200, status)
			dynos = append(dynos, ta.logs.waitRequest(t, id).Dyno)
		}
		return dynos
	}
	a, b, c := sequence(30), sequence(30), sequence(31)
	require.Equal(t, a, b, "the same seed picks the same dynos")
	require.NotEqual(t, a, c)
	count := map[string]int{}
	for _, d := range a {
		count[d]++
	}
	for _, d := range []string{"web.1", "web.2", "web.3"} {
		require.InDelta(t, 50, count[d], 25, "%v", count)
	}
}

func TestResponseRulesH17AndH25(t *testing.T) {
	t.Parallel()
	ta := start(t, fast(Options{Seed: 41}), 1, nil)
	tests := []struct {
		query  string
		status int
		code   string
	}{
		{"", 200, ""},
		{"status=HTTP/1.1+200", 503, "H17"},
		{"cookie=8192", 200, ""},
		{"cookie=8193", 502, "H25"},
	}
	for i, tt := range tests {
		id := reqID("response-rules-" + strconv.Itoa(i))
		status, _, _ := ta.get(t, "/raw?"+tt.query, id)
		require.Equal(t, tt.status, status, tt.query)
		l := ta.logs.waitRequest(t, id)
		require.Equal(t, tt.code, l.Code, tt.query)
		require.Equal(t, tt.status, l.Status, tt.query)
	}
}
