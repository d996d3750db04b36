// Package relay makes the harness's loopback endpoints reachable from a
// cluster: it listens on an address the cluster's pods can reach (for kind,
// the gateway of the nodes' Docker network) and forwards each connection,
// byte for byte, to a loopback endpoint of the stack or the harness.
//
// The stack's servers, its fault proxies and the partner endpoint listen on
// 127.x addresses only, so every byte between the target and its data still
// crosses the target's fault links: a network fault on a link applies to
// pods as it applies to local replicas. Connections to an upstream leave
// from the Egress address, as a NAT gateway gives a cluster's traffic one
// source address that partners allow-list.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Options configure a Relay.
type Options struct {
	// Host is the address the relay listens on (each exposed upstream on a
	// port of its own). Required.
	Host string
	// Egress is the source address of the connections to the upstreams.
	// Empty: the kernel chooses.
	Egress string
	// DialTimeout bounds each connection to an upstream. Default 5 s.
	DialTimeout time.Duration
}

// Relay forwards connections from its listeners to loopback upstreams.
// Close stops every listener and connection it holds.
type Relay struct {
	opts   Options
	dialer net.Dialer

	mu        sync.Mutex
	listeners map[string]net.Listener // by upstream
	conns     map[net.Conn]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// New returns a relay that exposes nothing yet.
func New(opts Options) (*Relay, error) {
	if net.ParseIP(opts.Host) == nil {
		return nil, fmt.Errorf("relay: listen host %q is not an IP address", opts.Host)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	r := &Relay{
		opts:      opts,
		dialer:    net.Dialer{Timeout: opts.DialTimeout},
		listeners: make(map[string]net.Listener),
		conns:     make(map[net.Conn]struct{}),
	}
	if opts.Egress != "" {
		ip := net.ParseIP(opts.Egress)
		if ip == nil {
			return nil, fmt.Errorf("relay: egress %q is not an IP address", opts.Egress)
		}
		r.dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return r, nil
}

// Expose returns the address on Host where connections are forwarded to
// upstream (host:port), listening on a port of its own from now on until
// Close. Exposing the same upstream twice returns the same address.
func (r *Relay) Expose(upstream string) (string, error) { return r.ExposeOn(0, upstream) }

// ExposeOn is Expose on a given port of Host (0: any free port), as a load
// balancer's listener forwards to its targets.
func (r *Relay) ExposeOn(port int, upstream string) (string, error) {
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return "", fmt.Errorf("relay: upstream %q: %w", upstream, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return "", errors.New("relay: closed")
	}
	if l, ok := r.listeners[upstream]; ok {
		return l.Addr().String(), nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(r.opts.Host, strconv.Itoa(port)))
	if err != nil {
		return "", fmt.Errorf("relay: listen for %s: %w", upstream, err)
	}
	r.listeners[upstream] = l
	r.wg.Add(1)
	go r.accept(l, upstream)
	return l.Addr().String(), nil
}

// Exposed lists each upstream with the address it is reached at.
func (r *Relay) Exposed() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.listeners))
	for up, l := range r.listeners {
		out[up] = l.Addr().String()
	}
	return out
}

// accept forwards each connection l accepts until l is closed.
func (r *Relay) accept(l net.Listener, upstream string) {
	defer r.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return // closed by Close
		}
		if !r.track(c) {
			c.Close()
			return
		}
		r.wg.Add(1)
		go r.forward(c, upstream)
	}
}

// track records c so Close can end it; false once the relay is closed.
func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

// forward copies between down (the pod's connection) and a new connection
// to upstream until both directions have ended. A direction that ends
// half-closes the other side, so protocols that shut down their write
// side first still see the rest of the answer.
func (r *Relay) forward(down net.Conn, upstream string) {
	defer r.wg.Done()
	defer r.untrack(down)
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.DialTimeout)
	up, err := r.dialer.DialContext(ctx, "tcp", upstream)
	cancel()
	if err != nil {
		return // the pod sees its connection closed, as with a refused one
	}
	if !r.track(up) {
		up.Close()
		return
	}
	defer r.untrack(up)
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyHalf(up, down)
	}()
	copyHalf(down, up)
	<-done
}

// copyHalf copies src to dst, then closes dst's write side.
func copyHalf(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		return
	}
	_ = dst.Close()
}

// Close stops every listener, ends the connections under way and waits
// for their goroutines.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	var errs []error
	for up, l := range r.listeners {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("relay: close listener for %s: %w", up, err))
		}
	}
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return errors.Join(errs...)
}
