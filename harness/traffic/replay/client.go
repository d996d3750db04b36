package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// errSkipped ends a rollback whose redeem did not succeed; it is not sent.
var errSkipped = errors.New("rollback skipped: its redeem did not succeed")

// client is the Jepsen client of a stage: an http.RoundTripper under
// vegeta's http.Client that resolves each request through the DNS model,
// sends it to the platform's address, reads the answer, classifies it and
// records it with its intended time.
type client struct {
	cfg      Config
	stage    string
	ctx      context.Context
	next     http.RoundTripper
	redeems  *redeemBook
	rec      *recorder
	inflight sync.Map // request id → *planned, between targeter and RoundTrip
	hosts    sync.Map // netip.Addr → "addr:port"
}

// hostPort is the "address:port" text of addr, computed once per address.
func (c *client) hostPort(addr netip.Addr) string {
	if v, ok := c.hosts.Load(addr); ok {
		return v.(string)
	}
	hp := netip.AddrPortFrom(addr, uint16(c.cfg.Port)).String()
	c.hosts.Store(addr, hp)
	return hp
}

// targeter hands vegeta the planned requests in the pacer's order.
func (c *client) targeter(due <-chan *planned) vegeta.Targeter {
	host := "service"
	if c.cfg.Host != "" {
		host = c.cfg.Host
	}
	return func(t *vegeta.Target) error {
		var p *planned
		select {
		case p = <-due:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
		c.inflight.Store(p.requestID, p)
		t.Method = p.method
		// The host is replaced in RoundTrip by the resolved address.
		t.URL = "http://" + host + strings.Replace(p.path, trace.RedemptionPlaceholder, "pending", 1)
		t.Body = p.body
		t.Header = p.header
		return nil
	}
}

// RoundTrip implements http.RoundTripper.
func (c *client) RoundTrip(req *http.Request) (*http.Response, error) {
	v, ok := c.inflight.LoadAndDelete(req.Header.Get(api.HeaderRequestID))
	if !ok {
		return nil, fmt.Errorf("replay: request %s %s was not planned", req.Method, req.URL)
	}
	p := v.(*planned)
	req.Header.Del("X-Vegeta-Seq")
	req.Header.Del("X-Vegeta-Attack")
	c.rec.scheduled(time.Since(p.intended))

	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timeout)
	defer cancel()

	op := history.Op{
		ID: p.requestID, Process: p.client, F: p.op,
		Voucher: p.voucher, Customer: p.customer, IdempotencyKey: p.key, Amount: p.amount,
		RequestID: p.requestID, Intended: p.intended, Stage: c.stage,
	}
	if p.undoes != "" {
		id, ok := c.redeems.wait(ctx, p.undoes)
		if !ok {
			c.rec.skip()
			return nil, errSkipped
		}
		u, err := url.Parse(strings.Replace(p.path, trace.RedemptionPlaceholder, url.PathEscape(id), 1))
		if err != nil {
			return nil, fmt.Errorf("replay: rollback path: %w", err)
		}
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
		op.RedemptionID = id
	}

	addr, err := c.cfg.Resolver.Address(ctx, p.client, p.intended)
	if err != nil {
		// Never sent: it definitely did not take effect.
		now := time.Now()
		op.Type, op.Time = history.Invoke, now
		c.rec.invoke(op)
		op.Type, op.Error, op.Latency = history.Fail, "resolve: "+err.Error(), now.Sub(p.intended)
		if p.op == history.Redeem && p.key != "" {
			c.redeems.done(p.key, "", false)
		}
		c.rec.done(op, c.result(p, req, 0, nil, op.Error, op.Latency))
		return nil, fmt.Errorf("resolve %s: %w", p.client, err)
	}
	op.Platform = c.platform(addr)
	req.URL.Scheme = "http"
	req.URL.Host = c.hostPort(addr)
	if c.cfg.Host != "" {
		req.Host = c.cfg.Host
	}
	req = req.WithContext(ctx)

	op.Type, op.Time = history.Invoke, time.Now()
	c.rec.invoke(op)

	resp, err := c.next.RoundTrip(req)
	var body []byte
	if err == nil {
		body, err = readBody(resp)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	end := time.Now()
	op.Time, op.Latency = end, end.Sub(p.intended)
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
	if p.op == history.Redeem && p.key != "" {
		c.redeems.done(p.key, op.RedemptionID, op.Type == history.OK)
	}
	c.rec.done(op, c.result(p, req, status, body, op.Error, op.Latency))
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (c *client) platform(addr netip.Addr) string {
	if name, ok := c.cfg.Platforms[addr]; ok {
		return name
	}
	return addr.String()
}

// result is the vegeta result of one request, stamped with its intended time.
func (c *client) result(p *planned, req *http.Request, status int, body []byte, errText string, latency time.Duration) vegeta.Result {
	r := vegeta.Result{
		Attack: c.stage, Seq: p.seq, Code: uint16(status), Timestamp: p.intended, Latency: latency,
		BytesOut: uint64(len(p.body)), BytesIn: uint64(len(body)), Error: errText,
		Method: p.method, URL: "http://" + req.URL.Host + req.URL.RequestURI(),
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
// redemption or rollback id and the amount applied, or the error key.
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
		if !r.Valid && r.Reason != "" {
			op.Error = "invalid: " + r.Reason
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
	changed  chan struct{}
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
		s = &redeemState{changed: make(chan struct{})}
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
	close(s.changed)
	s.changed = make(chan struct{})
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
