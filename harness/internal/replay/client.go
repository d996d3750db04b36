package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// client is the Jepsen client of a stage: it sends each planned request
// to the address its virtual client resolved, reads the answer, classifies
// it and records it with its intended time.
type client struct {
	cfg     Config
	stage   string
	ctx     context.Context
	next    http.RoundTripper
	redeems *redeemBook
	rec     *recorder
	retries *retrier // nil when the client does not retry
	// retrySeq is the run's retry counter, numbering the retries' results.
	retrySeq *uint64

	// mu guards hosts (address → "address:port").
	mu    sync.Mutex
	hosts map[netip.Addr]string
}

func newClient(ctx context.Context, cfg Config, stage string, next http.RoundTripper, redeems *redeemBook, rec *recorder, retrySeq *uint64) *client {
	return &client{cfg: cfg, stage: stage, ctx: ctx, next: next, redeems: redeems, rec: rec, retrySeq: retrySeq,
		hosts: map[netip.Addr]string{}}
}

// hostPort is the "address:port" text of addr, computed once per address.
func (c *client) hostPort(addr netip.Addr) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	hp, ok := c.hosts[addr]
	if !ok {
		hp = netip.AddrPortFrom(addr, uint16(c.cfg.Port)).String()
		c.hosts[addr] = hp
	}
	return hp
}

// unsent settles a request the pacer will not hand to a worker (the stage
// was stopped): its redeem will not complete.
func (c *client) unsent(p *planned) {
	if p.op == history.Redeem && p.key != "" {
		c.redeems.done(p.key, "", false)
	}
}

// attempt is one sending of a planned request: the first (n = 0, on a
// goroutine of the pace loop) or a client retry (n ≥ 1, on the stage's retrier).
type attempt struct {
	p *planned
	n int
	// intended is when the attempt was due: the plan's time for the
	// first, the end of the previous attempt plus the backoff for a retry.
	intended time.Time
	// path is the request path with the redemption id of a rollback
	// substituted (empty until it is known).
	path         string
	redemptionID string
	// seq numbers the attempt's vegeta result.
	seq uint64
}

// opID is the history operation id: the planned request's id, with
// ".r<n>" for a retry.
func (a *attempt) opID() string {
	if a.n == 0 {
		return a.p.requestID
	}
	return a.p.requestID + ".r" + strconv.Itoa(a.n)
}

// requestID is the X-Request-Id of the attempt: the planned request's id,
// with "-r<n>" for a retry (the router accepts 20–200 of [A-Za-z0-9+=/-]).
func (a *attempt) requestID() string {
	if a.n == 0 {
		return a.p.requestID
	}
	return a.p.requestID + "-r" + strconv.Itoa(a.n)
}

// first makes the first attempt of a planned request, on a worker whose
// context is wctx (a child of the stage's: each request's own deadline
// registers with its worker's context, not all with the stage's).
func (c *client) first(wctx context.Context, p *planned) {
	c.rec.scheduled(time.Since(p.intended))
	a := &attempt{p: p, intended: p.intended, seq: p.seq}
	if p.undoes != "" {
		tctx, cancel := context.WithTimeout(wctx, c.cfg.Timeout)
		id, ok := c.redeems.wait(tctx, p.undoes)
		cancel()
		if !ok {
			c.rec.skip()
			return
		}
		a.path = strings.Replace(p.path, trace.RedemptionPlaceholder, url.PathEscape(id), 1)
		a.redemptionID = id
	}
	c.send(wctx, a)
}

