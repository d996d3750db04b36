package local

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHopExchanges: the balancer's transport keeps connections alive
// across exchanges, sends bodies, gives up a connection whose body was
// not read to the end or that the target asked to close, sends a request
// again when a kept-alive connection was closed under it and net/http's
// Transport would (an idempotent method or an Idempotency-Key), and fails
// at once when the request's context ends.
func TestHopExchanges(t *testing.T) {
	tests := []struct {
		name string
		// run sends through the client; it returns how many connections
		// the target should have seen.
		run func(t *testing.T, c *http.Client, url string, closeIdle func()) int
	}{
		{name: "keep-alive", run: func(t *testing.T, c *http.Client, url string, _ func()) int {
			for i := range 20 {
				require.Equal(t, "ok /x", hopGet(t, c, url+"/x"), "request %d", i)
			}
			return 1
		}},
		{name: "body", run: func(t *testing.T, c *http.Client, url string, _ func()) int {
			for range 3 {
				resp, err := c.Post(url+"/echo", "text/plain", strings.NewReader("voucher SAVE-1"))
				require.NoError(t, err)
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, "voucher SAVE-1", string(b))
			}
			return 1
		}},
		{name: "body closed before its end", run: func(t *testing.T, c *http.Client, url string, _ func()) int {
			for range 3 {
				resp, err := c.Get(url + "/big")
				require.NoError(t, err)
				_, err = resp.Body.Read(make([]byte, 10))
				require.NoError(t, err)
				resp.Body.Close()
			}
			return 3
		}},
		{name: "target asks to close", run: func(t *testing.T, c *http.Client, url string, _ func()) int {
			for range 3 {
				require.Equal(t, "ok /close", hopGet(t, c, url+"/close"))
			}
			return 3
		}},
		{name: "closed under it", run: func(t *testing.T, c *http.Client, url string, closeIdle func()) int {
			require.Equal(t, "ok /x", hopGet(t, c, url+"/x"))
			closeIdle()
			require.Equal(t, "ok /y", hopGet(t, c, url+"/y"), "sent again on a new connection")
			return 2
		}},
		{name: "a POST is sent again only with a key", run: func(t *testing.T, c *http.Client, url string, closeIdle func()) int {
			rollback := func(key string) error {
				req, err := http.NewRequest(http.MethodPost, url+"/v1/redemptions/r1/rollback", nil)
				require.NoError(t, err)
				if key != "" {
					req.Header.Set("Idempotency-Key", key)
				}
				resp, err := c.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body) // the connection goes back to the pool
					resp.Body.Close()
				}
				return err
			}
			require.Equal(t, "ok /x", hopGet(t, c, url+"/x"))
			closeIdle()
			require.NoError(t, rollback("k1"), "with an Idempotency-Key it is sent again on a new connection")
			closeIdle()
			// Without one, the replica may have done it and died before
			// answering: the client gets the error, as from net/http.
			require.Error(t, rollback(""))
			return 2
		}},
		{name: "context ends", run: func(t *testing.T, c *http.Client, url string, _ func()) int {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/stall", nil)
			require.NoError(t, err)
			began := time.Now()
			_, err = c.Do(req)
			require.Error(t, err)
			require.Less(t, time.Since(began), time.Second)
			require.Equal(t, "ok /x", hopGet(t, c, url+"/x"), "the next request gets a connection of its own")
			return 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/echo":
					_, _ = io.Copy(w, r.Body)
				case "/big":
					_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
				case "/close":
					w.Header().Set("Connection", "close")
					_, _ = io.WriteString(w, "ok "+r.URL.Path)
				case "/stall":
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
				default:
					_, _ = io.WriteString(w, "ok "+r.URL.Path)
				}
			}))
			var mu sync.Mutex
			idle := map[net.Conn]bool{}
			srv.Config.ConnState = func(conn net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
				mu.Lock()
				defer mu.Unlock()
				if s == http.StateIdle {
					idle[conn] = true
				} else {
					delete(idle, conn)
				}
			}
			// closeIdle closes, from the target's side, the connection
			// the client keeps alive, once the target sees it idle (the
			// client may read the answer before the server marks it).
			closeIdle := func() {
				require.Eventually(t, func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(idle) == 1
				}, 5*time.Second, time.Millisecond)
				mu.Lock()
				for conn := range idle {
					_ = conn.Close()
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond) // the client's side sees it closed
			}
			srv.Start()
			defer srv.Close()
			addr := srv.Listener.Addr().String()
			h := &hop{addr: addr, dial: (&net.Dialer{}).DialContext}
			defer h.CloseIdleConnections()
			want := tt.run(t, &http.Client{Transport: h}, "http://"+addr, closeIdle)
			require.EqualValues(t, want, conns.Load())
		})
	}
}

func hopGet(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return string(b)
}
