package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cutover/cutover/harness/stack"
)

// probeTimeout bounds one probe round trip: a stalled link (a timeout
// toxic) shows as a probe that did not answer within it.
const probeTimeout = 2 * time.Second

// linkProbe is what a fault measured on a link, before and after it
// started: the median of a few application-level round trips through the
// link's proxy, or how they failed.
type linkProbe struct {
	Link   string
	Before time.Duration
	After  time.Duration
	// Failure is how the probes after the start failed: "refused",
	// "reset", "stalled", or "" when they answered.
	Failure string
}

// probeLinks measures every link matching glob through the stack's
// proxies; measure is called between the "before" and "after" probes (it
// applies the fault).
func probeLinks(ctx context.Context, env *Env, glob string, measure func() error) ([]linkProbe, error) {
	ls, err := links(env, glob)
	if err != nil {
		return nil, err
	}
	var eps stack.Endpoints
	if env.Stack != nil {
		eps = env.Stack.Endpoints()
	}
	probes := make([]linkProbe, len(ls))
	for i, l := range ls {
		probes[i].Link = l.Name
		addr := l.Listen
		if el, ok := eps.Links[l.Name]; ok && el.Listen != "" {
			addr = el.Listen
		}
		probes[i].Before, _ = medianRTT(ctx, addr, serviceOf(l.Name))
	}
	if err := measure(); err != nil {
		return nil, err
	}
	for i, l := range ls {
		addr := l.Listen
		if el, ok := eps.Links[l.Name]; ok && el.Listen != "" {
			addr = el.Listen
		}
		d, err := medianRTT(ctx, addr, serviceOf(l.Name))
		probes[i].After = d
		probes[i].Failure = failureOf(err)
	}
	return probes, nil
}

// serviceOf is the data service a link leads to ("aws->postgres" → postgres).
func serviceOf(link string) string {
	_, svc, _ := strings.Cut(link, "->")
	return svc
}

// medianRTT is the median of three round trips; the error of the first
// failed one stops it.
func medianRTT(ctx context.Context, addr, service string) (time.Duration, error) {
	var ds []time.Duration
	for range 3 {
		d, err := roundTrip(ctx, addr, service)
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[1], nil
}

// roundTrip makes one request/answer exchange with the service at addr in
// its own protocol, with no credentials: Postgres answers an SSLRequest
// with one byte, Redis a PING with +PONG. Mongo (and anything else) is
// probed by a TCP connect held open for a moment: a link taken down
// refuses it, but a latency toxic does not delay it — measure added
// latency on Postgres or Redis links.
func roundTrip(ctx context.Context, addr, service string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	start := time.Now()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	switch service {
	case stack.Postgres:
		// SSLRequest: length 8, code 80877103. The server answers S or N.
		if _, err := c.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
			return 0, err
		}
		b := make([]byte, 1)
		if _, err := c.Read(b); err != nil {
			return 0, err
		}
		if b[0] != 'S' && b[0] != 'N' {
			return 0, fmt.Errorf("postgres answered %q to an SSLRequest", b[0])
		}
	case stack.Redis:
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return 0, err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return 0, err
		}
		if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
			return 0, fmt.Errorf("redis answered %q to PING", strings.TrimSpace(line))
		}
	default:
		// Mongo speaks first only when asked; a connect that is accepted
		// and held open for a moment is the round trip available without
		// a driver handshake.
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		b := make([]byte, 1)
		if _, err := c.Read(b); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return 0, err
			}
		}
	}
	return time.Since(start), nil
}

// failureOf names how a probe failed.
func failureOf(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "stalled"
	case strings.Contains(err.Error(), "EOF"):
		// Toxiproxy closes a disabled link's accepted connections at once.
		return "refused"
	}
	return "failed: " + err.Error()
}
