// Package synth generates realistic coupon traffic from a seed: voucher
// popularity with a long (Zipf) tail, checkout bursts on flash-sale
// vouchers, a daily shape, validate → redeem flows per customer, retries of
// timed-out redemptions with the same idempotency key, rollbacks of a share
// of redemptions, occasional bulk import/export, gift cards redeemed
// partially until empty, and vouchers whose quantity runs out mid-trace.
// The clients are those of a coupon API: the API customer's checkout
// servers (server-side calls: redeems, rollbacks, some validations) and
// the devices of its end users (client-side calls from a storefront or an
// app: validations and voucher reads), thousands of them, each with its own
// DNS cache. It also returns the seed data (vouchers and gift cards) the
// trace needs. The same configuration gives the same bytes.
package synth

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// Config shapes the synthesized traffic. Zero fields take Default's values.
type Config struct {
	Seed uint64
	// Duration is the length of the trace.
	Duration time.Duration
	// Rate is the approximate mean request rate (req/s) at the daily peak,
	// outside bursts.
	Rate float64
	// StartHour is the time of day (0–24) the trace starts at.
	StartHour float64
	// DayLength is how long one simulated day lasts: 24h follows the
	// daily shape in real time, a shorter day compresses it.
	DayLength time.Duration
	// Vouchers, GiftCards, Flash (flash-sale vouchers) and Customers (end
	// users) size the population. Clients is the number of checkout
	// servers calling server-side; each end user's device is a client of
	// its own for the client-side calls, so a trace has about as many
	// distinct clients as end users who validate.
	Vouchers, GiftCards, Flash, Customers, Clients int
	// ZipfS is the exponent of voucher popularity (> 1).
	ZipfS float64
	// BurstEvery is the mean gap between checkout bursts.
	BurstEvery time.Duration
	// ImportEvery, ExportEvery and CreateEvery are the mean gaps between
	// bulk imports, exports and single voucher creations by the admin client.
	ImportEvery, ExportEvery, CreateEvery time.Duration
}

