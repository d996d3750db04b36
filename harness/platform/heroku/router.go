package heroku

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
)

// Request limits (heroku-facts.md 1.11); violations get 400.
const (
	maxRequestLine = 8192
	maxHeaderLine  = 8192
	maxHeaderName  = 1000
	maxHeaders     = 1000
	maxMethod      = 127
)

// Response limits (heroku-facts.md 1.12); violations get 502 and H25.
const (
	maxResponseHeaderLine = 512 << 10
	maxCookie             = 8192
	maxStatusLine         = 8192
)

// router is the HTTP router in front of the dynos.
type router struct {
	app    *App
	log    *logSink
	port   string // X-Forwarded-Port
	legacy bool
	via    string

	requestTimeout time.Duration
	idleWindow     time.Duration
	queueTimeout   time.Duration
	connectTimeout time.Duration
	quarantine     time.Duration
	perDyno        int
	maxAttempts    int

	inflight atomic.Int64
	ids      atomic.Uint64

	rngMu sync.Mutex
	rng   *rand.Rand

	maintenance atomic.Bool
	burst       atomic.Pointer[window] // timeout burst
	flaky       atomic.Pointer[window] // random router errors

	timeouts timeoutBook // every H12, and the dyno's late answer

	bufs sync.Pool
}

// window is a fault active until a time: a share of requests is hit.
type window struct {
	until time.Time
	share float64
	code  Code
}

func newRouter(a *App, port int) *router {
	o := a.opts
	return &router{
		app:            a,
		log:            a.log,
		port:           strconv.Itoa(port),
		legacy:         o.LegacyRouter,
		via:            o.Via,
		requestTimeout: a.request(RequestTimeout),
		idleWindow:     a.request(IdleWindow),
		queueTimeout:   a.request(QueueTimeout),
		connectTimeout: a.request(o.ConnectTimeout),
		quarantine:     a.request(QuarantineTime),
		perDyno:        o.ConcurrencyPerDyno,
		maxAttempts:    o.MaxConnectAttempts,
		rng:            rand.New(rand.NewPCG(o.Seed, 0x726f75746572)),
		bufs:           sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }},
	}
}

// hit reports whether this request falls in the fault window w.
func (rt *router) hit(w *window, now time.Time) bool {
	if w == nil || now.After(w.until) {
		return false
	}
	rt.rngMu.Lock()
	defer rt.rngMu.Unlock()
	return rt.rng.Float64() < w.share
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	rt.app.handlers.Add(1)
	defer rt.app.handlers.Done()
	l := routerlog.Line{
		Method:    r.Method,
		Path:      r.RequestURI,
		Host:      r.Host,
		RequestID: rt.requestID(r),
		Fwd:       forwardedFor(r),
		ConnectMS: -1,
		ServiceMS: -1,
		Status:    -1,
		Bytes:     -1,
	}
	if rt.legacy {
		l.Protocol = "http"
	} else {
		// Router 2.0 writes tls= and tls_version= on every line; plain
		// HTTP has no TLS version.
		l.Protocol, l.TLS, l.TLSVersion = "http1.1", "false", "unknown"
	}
	if !withinLimits(r) {
		rt.fail(w, &l, H26)
		return
	}
	if rt.maintenance.Load() {
		rt.fail(w, &l, H80)
		return
	}
	tbl := rt.app.tbl.Load()
	if !tbl.deployed {
		rt.fail(w, &l, H81)
		return
	}
	if tbl.quantity == 0 {
		rt.fail(w, &l, H14)
		return
	}
	n := rt.inflight.Add(1)
	defer rt.inflight.Add(-1)
	if n > int64(rt.perDyno*tbl.quantity) {
		rt.fail(w, &l, H11)
		return
	}
	if f := rt.flaky.Load(); rt.hit(f, received) {
		rt.fail(w, &l, f.code)
		return
	}
	b, pc, code := rt.connect(r.Context(), received, &l)
	if code != "" {
		rt.fail(w, &l, code)
		return
	}
	rt.forward(w, r, &l, b, pc, received)
}

