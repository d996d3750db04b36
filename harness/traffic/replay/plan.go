package replay

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// planned is one request as the plan says to send it: remapped, with its
// intended send time.
type planned struct {
	seq       uint64
	intended  time.Time
	op        string
	client    string
	method    string
	path      string // may hold trace.RedemptionPlaceholder (a rollback)
	body      []byte
	header    http.Header
	voucher   string
	customer  string
	key       string
	undoes    string
	amount    int64
	requestID string

	// addr is where the client sends it, resolved in plan order by the
	// pacer; resolveErr when the client could not resolve.
	addr       netip.Addr
	resolveErr error
}

// replaced says whether a recorded header is not replayed as recorded:
// hop-by-hop and length headers (the transport sets them for the new
// connection), vegeta's own, and the request id (each request gets its
// own). Idempotency keys and credentials are overridden by plan when it
// sets them.
func replaced(canonical string) bool {
	switch canonical {
	case "Host", "Content-Length", "Connection", "Keep-Alive", "Transfer-Encoding",
		"Upgrade", "Proxy-Connection", "Te", "Trailer", "X-Vegeta-Seq", "X-Vegeta-Attack",
		api.HeaderRequestID:
		return true
	}
	return false
}

// feedBatch is how many planned requests feed hands over at a time: one
// channel operation (and goroutine wake-up) per batch, not per request.
const feedBatch = 64