// Default is the "checkout peak" configuration: ten minutes of evening
// traffic at about 85 requests per second.
func Default() Config {
	return Config{
		Seed:        1,
		Duration:    10 * time.Minute,
		Rate:        75,
		StartHour:   19,
		DayLength:   24 * time.Hour,
		Vouchers:    400,
		GiftCards:   1500,
		Flash:       3,
		Customers:   40000,
		Clients:     48,
		ZipfS:       1.1,
		BurstEvery:  90 * time.Second,
		ImportEvery: 150 * time.Second,
		ExportEvery: 200 * time.Second,
		CreateEvery: 45 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := Default()
	if c.Duration <= 0 {
		c.Duration = d.Duration
	}
	if c.Rate <= 0 {
		c.Rate = d.Rate
	}
	if c.DayLength <= 0 {
		c.DayLength = d.DayLength
	}
	for _, p := range []struct{ v, def *int }{
		{&c.Vouchers, &d.Vouchers}, {&c.GiftCards, &d.GiftCards}, {&c.Flash, &d.Flash},
		{&c.Customers, &d.Customers}, {&c.Clients, &d.Clients},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	if c.ZipfS <= 1 {
		c.ZipfS = d.ZipfS
	}
	for _, p := range []struct{ v, def *time.Duration }{
		{&c.BurstEvery, &d.BurstEvery}, {&c.ImportEvery, &d.ImportEvery},
		{&c.ExportEvery, &d.ExportEvery}, {&c.CreateEvery, &d.CreateEvery},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	return c
}

// Validate checks a configuration for values that cannot be generated.
func (c Config) Validate() error {
	switch {
	case c.StartHour < 0 || c.StartHour >= 24:
		return fmt.Errorf("start hour: %v is not in [0, 24)", c.StartHour)
	case c.Duration > 31*24*time.Hour:
		return fmt.Errorf("duration: %v is longer than a month", c.Duration)
	case c.Rate > 1e6:
		return fmt.Errorf("rate: %v req/s is more than this generator is meant for", c.Rate)
	}
	return nil
}

// Flow probabilities and sizes (documented in the README of fixtures/traces).
const (
	pGift          = 0.18 // a session spends a gift card
	pGet           = 0.15 // a session first reads its voucher
	pRevalidate    = 0.25 // the cart changes and the voucher is validated again
	pRedeem        = 0.65 // a validated discount session redeems
	pGiftValidate  = 0.70 // a gift session checks the balance first
	pRetry         = 0.04 // a redeem times out and is retried with the same key
	pSecondRetry   = 0.25 // the retry times out too
	pRollback      = 0.06 // a redemption is rolled back (order cancelled)
	pFlashInBurst  = 0.60 // a discount session during a burst goes for the flash voucher
	pTryEmptyGift  = 0.02 // a session tries a gift card already spent
	pOverspendGift = 0.30 // the last order on a card is larger than its balance
	pClientSide    = 0.70 // a session validates (and reads) from the end user's device, not the checkout server
	meanPerSession = 2.06 // requests per session, from the probabilities above
)

// hourly is the relative request rate per hour of the day (peak 1.0 at 19h).
var hourly = [24]float64{
	0.25, 0.18, 0.14, 0.12, 0.12, 0.15, 0.25, 0.40, 0.55, 0.65, 0.72, 0.80,
	0.90, 0.85, 0.78, 0.75, 0.78, 0.85, 0.95, 1.00, 0.98, 0.85, 0.62, 0.40,
}

// Generate writes the trace to w (which it does not close) and returns the
// vouchers and gift cards to create before replaying it.
func Generate(cfg Config, w *trace.Writer) ([]api.Voucher, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := newGenerator(cfg)
	if err := g.run(w); err != nil {
		return nil, err
	}
	return g.seedData(), nil
}

// WriteSeed writes vouchers as JSON lines (api.Voucher), the fixture the
// harness loads before replay.
func WriteSeed(w io.Writer, vouchers []api.Voucher) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range vouchers {
		if err := enc.Encode(&vouchers[i]); err != nil {
			return fmt.Errorf("write seed voucher %s: %w", vouchers[i].Code, err)
		}
	}
	return nil
}

type voucher struct {
	code     string
	percent  bool
	off      int64 // cents, or percent
	minOrder int64
	attempts int64 // distinct redeem keys generated
}

type giftCard struct {
	code      string
	owner     int
	amount    int64
	remaining int64 // as planned by the generator
}

type burst struct {
	start, end float64
	factor     float64
	flash      int
}

type generator struct {
	cfg      Config
	rng      *rand.Rand
	zipf     *rand.Zipf
	vouchers []voucher
	flash    []voucher
	gifts    []giftCard
	bursts   []burst
	pending  eventHeap
	seq      int64
	keys     int64
	orders   int64
	imports  int
	creates  int
	end      float64
}

func newGenerator(cfg Config) *generator {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	g := &generator{cfg: cfg, rng: rng, end: cfg.Duration.Seconds()}
	g.zipf = rand.NewZipf(rng, cfg.ZipfS, 1, uint64(cfg.Vouchers-1))
	for i := range cfg.Vouchers {
		v := voucher{code: fmt.Sprintf("SAVE-%04d", i+1)}
		if i%3 == 0 {
			v.percent, v.off = true, int64(5+rng.IntN(26))
		} else {
			v.off = int64(500 + 100*rng.IntN(26))
		}
		if rng.Float64() < 0.2 {
			v.minOrder = 5000
		}
		g.vouchers = append(g.vouchers, v)
	}
	for i := range cfg.Flash {
		g.flash = append(g.flash, voucher{code: fmt.Sprintf("FLASH-%02d", i+1), off: 1500})
	}
	sizes := []int64{2500, 5000, 10000, 20000}
	for i := range cfg.GiftCards {
		amt := sizes[rng.IntN(len(sizes))]
		g.gifts = append(g.gifts, giftCard{
			code: fmt.Sprintf("GIFT-%05d", i+1), owner: rng.IntN(cfg.Customers),
			amount: amt, remaining: amt,
		})
	}
	// Bursts: Poisson starts, 5–20 s long, 1.5–3× the rate, each on one flash voucher.
	for t := g.exp(cfg.BurstEvery.Seconds()); t < g.end; t += g.exp(cfg.BurstEvery.Seconds()) {
		d := 5 + 15*rng.Float64()
		g.bursts = append(g.bursts, burst{start: t, end: t + d, factor: 1.5 + 1.5*rng.Float64(), flash: rng.IntN(cfg.Flash)})
	}
	return g
}

func (g *generator) exp(mean float64) float64 { return g.rng.ExpFloat64() * mean }

// shape is the daily factor at offset t.
func (g *generator) shape(t float64) float64 {
	h := math.Mod(g.cfg.StartHour+24*t/g.cfg.DayLength.Seconds(), 24)
	i := int(h)
	f := h - float64(i)
	return hourly[i]*(1-f) + hourly[(i+1)%24]*f
}

// burstAt returns the burst running at t, if any.
func (g *generator) burstAt(t float64) (burst, bool) {
	for _, b := range g.bursts {
		if t >= b.start && t < b.end {
			return b, true
		}
		if b.start > t {
			break
		}
	}
	return burst{}, false
}

func (g *generator) run(w *trace.Writer) error {
	sessionRate := g.cfg.Rate / meanPerSession
	maxFactor := 3.0 // the largest burst factor; the daily shape peaks at 1
	next := map[string]float64{}
	type stream struct {
		name string
		mean float64
	}
	streams := []stream{
		{"session", 1 / (sessionRate * maxFactor)},
		{"import", g.cfg.ImportEvery.Seconds()},
		{"export", g.cfg.ExportEvery.Seconds()},
		{"create", g.cfg.CreateEvery.Seconds()},
	}
	for _, s := range streams {
		next[s.name] = g.exp(s.mean)
	}
	for {
		// The stream whose next arrival comes first (ties by stream order).
		cur := streams[0]
		for _, s := range streams[1:] {
			if next[s.name] < next[cur.name] {
				cur = s
			}
		}
		t := next[cur.name]
		if t >= g.end {
			break
		}
		if err := g.flush(w, t); err != nil {
			return err
		}
		next[cur.name] = t + g.exp(cur.mean)
		switch cur.name {
		case "session":
			// Thinning: accept with the ratio of the rate at t to the maximum.
			factor := g.shape(t)
			if b, ok := g.burstAt(t); ok {
				factor *= b.factor
			}
			if g.rng.Float64() < factor/maxFactor {
				g.session(t)
			}
		case "import":
			g.bulkImport(t)
		case "export":
			g.push(t, trace.Request{Client: "admin", Op: history.Export, Method: "GET", Path: api.PathExport,
				Headers: appHeaders(false)})
		case "create":
			g.create(t)
		}
	}
	return g.flush(w, g.end)
}

// flush writes the pending events before t, in order.
func (g *generator) flush(w *trace.Writer, t float64) error {
	for g.pending.Len() > 0 && g.pending[0].At < t {
		ev := heap.Pop(&g.pending).(event)
		if err := w.Write(ev.Request); err != nil {
			return err
		}
	}
	return nil
}

type event struct {
	trace.Request
	seq int64
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].At != h[j].At {
		return h[i].At < h[j].At
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// push schedules a request at t (rounded to the microsecond); requests past
// the end of the trace are dropped, and push says so.
func (g *generator) push(t float64, r trace.Request) bool {
	t = math.Round(t*1e6) / 1e6
	if t >= g.end {
		return false
	}
	r.At = t
	g.seq++
	heap.Push(&g.pending, event{Request: r, seq: g.seq})
	return true
}

func appHeaders(post bool) map[string]string {
	h := map[string]string{api.HeaderAppID: "checkout"}
	if post {
		h["Content-Type"] = "application/json"
	}
	return h
}

func (g *generator) customerID(i int) string { return fmt.Sprintf("cust-%06d", i) }

// serverID is the checkout server that calls the API for customer i.
func (g *generator) serverID(i int) string { return fmt.Sprintf("server-%02d", i%g.cfg.Clients) }

// deviceID is customer i's own device (a browser or an app).
func (g *generator) deviceID(i int) string { return fmt.Sprintf("device-%06d", i) }

// reader returns who sends a session's validations and voucher reads: the
// end user's device (client-side) or the checkout server.
func (g *generator) reader(cust int) string {
	if g.rng.Float64() < pClientSide {
		return g.deviceID(cust)
	}
	return g.serverID(cust)
}

// orderAmount draws an order amount in cents: log-normal around 60 €.
func (g *generator) orderAmount() int64 {
	a := math.Exp(math.Log(6000) + 0.6*g.rng.NormFloat64())
	return max(500, int64(a/100)*100)
}

func (g *generator) think(median, maxSec float64) float64 {
	return math.Min(maxSec, math.Exp(math.Log(median)+0.8*g.rng.NormFloat64()))
}

func (g *generator) couponRequest(client, op, code string, cust int, amount int64) trace.Request {
	g.orders++
	body, _ := json.Marshal(api.RedeemRequest{
		Customer: api.Customer{SourceID: g.customerID(cust)},
		Order:    api.Order{ID: fmt.Sprintf("ord-%07d", g.orders), Amount: amount},
	})
	path := api.PathVouchers + "/" + code + "/validate"
	if op == history.Redeem {
		path = api.PathVouchers + "/" + code + "/redemption"
	}
	r := trace.Request{Client: client, Op: op, Method: "POST", Path: path,
		Voucher: code, Customer: g.customerID(cust), Amount: amount, Headers: appHeaders(true)}
	r.SetBody(body)
	return r
}

// redeem schedules a redeem at t with its retries and, for a share, its
// rollback; it says whether the redeem is in the trace.
func (g *generator) redeem(t float64, req trace.Request) bool {
	g.keys++
	key := fmt.Sprintf("idem-%07d", g.keys)
	req.Key = key
	req.Headers[api.HeaderIdempotencyKey] = key
	if !g.push(t, req) {
		return false
	}
	last := t
	if g.rng.Float64() < pRetry {
		last += 3 + 7*g.rng.Float64()
		g.push(last, req)
		if g.rng.Float64() < pSecondRetry {
			last += 3 + 7*g.rng.Float64()
			g.push(last, req)
		}
	}
	if g.rng.Float64() < pRollback {
		at := last + 5 + 55*g.rng.Float64()
		g.push(at, trace.Request{Client: req.Client, Op: history.Rollback, Method: "POST",
			Path:    api.PathRedemptions + "/" + trace.RedemptionPlaceholder + "/rollback",
			Voucher: req.Voucher, Customer: req.Customer, Undoes: key, Headers: appHeaders(false)})
	}
	return true
}

func (g *generator) session(t float64) {
	if g.rng.Float64() < pGift {
		g.giftSession(t)
		return
	}
	cust := g.rng.IntN(g.cfg.Customers)
	v := &g.vouchers[g.zipf.Uint64()]
	if b, ok := g.burstAt(t); ok && g.rng.Float64() < pFlashInBurst {
		v = &g.flash[b.flash]
	}
	reader := g.reader(cust)
	at := t
	if g.rng.Float64() < pGet {
		g.push(at, trace.Request{Client: reader, Op: history.Get, Method: "GET",
			Path: api.PathVouchers + "/" + v.code, Voucher: v.code, Headers: appHeaders(false)})
		at += 0.05 + 0.5*g.rng.Float64()
	}
	amount := g.orderAmount()
	g.push(at, g.couponRequest(reader, history.Validate, v.code, cust, amount))
	if g.rng.Float64() < pRevalidate {
		at += 1 + 4*g.rng.Float64()
		amount = g.orderAmount()
		g.push(at, g.couponRequest(reader, history.Validate, v.code, cust, amount))
	}
	if g.rng.Float64() >= pRedeem {
		return
	}
	at += g.think(2, 20)
	if g.redeem(at, g.couponRequest(g.serverID(cust), history.Redeem, v.code, cust, amount)) {
		v.attempts++
	}
}

func (g *generator) giftSession(t float64) {
	i := g.rng.IntN(len(g.gifts))
	// Prefer a card with money left: a few tries, then accept an empty one.
	for try := 0; try < 8 && g.gifts[i].remaining == 0 && g.rng.Float64() >= pTryEmptyGift; try++ {
		i = g.rng.IntN(len(g.gifts))
	}
	c := &g.gifts[i]
	at := t
	// Partial spends: 10–60 % of the card's value, the last one empties it.
	amount := max(100, int64(float64(c.amount)*(0.1+0.5*g.rng.Float64()))/100*100)
	if c.remaining > 0 && amount > c.remaining && g.rng.Float64() >= pOverspendGift {
		amount = c.remaining
	}
	if g.rng.Float64() < pGiftValidate {
		g.push(at, g.couponRequest(g.reader(c.owner), history.Validate, c.code, c.owner, amount))
		at += g.think(1.5, 15)
	}
	if g.redeem(at, g.couponRequest(g.serverID(c.owner), history.Redeem, c.code, c.owner, amount)) {
		c.remaining = max(0, c.remaining-amount)
	}
}

func (g *generator) bulkImport(t float64) {
	g.imports++
	n := 50 + g.rng.IntN(151)
	vs := make([]api.Voucher, n)
	for i := range vs {
		vs[i] = api.Voucher{
			Code: fmt.Sprintf("IMP-%03d-%03d", g.imports, i+1), Type: api.DiscountVoucher,
			Discount: &api.Discount{Type: api.DiscountAmount, AmountOff: int64(500 + 100*g.rng.IntN(16))},
		}
	}
	body, _ := json.Marshal(vs)
	r := trace.Request{Client: "admin", Op: history.Import, Method: "POST", Path: api.PathImport, Headers: appHeaders(true)}
	r.SetBody(body)
	g.push(t, r)
}

func (g *generator) create(t float64) {
	g.creates++
	qty := int64(100)
	v := api.Voucher{Code: fmt.Sprintf("NEW-%05d", g.creates), Type: api.DiscountVoucher,
		Discount:   &api.Discount{Type: api.DiscountPercent, PercentOff: float64(5 + g.rng.IntN(16))},
		Redemption: &api.VoucherRedemption{Quantity: &qty}}
	body, _ := json.Marshal(v)
	r := trace.Request{Client: "admin", Op: history.Create, Method: "POST", Path: api.PathVouchers,
		Voucher: v.Code, Headers: appHeaders(true)}
	r.SetBody(body)
	g.push(t, r)
}

// seedData is the fixture: every discount voucher, flash voucher and gift
// card the trace names. Quantities are set from the generated attempts so
// that flash vouchers and a third of the popular ones run out mid-trace.
func (g *generator) seedData() []api.Voucher {
	active := true
	var out []api.Voucher
	limit := func(q int64) *api.VoucherRedemption { return &api.VoucherRedemption{Quantity: &q} }
	for i, v := range g.vouchers {
		d := &api.Discount{Type: api.DiscountAmount, AmountOff: v.off}
		if v.percent {
			d = &api.Discount{Type: api.DiscountPercent, PercentOff: float64(v.off)}
		}
		av := api.Voucher{Code: v.code, Type: api.DiscountVoucher, Discount: d, MinOrderAmount: v.minOrder, Active: &active}
		// A deterministic third of the vouchers with enough attempts run
		// out after 50–90 % of them; the others are generous or unlimited.
		switch {
		case v.attempts >= 5 && i%3 == 0:
			av.Redemption = limit(max(1, v.attempts*int64(50+(i*7)%41)/100))
		case i%2 == 0:
			av.Redemption = limit(2*v.attempts + 10)
		default:
			av.Redemption = &api.VoucherRedemption{}
		}
		out = append(out, av)
	}
	for _, v := range g.flash {
		out = append(out, api.Voucher{Code: v.code, Type: api.DiscountVoucher,
			Discount: &api.Discount{Type: api.DiscountAmount, AmountOff: v.off}, Active: &active,
			Redemption: limit(max(1, v.attempts*2/5))})
	}
	for _, c := range g.gifts {
		out = append(out, api.Voucher{Code: c.code, Type: api.GiftVoucher,
			Gift: &api.Gift{Amount: c.amount, Balance: c.amount}, Active: &active})
	}
	return out
}

// Contended counts the seed vouchers whose quantity is smaller than the
// number of distinct redemptions the trace attempts on them.
func Contended(seed []api.Voucher, attempts map[string]int64) int {
	n := 0
	for _, v := range seed {
		if v.Redemption != nil && v.Redemption.Quantity != nil && *v.Redemption.Quantity < attempts[v.Code] {
			n++
		}
	}
	return n
}