// connect picks a dyno at random and connects to it, retrying others on
// refusal or timeout (with quarantine), holding the request while dynos
// start or are all quarantined. It returns an H-code on failure.
func (rt *router) connect(ctx context.Context, received time.Time, l *routerlog.Line) (*backend, *pconn, Code) {
	deadline := received.Add(rt.queueTimeout)
	attempts := 0
	backoff := max(rt.quarantine/50, time.Millisecond)
	for {
		tbl := rt.app.tbl.Load()
		if tbl.quantity == 0 {
			return nil, nil, H14
		}
		now := time.Now()
		b := rt.pick(tbl, now)
		if b == nil {
			var code Code
			var wait time.Duration
			switch {
			case len(tbl.backends) == 0 && tbl.starting == 0:
				return nil, nil, H10
			case len(tbl.backends) == 0:
				code, wait = H20, time.Until(deadline)
			default:
				code, wait = H99, min(time.Until(deadline), backoff)
				backoff = min(backoff*2, rt.quarantine)
			}
			if time.Until(deadline) <= 0 {
				return nil, nil, code
			}
			t := time.NewTimer(wait)
			select {
			case <-tbl.changed:
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, nil, H27
			}
			t.Stop()
			continue
		}
		pc, err := b.pool.get(ctx, rt.connectTimeout)
		if err == nil {
			l.Dyno = b.dyno
			if pc.reused {
				l.ConnectMS = 0
			} else {
				l.ConnectMS = ms(time.Since(now))
			}
			return b, pc, ""
		}
		if ctx.Err() != nil {
			return nil, nil, H27
		}
		b.quarantine.Store(time.Now().Add(rt.quarantine).UnixNano())
		attempts++
		if attempts >= min(rt.maxAttempts, tbl.quantity) {
			l.Dyno = b.dyno
			l.ConnectMS = ms(time.Since(now))
			var ce *connectError
			if errors.As(err, &ce) && ce.timeout {
				return nil, nil, H19
			}
			return nil, nil, H21
		}
	}
}

// pick chooses a routable, unquarantined dyno uniformly at random.
func (rt *router) pick(tbl *table, now time.Time) *backend {
	n := len(tbl.backends)
	if n == 0 {
		return nil
	}
	nowNano := now.UnixNano()
	rt.rngMu.Lock()
	defer rt.rngMu.Unlock()
	b := tbl.backends[rt.rng.IntN(n)]
	if b.quarantine.Load() <= nowNano {
		return b
	}
	var free []*backend
	for _, c := range tbl.backends {
		if c.quarantine.Load() <= nowNano {
			free = append(free, c)
		}
	}
	if len(free) == 0 {
		return nil
	}
	return free[rt.rng.IntN(len(free))]
}

// forward sends the request to the dyno over pc and relays the answer,
// enforcing the first-byte timeout and the idle window. It runs the whole
// exchange on the handler's goroutine; only an exchange the client no
// longer waits for (H12) is finished on another.
func (rt *router) forward(w http.ResponseWriter, r *http.Request, l *routerlog.Line, b *backend, pc *pconn, received time.Time) {
	connected := time.Now()
	var body *clientBody
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		body = &clientBody{r: r.Body, rc: http.NewResponseController(w), idle: rt.idleWindow}
	}
	out := rt.outgoing(r, body, l.RequestID, l.Fwd, received)
	readBefore := pc.cr.n
	g := &guard{conn: pc.conn}
	// A client that goes away takes the dyno connection with it: the dyno
	// sees it close (INFERENCE: a proxy that closes upstream on abort).
	stopWatch := context.AfterFunc(r.Context(), g.cut)
	defer stopWatch()

	failed := func(code Code) {
		pc.pool.discard(pc)
		l.ServiceMS = ms(time.Since(connected))
		l.Bytes = 0
		rt.fail(w, l, code)
	}
	// clientCode names a failure caused by the client side.
	clientCode := func() Code {
		if body != nil && body.timedOut.Load() {
			return H28 // the body stopped coming
		}
		if r.Context().Err() != nil {
			return H27
		}
		return ""
	}
	serverCode := func() Code {
		if pc.cr.n > readBefore {
			return H18 // part of a response came, then the connection died
		}
		return H13
	}

	err := out.Write(pc.bw)
	if err == nil {
		err = pc.bw.Flush()
	}
	if err != nil {
		if c := clientCode(); c != "" {
			failed(c)
		} else {
			failed(serverCode())
		}
		return
	}

	// The 30 s start once the whole request is at the dyno; the first
	// byte must come before. Peek keeps the reader intact, so after an H12
	// the response can still be read (and dropped) in the background.
	deadline := time.Now().Add(rt.requestTimeout)
	g.readBy(deadline)
	_, err = pc.br.Peek(1)
	var resp *http.Response
	var answered time.Time
	if err == nil {
		g.readBy(time.Now().Add(rt.idleWindow))
		resp, err = readResponse(pc, out) //nolint:bodyclose // read to its end below; the dyno connection is pooled, not the body
		answered = time.Now()
	}
	if err != nil {
		switch {
		case clientCode() != "":
			failed(clientCode())
		case isTimeout(err) && pc.br.Buffered() == 0:
			rt.timedOut(w, l, pc, out, nil, time.Time{}, stopWatch, connected)
		case isTimeout(err):
			failed(H15) // a response head stuck halfway
		default:
			failed(serverCode())
		}
		return
	}

	if code := checkResponse(resp); code != "" {
		failed(code)
		return
	}

	// Faults that hold a response the dyno already sent: swap latency of
	// a dyno over its memory quota, a timeout burst (until the 30 s end).
	stall := time.Duration(0)
	if b.degraded.Load() {
		stall = rt.app.opts.SwapLatency
	}
	if rt.hit(rt.burst.Load(), connected) {
		stall = time.Until(deadline) + time.Millisecond
	}
	if stall > 0 {
		t := time.NewTimer(stall)
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		if c := clientCode(); c != "" {
			failed(c)
			return
		}
		if time.Now().After(deadline) {
			rt.timedOut(w, l, pc, out, resp, answered, stopWatch, connected)
			return
		}
	}
	rt.relay(w, l, g, pc, resp, connected)
}