// request builds the HTTP request of an attempt to addr, from what the
// plan prepared: its URL (parsed when planned, but for a rollback's, which
// names the redemption only now), headers and body.
func (c *client) request(ctx context.Context, a *attempt, addr netip.Addr) (*http.Request, error) {
	p := a.p
	var u url.URL
	if a.path != "" || p.url == nil {
		path := a.path
		if path == "" {
			path = p.path
		}
		pu, err := url.ParseRequestURI(path)
		if err != nil {
			return nil, fmt.Errorf("replay: path %q: %w", path, err)
		}
		u = *pu
		u.Scheme = "http"
	} else {
		u = *p.url
	}
	u.Host = c.hostPort(addr)
	header := p.header
	if a.n > 0 {
		header = p.header.Clone()
		header[api.HeaderRequestID] = []string{a.requestID()}
	}
	req := &http.Request{
		Method: p.method, URL: &u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: header, Body: http.NoBody,
		// The Host header: the service's name, or (empty) the URL's
		// address:port.
		Host: c.cfg.Host,
	}
	if body := p.body; len(body) > 0 {
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		// As http.NewRequest sets it: the transport may send a request
		// again on a fresh connection when a kept-alive one was closed
		// under it (for a POST only with an Idempotency-Key).
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return req.WithContext(ctx), nil
}

// send makes one attempt: it resolves the client's address, sends the
// request there, reads and classifies the answer, records it, and
// schedules a retry when the outcome is indeterminate and the client
// retries this operation.
func (c *client) send(parent context.Context, a *attempt) {
	p := a.p
	ctx, cancel := context.WithTimeout(parent, c.cfg.Timeout)
	defer cancel()

	op := history.Op{
		ID: a.opID(), Process: p.client, F: p.op,
		Voucher: p.voucher, Customer: p.customer, IdempotencyKey: p.key, Amount: p.amount,
		RedemptionID: a.redemptionID, RequestID: a.requestID(), Intended: a.intended, Stage: c.stage,
	}
	retry := a.n > 0
	addr, err := p.addr, p.resolveErr
	if err != nil {
		// Never sent: it definitely did not take effect.
		now := time.Now()
		op.Type, op.Time = history.Invoke, now
		c.rec.invoke(&op, retry)
		op.Type, op.Error, op.Latency = history.Fail, "resolve: "+err.Error(), now.Sub(a.intended)
		c.finish(a, op, c.result(a, c.unsentURL(a), 0, nil, op.Error, op.Latency))
		return
	}
	op.Platform = c.platform(addr)
	req, err := c.request(ctx, a, addr)
	if err != nil {
		// The path was sent once already or parsed when planned; a
		// redemption id that makes it unparsable is the service's doing.
		now := time.Now()
		op.Type, op.Time = history.Invoke, now
		c.rec.invoke(&op, retry)
		op.Type, op.Error, op.Latency = history.Fail, err.Error(), now.Sub(a.intended)
		c.finish(a, op, c.result(a, c.unsentURL(a), 0, nil, op.Error, op.Latency))
		return
	}

	op.Type, op.Time = history.Invoke, time.Now()
	c.rec.invoke(&op, retry)

	resp, err := c.next.RoundTrip(req)
	var body []byte
	if err == nil {
		body, err = readBody(resp)
		resp.Body.Close()
	}
	end := time.Now()
	op.Time, op.Latency = end, end.Sub(a.intended)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	op.Status = status
	op.Type = Classify(status, err)
	errText := ""
	switch {
	case err != nil:
		errText = err.Error()
	case op.Type != history.OK:
		errText = resp.Status
	}
	c.interpret(&op, body)
	if op.Error == "" {
		op.Error = errText
	}
	c.finish(a, op, c.result(a, "http://"+req.URL.Host+req.URL.RequestURI(), status, body, op.Error, op.Latency))
}

// finish records an attempt's completion, tells the redeem book the
// redeem's outcome unless a retry follows, and schedules that retry.
func (c *client) finish(a *attempt, op history.Op, res vegeta.Result) {
	p := a.p
	retry := c.retries != nil && a.n < c.cfg.Retries && retried(p) && indeterminate(op) && c.ctx.Err() == nil
	if p.op == history.Redeem && p.key != "" {
		if retry {
			// The retry keeps the redeem in flight for the rollbacks
			// waiting on it.
			c.redeems.planned(p.key)
		}
		c.redeems.done(p.key, op.RedemptionID, op.Type == history.OK)
	}
	c.rec.done(&op, &res)
	if retry {
		backoff := c.cfg.RetryBackoff << min(a.n, 16)
		c.retries.schedule(&attempt{p: p, n: a.n + 1, intended: op.Time.Add(backoff), path: a.path, redemptionID: a.redemptionID})
	}
}

// retried says whether a client retries p after an indeterminate outcome:
// a redeem with an idempotency key (a retry without one could redeem
// twice, so clients do not send one), and a rollback (a second rollback of
// one redemption must be refused by a correct service).
func retried(p *planned) bool {
	return (p.op == history.Redeem && p.key != "") || p.op == history.Rollback
}

// indeterminate says whether a client retries after op's outcome: no
// answer (timeout, connection error), a 408, or a 5xx (the Heroku
// router's 503s included). A redirect, though classified info, is not
// retried; neither is a request that was never sent (resolve failure).
func indeterminate(op history.Op) bool {
	return op.Type == history.Info && (op.Status == 0 || op.Status == http.StatusRequestTimeout || op.Status >= 500)
}

// retrySeqBase is where the vegeta sequence numbers of retries start.
const retrySeqBase = 1 << 32

// retry sends a retry attempt, off the stage's workers; the retrier calls
// it when the attempt is due.
func (c *client) retry(a *attempt) {
	// Retries are numbered apart from the planned requests (from
	// retrySeqBase): taking numbers from the run's counter would shift the
	// ids of every later request, and two runs of a scenario must plan the
	// same ids whatever timed out.
	c.rec.scheduled(time.Since(a.intended))
	a.seq = retrySeqBase + atomic.AddUint64(c.retrySeq, 1)
	c.send(c.ctx, a)
}

// abandon drops a retry that will not be sent (the stage was stopped).
func (c *client) abandon(a *attempt) {
	if a.p.op == history.Redeem && a.p.key != "" {
		c.redeems.done(a.p.key, "", false)
	}
}

// unsentURL is the URL a result names for an attempt that was never
// sent: the service's name and the path.
func (c *client) unsentURL(a *attempt) string {
	path := a.path
	if path == "" {
		path = a.p.path
	}
	return "http://" + c.hostHeader() + path
}

func (c *client) hostHeader() string {
	if c.cfg.Host != "" {
		return c.cfg.Host
	}
	return "service"
}

func (c *client) platform(addr netip.Addr) string {
	if name, ok := c.cfg.Platforms[addr]; ok {
		return name
	}
	return addr.String()
}

// result is the vegeta result of one attempt, stamped with its intended time.
func (c *client) result(a *attempt, url string, status int, body []byte, errText string, latency time.Duration) vegeta.Result {
	p := a.p
	r := vegeta.Result{
		Attack: c.stage, Seq: a.seq, Code: uint16(status), Timestamp: a.intended, Latency: latency,
		BytesOut: uint64(len(p.body)), BytesIn: uint64(len(body)), Error: errText,
		Method: p.method, URL: url,
	}
	if status >= 400 && len(body) > 0 {
		r.Body = body[:min(len(body), 512)]
	}
	return r
}

// Classify maps an answer to its history type: a 2xx took effect (ok); a
// 4xx is a refusal the coupon API guarantees changed nothing (fail); a
// timeout, a connection error, a 408, a 5xx — including the Heroku router's
// 503s (H12, H13, H18, ...) — may or may not have taken effect (info).
func Classify(status int, err error) history.Type {
	switch {
	case err != nil:
		return history.Info
	case status >= 200 && status < 300:
		return history.OK
	case status == http.StatusRequestTimeout:
		return history.Info
	case status >= 400 && status < 500:
		return history.Fail
	default:
		return history.Info
	}
}

// interpret reads what the answer says into the history entry: the
// redemption or rollback id and the amount applied, a validate's answer,
// or the error key.
func (c *client) interpret(op *history.Op, body []byte) {
	if len(body) == 0 || body[0] != '{' {
		return
	}
	if op.Status >= 400 {
		var e api.Error
		if json.Unmarshal(body, &e) == nil {
			op.ErrorKey = e.Key
		}
		return
	}
	if op.Type != history.OK {
		return
	}
	switch op.F {
	case history.Redeem:
		var r api.Redemption
		if json.Unmarshal(body, &r) != nil {
			return
		}
		op.RedemptionID, op.Applied = r.ID, r.Amount
		if r.Result == api.ResultFailure {
			op.Type = history.Fail
		}
	case history.Rollback:
		var r api.RollbackResponse
		if json.Unmarshal(body, &r) != nil {
			return
		}
		op.RollbackID, op.Applied = r.ID, r.Amount
		if r.Redemption != "" {
			op.RedemptionID = r.Redemption
		}
		if r.Result == api.ResultFailure {
			op.Type = history.Fail
		}
	case history.Validate:
		var r api.ValidateResponse
		if json.Unmarshal(body, &r) != nil {
			return
		}
		if r.Order != nil {
			op.Applied = r.Order.DiscountAmount
		}
		// The answer itself: cache_coherence judges it.
		op.Valid = &r.Valid
		if !r.Valid {
			op.ErrorKey = r.Key
			if r.Reason != "" {
				op.Error = "invalid: " + r.Reason
			}
		}
	}
}

// redeemBook remembers, by idempotency key, what the redeems of the run
// did, so a rollback can name the redemption its redeem created. Retries of
// one key share an entry. The oldest keys are forgotten past a limit.
type redeemBook struct {
	mu    sync.Mutex
	m     map[string]*redeemState
	order []string
	head  int
	limit int
}

type redeemState struct {
	inflight int
	id       string
	// changed is closed when an attempt completes; made only when a
	// rollback waits (most redeems are never rolled back).
	changed chan struct{}
}

func newRedeemBook(limit int) *redeemBook {
	return &redeemBook{m: map[string]*redeemState{}, limit: limit}
}

// planned notes that a redeem with key is about to be sent.
func (b *redeemBook) planned(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.m[key]
	if !ok {
		s = &redeemState{}
		b.m[key] = s
		b.order = append(b.order, key)
		if len(b.order)-b.head > b.limit {
			delete(b.m, b.order[b.head])
			b.order[b.head] = ""
			b.head++
			if b.head > b.limit {
				b.order = append([]string(nil), b.order[b.head:]...)
				b.head = 0
			}
		}
	}
	s.inflight++
}

// done records the outcome of one attempt of the redeem with key.
func (b *redeemBook) done(key, redemptionID string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, found := b.m[key]
	if !found {
		return
	}
	s.inflight--
	if ok && redemptionID != "" {
		s.id = redemptionID
	}
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// usable says whether a rollback of key may still find its redemption: it
// succeeded (with its id), or an attempt is still in flight.
func (b *redeemBook) usable(key string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.m[key]
	if !ok {
		return "", false
	}
	return s.id, s.id != "" || s.inflight > 0
}

// wait returns the redemption id of key once it is known, or false when no
// attempt succeeded (or ctx ended first).
func (b *redeemBook) wait(ctx context.Context, key string) (string, bool) {
	for {
		b.mu.Lock()
		s, ok := b.m[key]
		if !ok {
			b.mu.Unlock()
			return "", false
		}
		if s.id != "" {
			b.mu.Unlock()
			return s.id, true
		}
		if s.inflight <= 0 {
			b.mu.Unlock()
			return "", false
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return "", false
		}
	}
}

// readBody reads a whole answer, in one exact allocation when its length is
// announced.
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= 1<<20 {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return b, err
		}
		return b, nil
	}
	return io.ReadAll(resp.Body)
}
