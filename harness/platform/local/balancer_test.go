package local

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// connCounter counts a server's open connections.
type connCounter struct {
	mu   sync.Mutex
	open map[net.Conn]bool
}

func (c *connCounter) track(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.open[conn] = true
	case http.StateClosed, http.StateHijacked:
		delete(c.open, conn)
	}
}

func (c *connCounter) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}

// A deregistered target's keep-alive connections are closed, as an ALB
// closes its connections to a deregistered target: a replica's Go server
// whose Shutdown waits on a connection the balancer keeps open would
// outlive its termination grace and be SIGKILLed (a rolling restart under
// load in CI did just that).
func TestDeregisterClosesTheTargetsConnections(t *testing.T) {
	tests := []struct {
		name  string
		leave func(b *balancer, tg *target)
	}{
		{"deregister", func(b *balancer, tg *target) { b.deregister(tg) }},
		{"drained", func(b *balancer, tg *target) { b.deregister(tg); tg.drain(time.Now().Add(time.Second), nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := &connCounter{open: map[net.Conn]bool{}}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				time.Sleep(5 * time.Millisecond)
			}))
			srv.Config.ConnState = cc.track
			srv.Start()
			defer srv.Close()

			b := newBalancer()
			tg := b.newTarget("coupon-1", srv.Listener.Addr().String())
			b.register(tg)
			front := httptest.NewServer(b)
			defer front.Close()

			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					resp, err := http.Get(front.URL)
					if err == nil {
						resp.Body.Close()
					}
				})
			}
			wg.Wait()
			require.Positive(t, cc.n(), "the balancer keeps its connections to the target open")

			tt.leave(b, tg)
			require.Eventually(t, func() bool { return cc.n() == 0 }, 2*time.Second, 5*time.Millisecond,
				"%d connections left open to a target out of rotation", cc.n())
		})
	}
}