// timedOut answers H12 and leaves the exchange to finish on its own; resp
// is the dyno's answer if it came already (at answered), nil if the dyno is
// still working. The H12 and the dyno's answer, whenever it comes, go to
// the timeout book.
func (rt *router) timedOut(w http.ResponseWriter, l *routerlog.Line, pc *pconn, out *http.Request, resp *http.Response, answered time.Time, stopWatch func() bool, connected time.Time) {
	l.ServiceMS = ms(time.Since(connected))
	l.Bytes = 0
	// At is taken before the 503 goes out and before the exchange may
	// finish: the client sees the H12 after At, the late answer comes
	// after At.
	rec := TimedOut{RequestID: l.RequestID, Method: l.Method, Path: l.Path, Dyno: l.Dyno, At: time.Now()}
	if resp != nil {
		rec.Answered, rec.Status, rec.Replayed = answered, resp.StatusCode, replayed(resp)
	}
	i := rt.timeouts.add(rec)
	if stopWatch() {
		// The client disconnect no longer concerns this exchange.
		go finish(pc, out, resp, func(at time.Time, r *http.Response) { rt.timeouts.answer(i, at, r) })
	} else {
		pc.pool.discard(pc) // the client left at the same moment
	}
	rt.fail(w, l, H12)
}

// relay passes the dyno's response to the client.
func (rt *router) relay(w http.ResponseWriter, l *routerlog.Line, g *guard, pc *pconn, resp *http.Response, connected time.Time) {
	pool := pc.pool
	h := w.Header()
	for k, vv := range resp.Header {
		if hopByHop(k) {
			continue
		}
		h[k] = vv
	}
	h.Add("Via", rt.via)
	if resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	l.Status = resp.StatusCode
	n, err := rt.copyBody(w, g, pc, resp)
	l.Bytes = n
	l.ServiceMS = ms(time.Since(connected))
	switch {
	case err == nil:
		l.At = "info"
		rt.log.router(l)
		if resp.Close || rt.legacy {
			pool.discard(pc)
		} else {
			pool.put(pc)
		}
		return
	case errors.Is(err, errClientWrite) || g.isCut():
		pool.discard(pc)
		rt.logError(l, H27)
		return
	case isTimeout(err):
		pool.discard(pc)
		rt.logError(l, H15)
	default:
		pool.discard(pc)
		rt.logError(l, H18)
	}
	// The status line is out: cut the client's connection so it sees an
	// incomplete response.
	panic(http.ErrAbortHandler)
}

var errClientWrite = errors.New("write to client")

