package local

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

// target is one replica address as the balancer sees it.
type target struct {
	addr      string
	name      string
	ready     atomic.Bool
	inflight  atomic.Int64
	proxy     *httputil.ReverseProxy
	transport *hop // this target's keep-alive connections only
}

// balancer is the ALB in front of the replicas: least outstanding
// requests over the registered targets, ties round robin.
type balancer struct {
	dialer  *net.Dialer
	targets atomic.Pointer[[]*target] // registered (ready) targets
	rr      atomic.Uint64
	bufs    bufferPool
	errLog  *log.Logger

	mu  sync.Mutex // serialises register/deregister
	set []*target
}

func newBalancer() *balancer {
	b := &balancer{
		dialer: &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second},
		errLog: log.New(io.Discard, "", 0),
	}
	empty := []*target{}
	b.targets.Store(&empty)
	return b
}

func (b *balancer) newTarget(name, addr string) *target {
	// Each target has its own connection pool so that its idle
	// connections can be closed when it leaves rotation, as an ALB closes
	// its connections to a deregistered target. A shared pool would keep
	// them open, and a connection the pool dialed but never used (state
	// "new" to the replica's server) holds a Go http.Server's Shutdown
	// for 5 s, longer than the termination grace: the replica would be
	// SIGKILLed although it drained.
	t := &target{addr: addr, name: name, transport: &hop{addr: addr, dial: b.dialer.DialContext}}
	t.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = addr
			// As an ALB does: the client's address appended to the
			// X-Forwarded-For it sent, and the protocol it used.
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.SetXForwarded()
			pr.Out.Header.Del("X-Forwarded-Host")
			pr.Out.Header["X-Forwarded-Proto"] = xfProto
		},
		Transport:    t.transport,
		BufferPool:   &b.bufs,
		ErrorLog:     b.errLog,
		ErrorHandler: badGateway,
	}
	return t
}

var xfProto = []string{"http"}

// badGateway is the ALB's answer when the target fails mid-request (a
// connection refused or reset by a dying replica): 502, or 504 when the
// target timed out.
func badGateway(w http.ResponseWriter, _ *http.Request, err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		http.Error(w, "504 Gateway Time-out", http.StatusGatewayTimeout)
		return
	}
	http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
}

// register puts t in rotation.
func (b *balancer) register(t *target) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t.ready.Store(true)
	for _, x := range b.set {
		if x == t {
			return
		}
	}
	b.set = append(b.set, t)
	b.publish()
}

// deregister takes t out of rotation and closes its idle connections;
// requests already sent to it go on.
func (b *balancer) deregister(t *target) {
	b.mu.Lock()
	t.ready.Store(false)
	for i, x := range b.set {
		if x == t {
			b.set = append(b.set[:i:i], b.set[i+1:]...)
			break
		}
	}
	b.publish()
	b.mu.Unlock()
	t.transport.CloseIdleConnections()
}

func (b *balancer) publish() {
	s := append([]*target(nil), b.set...)
	b.targets.Store(&s)
}

// pick returns a ready target with its in-flight count already raised, or
// nil. Raising the count before re-checking readiness pairs with drain,
// which clears readiness before reading the count: a request either sees
// the target gone or is seen by the drain.
func (b *balancer) pick() *target {
	for range 4 {
		ts := *b.targets.Load()
		n := len(ts)
		if n == 0 {
			return nil
		}
		start := int(b.rr.Add(1) % uint64(n))
		var best *target
		var bestLoad int64
		for i := range n {
			t := ts[(start+i)%n]
			if !t.ready.Load() {
				continue
			}
			if l := t.inflight.Load(); best == nil || l < bestLoad {
				best, bestLoad = t, l
			}
		}
		if best == nil {
			return nil
		}
		best.inflight.Add(1)
		if best.ready.Load() {
			return best
		}
		best.inflight.Add(-1)
	}
	return nil
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := b.pick()
	if t == nil {
		http.Error(w, "503 Service Temporarily Unavailable", http.StatusServiceUnavailable)
		return
	}
	defer t.inflight.Add(-1)
	t.proxy.ServeHTTP(w, r)
}

// drain waits until t has no request in flight or the deadline passes; t
// must be deregistered already. It reports whether t drained, and closes
// the connections that went idle meanwhile.
func (t *target) drain(deadline time.Time, done <-chan struct{}) bool {
	defer t.transport.CloseIdleConnections()
	wait := time.Millisecond
	for t.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-done:
			return false
		case <-time.After(wait):
		}
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
	return true
}

// bufferPool recycles the proxy's copy buffers.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }
