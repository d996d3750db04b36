package local

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

// hop is the balancer's transport to one target: HTTP/1.1 over kept-alive
// connections, each exchange made on the calling goroutine — the request
// written and the response read by the handler that proxies it.
// net/http's Transport hands every exchange to two goroutines of the
// connection (one writes, one reads) and back; on this kind of machine
// each hand-off is a wake-up, and they were most of what the balancer
// added to a call (BenchmarkLoadBalancerOverhead). The router of the
// Heroku simulation forwards the same way.
type hop struct {
	addr string
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex
	idle []*hopConn
}

type hopConn struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

const hopMaxIdle = 1024

func (h *hop) get(ctx context.Context) (*hopConn, bool, error) {
	h.mu.Lock()
	if n := len(h.idle); n > 0 {
		c := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		h.mu.Unlock()
		return c, true, nil
	}
	h.mu.Unlock()
	conn, err := h.dial(ctx, "tcp", h.addr)
	if err != nil {
		return nil, false, err
	}
	return &hopConn{conn: conn, br: bufio.NewReader(conn), bw: bufio.NewWriter(conn)}, false, nil
}

func (h *hop) put(c *hopConn) {
	h.mu.Lock()
	if len(h.idle) < hopMaxIdle {
		h.idle = append(h.idle, c)
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	_ = c.conn.Close()
}

// CloseIdleConnections closes the connections no request uses; the ones
// in use close or return when their exchange ends.
func (h *hop) CloseIdleConnections() {
	h.mu.Lock()
	idle := h.idle
	h.idle = nil
	h.mu.Unlock()
	for _, c := range idle {
		_ = c.conn.Close()
	}
}

// RoundTrip sends req on a kept-alive connection and reads the response
// head; the connection returns to the pool when its body has been read to
// the end. A request that finds a kept-alive connection closed under it
// (see closedUnder) is sent once more on a new one when net/http's
// Transport would (see replayable).
func (h *hop) RoundTrip(req *http.Request) (*http.Response, error) {
	for {
		c, reused, err := h.get(req.Context())
		if err != nil {
			return nil, err
		}
		resp, err := h.exchange(c, req)
		if err == nil {
			return resp, nil
		}
		_ = c.conn.Close()
		if !reused || !replayable(req) || req.Context().Err() != nil || !closedUnder(err) {
			return nil, err
		}
	}
}

// replayable says whether req may be sent again after a kept-alive
// connection failed under it, by net/http's Transport's rule — a method
// that is idempotent, or an Idempotency-Key — with no body (a proxied
// request's body cannot be read twice). A rollback (a POST without a
// body) is not: the replica may have done it and died before answering.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

// closedUnder says whether err is a kept-alive connection found closed by
// the other side: the request could not be written, or the connection
// ended before a whole answer head came (http.ReadResponse reports an end
// before any byte as io.ErrUnexpectedEOF too). Only a replayable request
// is sent again after it, so an idempotent one may reach the replica twice
// — as HTTP allows for idempotent methods.
func closedUnder(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (h *hop) exchange(c *hopConn, req *http.Request) (*http.Response, error) {
	// A request given up on (the client went away) fails its reads and
	// writes at once.
	stop := context.AfterFunc(req.Context(), func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	err := req.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	var resp *http.Response
	for err == nil {
		resp, err = http.ReadResponse(c.br, req)
		if err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // informational: the final answer follows
		}
		break
	}
	if err != nil {
		stop()
		return nil, err
	}
	keep := !resp.Close && !req.Close
	done := func(complete bool) {
		if stop() && complete && keep {
			h.put(c)
			return
		}
		_ = c.conn.Close()
	}
	if resp.Body == http.NoBody {
		done(true)
		return resp, nil
	}
	resp.Body = &hopBody{r: resp.Body, done: done}
	return resp, nil
}

// hopBody gives the connection back once the body has been read to its
// end, and closes it when the body is closed before.
type hopBody struct {
	r    io.ReadCloser
	done func(complete bool)
	over bool
}

func (b *hopBody) Read(p []byte) (int, error) {
	if b.over {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		b.over = true
		b.done(true)
	}
	return n, err
}

func (b *hopBody) Close() error {
	if !b.over {
		b.over = true
		b.done(false)
	}
	return nil
}