// copyBody relays the body, with the rolling idle window on the dyno side.
func (rt *router) copyBody(w http.ResponseWriter, g *guard, pc *pconn, resp *http.Response) (int64, error) {
	bp := rt.bufs.Get().(*[]byte)
	defer rt.bufs.Put(bp)
	buf := *bp
	var n int64
	flusher, _ := w.(http.Flusher)
	for {
		g.readBy(time.Now().Add(rt.idleWindow))
		m, err := resp.Body.Read(buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, errClientWrite
			}
			n += int64(m)
			// Pass on what came so far before waiting for more.
			if err == nil && pc.br.Buffered() == 0 && flusher != nil {
				flusher.Flush()
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// outgoing builds the request the dyno gets: the client's, minus hop-by-hop
// headers, plus Heroku's headers.
func (rt *router) outgoing(r *http.Request, body *clientBody, id, fwd string, received time.Time) *http.Request {
	h := make(http.Header, len(r.Header)+7)
	for k, vv := range r.Header {
		if hopByHop(k) || k == "Expect" {
			continue
		}
		h[k] = vv
	}
	for _, k := range connectionListed(r.Header) {
		delete(h, k)
	}
	h["X-Forwarded-For"] = []string{fwd}
	h["X-Forwarded-Proto"] = []string{"http"}
	h["X-Forwarded-Port"] = []string{rt.port}
	h["X-Request-Start"] = []string{strconv.FormatInt(received.UnixMilli(), 10)}
	h["X-Request-Id"] = []string{id}
	if via := r.Header.Get("Via"); via != "" {
		h["Via"] = []string{via + ", " + rt.via}
	} else {
		h["Via"] = []string{rt.via}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // Request.Write would add Go's own
	}
	out := &http.Request{
		Method:     r.Method,
		URL:        r.URL,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Host:       r.Host,
		Close:      rt.legacy,
	}
	if body != nil {
		out.Body = body
		out.ContentLength = r.ContentLength
	}
	return out
}

// fail answers the client with code's status and page (unless the client
// is gone) and logs the line.
func (rt *router) fail(w http.ResponseWriter, l *routerlog.Line, code Code) {
	e := routerErrors[code]
	if code != H27 && code != H28 {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache, no-store")
		h.Set("Via", rt.via)
		w.WriteHeader(e.status)
		_, _ = io.WriteString(w, errorPage(code))
	}
	rt.logError(l, code)
}

func (rt *router) logError(l *routerlog.Line, code Code) {
	e := routerErrors[code]
	l.Sock, l.At, l.Code, l.Desc, l.Status = e.sock, e.at, string(code), e.desc, e.status
	rt.log.router(l)
}

func ms(d time.Duration) int { return int(d / time.Millisecond) }

// requestID keeps a client's X-Request-Id of 20-200 characters from
// [A-Za-z0-9+/=-]; otherwise the router makes a UUID.
func (rt *router) requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); len(id) >= 20 && len(id) <= 200 && validRequestID(id) {
		return id
	}
	n := rt.ids.Add(1)
	a := splitmix(rt.app.opts.Seed ^ n)
	b := splitmix(a)
	var buf [36]byte
	const hex = "0123456789abcdef"
	v := [16]byte{}
	for i := 0; i < 8; i++ {
		v[i] = byte(a >> (8 * i))
		v[8+i] = byte(b >> (8 * i))
	}
	v[6] = v[6]&0x0f | 0x40 // version 4
	v[8] = v[8]&0x3f | 0x80 // RFC 4122 variant
	j := 0
	for i, x := range v {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf[j] = '-'
			j++
		}
		buf[j], buf[j+1] = hex[x>>4], hex[x&0xf]
		j += 2
	}
	return string(buf[:])
}

func validRequestID(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '+', c == '/', c == '=', c == '-':
		default:
			return false
		}
	}
	return true
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// forwardedFor is the X-Forwarded-For the dyno gets: the client's address
// appended to what the client sent.
func forwardedFor(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		return strings.Join(prior, ", ") + ", " + ip
	}
	return ip
}

// withinLimits checks Heroku's request limits.
func withinLimits(r *http.Request) bool {
	if len(r.Method) > maxMethod || r.Method == http.MethodConnect {
		return false
	}
	if len(r.Method)+1+len(r.RequestURI)+1+len(r.Proto) > maxRequestLine {
		return false
	}
	count := 0
	for k, vv := range r.Header {
		if len(k) > maxHeaderName {
			return false
		}
		for _, v := range vv {
			count++
			if len(k)+2+len(v) > maxHeaderLine {
				return false
			}
		}
	}
	return count <= maxHeaders
}

// checkResponse applies Heroku's response rules: a status line without a
// reason phrase is malformed (H17); oversized lines break the limits (H25).
func checkResponse(resp *http.Response) Code {
	if !strings.Contains(resp.Status, " ") {
		return H17
	}
	if len("HTTP/1.1 ")+len(resp.Status) > maxStatusLine {
		return H25
	}
	for k, vv := range resp.Header {
		for _, v := range vv {
			if len(k)+2+len(v) > maxResponseHeaderLine {
				return H25
			}
			if k == "Set-Cookie" && len(v) > maxCookie {
				return H25
			}
		}
	}
	return ""
}

// hopByHop headers belong to one connection, not the request.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

func connectionListed(h http.Header) []string {
	var out []string
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, http.CanonicalHeaderKey(f))
			}
		}
	}
	return out
}

// clientBody is the request body as the router reads it from the client:
// each read must come within the idle window, else H28.
type clientBody struct {
	r        io.ReadCloser
	rc       *http.ResponseController
	idle     time.Duration
	timedOut atomic.Bool
}

func (b *clientBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.r.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		// Clear the deadline so it cannot fire while the server watches
		// the idle connection.
		_ = b.rc.SetReadDeadline(time.Time{})
	case isTimeout(err):
		// The deadline stays past, so the server gives up on the rest of
		// the body at once and drops the connection.
		b.timedOut.Store(true)
	}
	return n, err
}

func (b *clientBody) Close() error { return b.r.Close() }
