package replay

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// planned is one request as the plan says to send it: remapped, its URL
// parsed, its headers built, with its offset from the stage's start.
type planned struct {
	seq       uint64
	offset    time.Duration // from the stage's start
	op        string
	client    string
	method    string
	path      string   // may hold trace.RedemptionPlaceholder (a rollback)
	url       *url.URL // path and query, parsed; nil for a rollback
	body      []byte
	header    http.Header
	voucher   string
	customer  string
	key       string
	undoes    string
	amount    int64
	requestID string

	// intended is the stage's start plus offset, and addr where the
	// client sends it, resolved in plan order by the pacer; resolveErr
	// when the client could not resolve.
	intended   time.Time
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

// Plan is a stage's slice of the trace read and planned in advance: every
// request decoded, remapped, its URL parsed and its headers built, in
// order, with its offset from the stage's start. Replay sends a plan
// without reading, decoding or building anything per request but the
// request itself.
type Plan struct {
	reqs []planned
}

// Len is the number of planned requests.
func (p *Plan) Len() int { return len(p.reqs) }

// Plan reads the stage's slice of st.Trace (from its current position) and
// plans it, numbering its requests after the run's previous ones: plan the
// stages of a run in their order. A bad trace line is an error naming it.
// Replay with the plan in Stage.Plan sends it; without one, Replay plans
// the stage while it sends it (see streamAhead). A plan held whole costs
// about 1.5 kB of memory a request: the shards use it, as each must know
// the whole stage to take its part.
func (r *Replayer) Plan(st Stage) (*Plan, error) {
	if err := st.check(); err != nil {
		return nil, err
	}
	if st.Trace == nil {
		return nil, errors.New("stage: trace: missing")
	}
	p := &Plan{}
	err := r.read(st, func(pl planned) error {
		p.reqs = append(p.reqs, pl)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stage %s: %w", st.Name, err)
	}
	return p, nil
}

// read plans the requests of the stage's slice of the trace, in order.
func (r *Replayer) read(st Stage, emit func(planned) error) error {
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
			// The next stage's first request: left for it.
			st.Trace.Unread(req)
			return nil
		}
		if keep < 1 && !sampled(sampleUnit(&req), keep) {
			continue
		}
		offset := time.Duration((req.At - from) / speed * float64(time.Second))
		for c := range copies {
			id := Identity{Run: r.cfg.RunPrefix}
			if c > 0 {
				id.Copy = "a" + strconv.Itoa(c) + "-"
			}
			p, err := r.plan(req, id, offset)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", st.Trace.Name(), st.Trace.Line(), err)
			}
			if err := emit(p); err != nil {
				return err
			}
		}
	}
}

// sampleUnit is what --quick keeps or drops as a whole: the end user
// (customer) a request is for, so each user's flow (validate → redeem →
// retry → rollback) stays whole; a request naming none goes by its
// idempotency key (a redeem's retries, the rollback that undoes it), then
// by its client (voucher reads, admin calls). End users are many and light,
// so the share kept is the share asked for; clients can be few and heavy
// (a trace with 48 checkout servers kept 9 of them, and 19 % of the
// requests, for a 12 % share).
func sampleUnit(req *trace.Request) string {
	switch {
	case req.Customer != "":
		return req.Customer
	case req.Key != "":
		return req.Key
	case req.Undoes != "":
		return req.Undoes
	}
	return req.Client
}

// sampled says whether a sampling unit is kept: when its hash falls in the
// first share of the hash space, the same choice in every stage.
func sampled(unit string, share float64) bool {
	h := fnv.New64a()
	h.Write([]byte(unit))
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

func (r *Replayer) plan(req trace.Request, id Identity, offset time.Duration) (planned, error) {
	path, body, err := id.remap(req)
	if err != nil {
		return planned{}, err
	}
	var u *url.URL
	if !strings.Contains(path, trace.RedemptionPlaceholder) {
		if u, err = url.ParseRequestURI(path); err != nil {
			return planned{}, fmt.Errorf("path: %w", err)
		}
		u.Scheme = "http"
	}
	seq := atomic.AddUint64(&r.seq, 1)
	p := planned{
		seq: seq, offset: offset, op: req.Op, client: id.Client(req.Client), url: u,
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
