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
	ta := start(t, fast(Options{Seed: 2}), 1, nil)
	id := reqID("h12")
	status, body, took := ta.get(t, "/sleep?ms=800", id)
	require.Equal(t, 503, status)
	require.Contains(t, body, "Application Error")
	require.GreaterOrEqual(t, took, 300*time.Millisecond)
	require.Less(t, took, 700*time.Millisecond)

	l := ta.logs.waitRequest(t, id)
	require.GreaterOrEqual(t, l.ServiceMS, 300)
	require.Less(t, l.ServiceMS, 600)
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
	require.Less(t, took, 200*time.Millisecond, "H10 is immediate")
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
	require.GreaterOrEqual(t, l.ServiceMS, 50)
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
	// Request timers at 1/10 so the held requests stay under the 3 s
	// window while the cap fills.
	ta := start(t, fast(Options{Seed: 7, RequestTimerScale: 0.1}), 1, nil)
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
	require.Less(t, took, 200*time.Millisecond, "H11 is immediate")
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