// feed reads the stage's slice of the trace and sends the planned requests,
// in order and in batches, until the slice ends; it returns the first bad
// line's error (after sending the requests before it).
func (r *Replayer) feed(ctx context.Context, st Stage, start time.Time, plan chan<- []*planned) error {
	batch := make([]*planned, 0, feedBatch)
	send := func() error {
		if len(batch) == 0 {
			return nil
		}
		select {
		case plan <- batch:
			batch = make([]*planned, 0, feedBatch)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := r.read(st, start, func(p *planned) error {
		batch = append(batch, p)
		if len(batch) == feedBatch {
			return send()
		}
		return nil
	})
	if serr := send(); err == nil {
		err = serr
	}
	return err
}

// read plans the requests of the stage's slice of the trace, in order.
func (r *Replayer) read(st Stage, start time.Time, emit func(*planned) error) error {
	from := st.From.Seconds()
	to := math.Inf(1)
	if st.To > 0 {
		to = st.To.Seconds()
	}
	speed, copies := st.Multiplier*st.Compress, 1
	if st.Mode == Amplify {
		speed, copies = st.Compress, int(st.Multiplier)
	}
	keep := 1 / st.Compress
	for {
		req, err := st.Trace.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if req.At < from {
			continue
		}
		if req.At >= to {
			return nil
		}
		if keep < 1 && !keepClient(req.Client, keep) {
			continue
		}
		intended := start.Add(time.Duration((req.At - from) / speed * float64(time.Second)))
		for c := range copies {
			id := Identity{Run: r.cfg.RunPrefix}
			if c > 0 {
				id.Copy = "a" + strconv.Itoa(c) + "-"
			}
			p, err := r.plan(req, id, intended)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", st.Trace.Name(), st.Trace.Line(), err)
			}
			if err := emit(p); err != nil {
				return err
			}
		}
	}
}

// keepClient samples virtual clients: a client is kept when its hash falls
// in the first share of the hash space, the same choice in every stage.
func keepClient(client string, share float64) bool {
	h := fnv.New64a()
	h.Write([]byte(client))
	// FNV's high bits barely move for names that differ in their last
	// characters; the splitmix64 finalizer spreads them.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x) < share*math.MaxUint64
}

func (r *Replayer) plan(req trace.Request, id Identity, intended time.Time) (*planned, error) {
	path, body, err := id.remap(req)
	if err != nil {
		return nil, err
	}
	seq := atomic.AddUint64(&r.seq, 1)
	p := &planned{
		seq: seq, intended: intended, op: req.Op, client: id.Client(req.Client),
		method: req.Method, path: path, body: body,
		voucher: id.Voucher(req.Voucher), customer: id.Customer(req.Customer),
		key: id.Key(req.Key), undoes: id.Key(req.Undoes), amount: req.Amount,
		requestID: requestID(r.runHash, seq),
	}
	// One backing array holds every header value: one allocation, not
	// one per header.
	n := len(req.Headers) + 4
	h := make(http.Header, n)
	vals := make([]string, 0, n)
	set := func(k, v string) {
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	for k, v := range req.Headers {
		if k = textproto.CanonicalMIMEHeaderKey(k); !replaced(k) {
			set(k, v)
		}
	}
	if p.key != "" {
		set(api.HeaderIdempotencyKey, p.key)
	}
	if r.cfg.AppID != "" {
		set(api.HeaderAppID, r.cfg.AppID)
	}
	if r.cfg.AppToken != "" {
		set(api.HeaderAppToken, r.cfg.AppToken)
	}
	set(api.HeaderRequestID, p.requestID)
	p.header = h
	return p, nil
}

// tracePacer is a vegeta.Pacer that follows the plan: each hit waits until
// its request's intended time. It never holds a request back because
// earlier ones are slow (an open model); when every worker is busy vegeta
// sends it as soon as one frees, and the client counts it late. It also
// skips rollbacks whose redeem is known not to have succeeded.
type tracePacer struct {
	ctx      context.Context
	plan     <-chan []*planned
	batch    []*planned // the rest of the batch being paced
	due      chan<- *planned
	redeems  *redeemBook
	rec      *recorder
	resolver Resolver

	handed  uint64 // hits handed to vegeta
	planned int64  // requests of the slice, skipped ones included
}

var _ vegeta.Pacer = (*tracePacer)(nil)

func (p *tracePacer) String() string { return fmt.Sprintf("Trace{%d planned}", p.planned) }

// Pace implements vegeta.Pacer. vegeta calls it from one goroutine, exactly
// once before each hit (v12's Attack loop), so each call hands the next
// planned request to the targeter through the due queue.
func (p *tracePacer) Pace(time.Duration, uint64) (time.Duration, bool) {
	for {
		if len(p.batch) == 0 {
			select {
			case b, ok := <-p.plan:
				if !ok {
					return 0, true
				}
				p.batch = b
			case <-p.ctx.Done():
				return 0, true
			}
		}
		next := p.batch[0]
		p.batch[0] = nil
		p.batch = p.batch[1:]
		p.planned++
		if next.op == history.Redeem && next.key != "" {
			p.redeems.planned(next.key)
		}
		if next.undoes != "" {
			if _, ok := p.redeems.usable(next.undoes); !ok {
				p.rec.skip()
				continue
			}
		}
		next.addr, next.resolveErr = p.resolver.Address(p.ctx, next.client, next.intended)
		p.due <- next
		p.handed++
		return time.Until(next.intended), false
	}
}

// Rate implements vegeta.Pacer: the mean planned rate so far.
func (p *tracePacer) Rate(elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(p.handed) / elapsed.Seconds()
}

// requestID is a UUID-shaped X-Request-Id (36 characters, as the Heroku
// router accepts: 20–200 of letters, digits, +, =, / and -): the run
// prefix's hash and the request's sequence number, so ids are unique
// within a run, differ between runs, and cost no hashing per request.
func requestID(run, seq uint64) string {
	const hexdigits = "0123456789abcdef"
	var b [36]byte
	v := [2]uint64{run, seq}
	pos := 0
	for i := 0; i < 32; i++ {
		switch i {
		case 8, 12, 16, 20:
			b[pos] = '-'
			pos++
		}
		word, nibble := v[i/16], 15-i%16
		b[pos] = hexdigits[(word>>(4*nibble))&0xf]
		pos++
	}
	return string(b[:])
}
