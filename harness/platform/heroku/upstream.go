package heroku

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// connPool holds the router's connections to one dyno process. Router 2.0
// keeps idle connections for reuse and closes them quietly after 90 s; the
// legacy router closes each connection after its request.
type connPool struct {
	addr        string
	keepAlive   bool
	idleTimeout time.Duration
	maxIdle     int

	mu     sync.Mutex
	idle   []*pconn
	active map[*pconn]struct{}
	closed bool
}

func newConnPool(addr string, keepAlive bool, idleTimeout time.Duration) *connPool {
	return &connPool{
		addr:        addr,
		keepAlive:   keepAlive,
		idleTimeout: idleTimeout,
		maxIdle:     256,
		active:      map[*pconn]struct{}{},
	}
}

// pconn is one router-to-dyno connection.
type pconn struct {
	pool *connPool
	conn net.Conn
	cr   *countingReader
	br   *bufio.Reader
	bw   *bufio.Writer
	// idleTimer closes the connection when it has been idle too long.
	idleTimer *time.Timer
	reused    bool
}

type countingReader struct {
	r net.Conn
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// connectError is a failed connection attempt to a dyno: refused (H21) or
// not established in time (H19).
type connectError struct {
	timeout bool
	err     error
}

func (e *connectError) Error() string { return "connect: " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

var errPoolClosed = errors.New("dyno connection pool closed")

// get returns an idle connection or dials a new one within timeout.
func (p *connPool) get(ctx context.Context, timeout time.Duration) (*pconn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, &connectError{err: errPoolClosed}
	}
	for len(p.idle) > 0 {
		pc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if pc.idleTimer != nil && !pc.idleTimer.Stop() {
			continue // its idle close is running
		}
		p.active[pc] = struct{}{}
		p.mu.Unlock()
		pc.reused = true
		return pc, nil
	}
	p.mu.Unlock()

	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		var ne net.Error
		timedOut := errors.As(err, &ne) && ne.Timeout()
		if errors.Is(err, context.DeadlineExceeded) {
			timedOut = true
		}
		return nil, &connectError{timeout: timedOut && !errors.Is(err, syscall.ECONNREFUSED), err: err}
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	cr := &countingReader{r: conn}
	pc := &pconn{pool: p, conn: conn, cr: cr, br: bufio.NewReaderSize(cr, 4096), bw: bufio.NewWriterSize(conn, 4096)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = conn.Close()
		return nil, &connectError{err: errPoolClosed}
	}
	p.active[pc] = struct{}{}
	p.mu.Unlock()
	return pc, nil
}

// put returns a connection after a complete exchange.
func (p *connPool) put(pc *pconn) {
	_ = pc.conn.SetReadDeadline(time.Time{})
	p.mu.Lock()
	delete(p.active, pc)
	if p.closed || !p.keepAlive || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		_ = pc.conn.Close()
		return
	}
	if pc.idleTimer == nil {
		pc.idleTimer = time.AfterFunc(p.idleTimeout, func() { p.expire(pc) })
	} else {
		pc.idleTimer.Reset(p.idleTimeout)
	}
	p.idle = append(p.idle, pc)
	p.mu.Unlock()
}

// expire quietly closes a connection idle for too long.
func (p *connPool) expire(pc *pconn) {
	p.mu.Lock()
	for i, c := range p.idle {
		if c == pc {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	_ = pc.conn.Close()
}

// discard closes a connection that cannot be reused.
func (p *connPool) discard(pc *pconn) {
	p.mu.Lock()
	delete(p.active, pc)
	p.mu.Unlock()
	_ = pc.conn.Close()
}

// closeIdle closes the idle connections and lets active ones finish, then
// close; no new connection is made.
func (p *connPool) closeIdle() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pc := range idle {
		if pc.idleTimer != nil {
			pc.idleTimer.Stop()
		}
		_ = pc.conn.Close()
	}
}

// sever closes every connection, in-flight ones too (a router node
// restart); the pool stays usable.
func (p *connPool) sever() int {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	var active []*pconn
	for pc := range p.active {
		active = append(active, pc)
	}
	p.mu.Unlock()
	for _, pc := range idle {
		if pc.idleTimer != nil {
			pc.idleTimer.Stop()
		}
		_ = pc.conn.Close()
	}
	for _, pc := range active {
		_ = pc.conn.Close()
	}
	return len(active)
}

// guard lets the router's handler and a client-disconnect callback share
// the deadlines of a dyno connection: once the client is gone, every read
// or write on it fails at once.
type guard struct {
	conn net.Conn
	mu   sync.Mutex
	gone bool
}

// readBy sets the read deadline, unless the client is gone.
func (g *guard) readBy(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.gone {
		_ = g.conn.SetReadDeadline(t)
	}
}

func (g *guard) isCut() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gone
}

// cut makes every pending and future read and write fail.
func (g *guard) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gone = true
	_ = g.conn.SetDeadline(time.Unix(1, 0))
}

// readResponse reads the dyno's response head, skipping informational
// responses (100 Continue, 103 Early Hints): the router answers
// 100-continue itself.
func readResponse(pc *pconn, req *http.Request) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}

// finish completes an exchange the client no longer waits for (after an
// H12): the dyno gets to send its whole response, which is dropped. The
// dyno is never told that the client got a 503. resp is nil when the
// response has not come yet; then late is told when its head comes.
func finish(pc *pconn, req *http.Request, resp *http.Response, late func(time.Time, *http.Response)) {
	_ = pc.conn.SetReadDeadline(time.Time{})
	if resp == nil {
		var err error
		if resp, err = readResponse(pc, req); err != nil { //nolint:bodyclose // read to its end below; the connection is pooled, not the body
			pc.pool.discard(pc)
			return
		}
		late(time.Now(), resp)
	}
	if _, err := drain(resp); err != nil || resp.Close {
		pc.pool.discard(pc)
		return
	}
	pc.pool.put(pc)
}

func drain(resp *http.Response) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
}
