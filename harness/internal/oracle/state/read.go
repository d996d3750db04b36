package state

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cutover/cutover/couponapi/api"
)

// Source says where the final state is read from.
type Source struct {
	// ServiceURL is the base URL of the coupon API the reader reads
	// through (one replica, or the load balancer).
	ServiceURL string
	// ProbeURLs each get one validate per changed voucher after the drain;
	// default ServiceURL. Give one URL per replica of every platform (or
	// per platform where replicas cannot be addressed), so a stale cache in
	// any process shows.
	ProbeURLs []string
	// AppID and AppToken are the application credentials.
	AppID, AppToken string
	// Vouchers restricts the read to these codes; empty reads every
	// voucher through the export.
	Vouchers []string
	// PostgresURL is the service's database, read directly (couponapi's
	// schema: tables vouchers and redemptions) as the second reading of the
	// ledger; empty leaves the database part missing.
	PostgresURL string
	// MongoURL is the audit log's Mongo; empty leaves the events part
	// missing.
	MongoURL string
	// EventsWait bounds the wait for the outbox to drain into Mongo
	// (default 10s).
	EventsWait time.Duration
	// CacheBound is the service's documented bound on validate staleness
	// (couponapi: VALIDATE_CACHE_TTL); it is recorded in the State for the
	// cache_coherence invariant.
	CacheBound time.Duration
	// ProbeSettle is waited before the validate probes, so a cache entry
	// written just before the drain can expire. Default: CacheBound plus
	// CacheFillSlack.
	ProbeSettle time.Duration
	// HTTP is the client (default: 10s timeout per request).
	HTTP *http.Client
	// SettleTimeout bounds the wait for the vouchers and the redemptions
	// to stop changing (default 45 s: couponapi's DB_TIMEOUT of the
	// slowest shipped scenario, 30 s, with room); SettleEvery is the pause
	// between reads (default 1 s).
	SettleTimeout, SettleEvery time.Duration
}

// CacheFillSlack is how much older than the documented bound a validate
// answer may be: the bound runs from the cache write, and the request that
// filled the cache read the database a moment before it wrote.
const CacheFillSlack = time.Second

// pageLimit is the largest page GET /v1/redemptions serves.
const pageLimit = 100

// Read reads the final state. A part that cannot be read is recorded in
// State.Missing, so checkers that need it say unknown; the error is only
// for a Source that cannot work at all.
func Read(ctx context.Context, src Source) (*State, error) {
	if src.ServiceURL == "" {
		return nil, errors.New("read final state: no service URL")
	}
	if src.EventsWait <= 0 {
		src.EventsWait = 10 * time.Second
	}
	if len(src.ProbeURLs) == 0 {
		src.ProbeURLs = []string{src.ServiceURL}
	}
	if src.ProbeSettle <= 0 && src.CacheBound > 0 {
		src.ProbeSettle = src.CacheBound + CacheFillSlack
	}
	if src.HTTP == nil {
		src.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if src.SettleTimeout <= 0 {
		src.SettleTimeout = 45 * time.Second
	}
	if src.SettleEvery <= 0 {
		src.SettleEvery = time.Second
	}
	r := &reader{src: src}
	st := &State{CacheBound: src.CacheBound}

	vouchers, redemptions, err, rerr := r.settled(ctx, st)
	if err != nil {
		st.SetMissing(Vouchers, err.Error())
	}
	st.Vouchers = vouchers

	err = rerr
	if err != nil {
		st.SetMissing(Redemptions, err.Error())
		st.SetMissing(Rollbacks, "redemptions unreadable")
		st.SetMissing(IdempotencyKeys, "redemptions unreadable")
	} else {
		st.Redemptions = redemptions
		// couponapi marks a redemption rolled back rather than listing
		// rollbacks: one rollback per marked redemption is what the
		// database can tell.
		st.DeriveRollbacks()
		if why := missingKeys(redemptions); why != "" {
			st.SetMissing(IdempotencyKeys, why)
		}
	}

	if src.PostgresURL == "" {
		st.SetMissing(Database, "no Postgres URL")
	} else if db, err := ReadDatabase(ctx, src.PostgresURL, src.Vouchers); err != nil {
		st.SetMissing(Database, err.Error())
	} else {
		st.Database = db
	}

	if src.MongoURL == "" {
		st.SetMissing(Events, "no Mongo URL")
	} else {
		want := -1
		if err == nil {
			want = len(st.Redemptions) + len(st.Rollbacks)
		}
		start := time.Now()
		events, err := r.events(ctx, want)
		st.EventsWait = time.Since(start)
		if err != nil {
			st.SetMissing(Events, err.Error())
		}
		st.Events = events
	}

	if ok, _ := st.Has(Vouchers); ok {
		validations, err := r.probe(ctx, Changed(st))
		st.ProbeTargets = slices.DeleteFunc(slices.Clone(src.ProbeURLs), func(u string) bool { return slices.Contains(r.gone, u) })
		st.ProbeGone = r.gone
		if err != nil {
			st.SetMissing(Validations, err.Error())
		}
		st.Validations = validations
	} else {
		st.SetMissing(Validations, "vouchers unreadable")
	}
	st.ReadAt = time.Now()
	return st, nil
}

// missingKeys says why the redemptions carry no idempotency keys, or ""
// when at least one does (or there is none).
func missingKeys(rs []Redemption) string {
	for _, r := range rs {
		if r.IdempotencyKey != "" {
			return ""
		}
	}
	if len(rs) == 0 {
		return ""
	}
	return fmt.Sprintf("none of the %d redemptions the service lists carries an idempotency_key", len(rs))
}

// Changed returns the vouchers whose state the run changed: those holding
// a committed redemption, or whose counters moved.
func Changed(st *State) []Voucher {
	held := make(map[string]bool, len(st.Vouchers))
	for _, r := range st.Redemptions {
		held[r.Voucher] = true
	}
	var out []Voucher
	for _, v := range st.Vouchers {
		if held[v.Code] || v.Redeemed != 0 || v.RedeemedAmount != 0 || (v.Gift() && v.FinalBalance != v.InitialBalance) {
			out = append(out, v)
		}
	}
	return out
}

type reader struct {
	src Source
	// gone are the probe targets that refused the connection: replicas
	// stopped since the probes were listed.
	gone []string
}

// call sends one API request and decodes a 200 answer into out.
func (r reader) call(ctx context.Context, base, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set(api.HeaderAppID, r.src.AppID)
	req.Header.Set(api.HeaderAppToken, r.src.AppToken)
	if body != nil {
		req.Header.Set("Content-Type", api.ContentTypeJSON)
	}
	resp, err := r.src.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if w, ok := out.(io.Writer); ok {
		_, err = io.Copy(w, resp.Body)
	} else {
		err = json.NewDecoder(resp.Body).Decode(out)
	}
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return nil
}

// vouchers reads the listed codes one by one, or every voucher through the
// CSV export.
// settled reads the vouchers, then the redemptions, then the vouchers
// again, until the two voucher reads agree: the redemptions read between
// them then belong to the balances and counts read. The service may still
// be committing after the traffic ended (a request its client gave up on,
// held by a slow database, commits later), and a state read across such a
// commit shows money that moved without its redemption, or the reverse —
// a violation the service never made. Reads repeat every SettleEvery
// until SettleTimeout; a state still changing then leaves the vouchers
// missing, so the invariants that need them say unknown instead of
// broken. st.Reads counts the voucher reads.
func (r reader) settled(ctx context.Context, st *State) (vouchers []Voucher, redemptions []Redemption, verr, rerr error) {
	deadline := time.Now().Add(r.src.SettleTimeout)
	vouchers, verr = r.vouchers(ctx)
	st.Reads = 1
	for {
		redemptions, rerr = r.redemptions(ctx)
		if verr != nil || rerr != nil {
			return vouchers, redemptions, verr, rerr
		}
		again, err := r.vouchers(ctx)
		st.Reads++
		if err != nil {
			return vouchers, redemptions, err, nil
		}
		if sameVouchers(vouchers, again) {
			return vouchers, redemptions, nil, nil
		}
		vouchers = again
		if time.Now().After(deadline) {
			return vouchers, redemptions, fmt.Errorf("still changing after %d reads over %s: the service was committing while the final state was read", st.Reads, r.src.SettleTimeout), nil
		}
		select {
		case <-ctx.Done():
			return vouchers, redemptions, ctx.Err(), nil
		case <-time.After(r.src.SettleEvery):
		}
	}
}

// sameVouchers reports whether two reads of the vouchers agree.
func sameVouchers(a, b []Voucher) bool {
	return slices.EqualFunc(a, b, func(x, y Voucher) bool {
		qx, qy := x.Quantity, y.Quantity
		x.Quantity, y.Quantity = nil, nil
		return x == y && (qx == nil) == (qy == nil) && (qx == nil || *qx == *qy)
	})
}

func (r reader) vouchers(ctx context.Context) ([]Voucher, error) {
	if len(r.src.Vouchers) == 0 {
		var buf bytes.Buffer
		if err := r.call(ctx, r.src.ServiceURL, http.MethodGet, api.PathExport, nil, &buf); err != nil {
			return nil, err
		}
		return ParseExport(&buf)
	}
	out := make([]Voucher, 0, len(r.src.Vouchers))
	for _, code := range r.src.Vouchers {
		var v api.Voucher
		if err := r.call(ctx, r.src.ServiceURL, http.MethodGet, api.VoucherPath(code), nil, &v); err != nil {
			return nil, err
		}
		out = append(out, FromAPI(v))
	}
	return out, nil
}

// FromAPI converts the service's voucher answer.
func FromAPI(v api.Voucher) Voucher {
	out := Voucher{Code: v.Code, Type: v.Type}
	if v.Redemption != nil {
		out.Quantity = v.Redemption.Quantity
		out.Redeemed = v.Redemption.RedeemedQuantity
		out.RedeemedAmount = v.Redemption.RedeemedAmount
	}
	if v.Gift != nil {
		out.InitialBalance, out.FinalBalance = v.Gift.Amount, v.Gift.Balance
	}
	return out
}

// ParseExport reads the CSV of GET /v1/vouchers/export: a header naming
// the columns, then one voucher a line. Only the columns the oracle needs
// are read (code, type, quantity, redeemed_quantity, redeemed_amount,
// gift_amount, gift_balance); errors name the line and column.
func ParseExport(r io.Reader) ([]Voucher, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("export line 1: read header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"code", "type", "quantity", "redeemed_quantity", "redeemed_amount", "gift_amount", "gift_balance"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("export line 1: missing column %q", need)
		}
	}
	var out []Voucher
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		line, _ := cr.FieldPos(0)
		num := func(name string) (int64, bool, error) {
			s := strings.TrimSpace(rec[col[name]])
			if s == "" {
				return 0, false, nil
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, false, fmt.Errorf("export line %d, column %s: %q is not an integer", line, name, s)
			}
			return n, true, nil
		}
		v := Voucher{Code: rec[col["code"]], Type: rec[col["type"]]}
		if v.Code == "" {
			return nil, fmt.Errorf("export line %d, column code: empty", line)
		}
		q, set, err := num("quantity")
		if err != nil {
			return nil, err
		}
		if set {
			v.Quantity = &q
		}
		if v.Redeemed, _, err = num("redeemed_quantity"); err != nil {
			return nil, err
		}
		if v.RedeemedAmount, _, err = num("redeemed_amount"); err != nil {
			return nil, err
		}
		if v.InitialBalance, _, err = num("gift_amount"); err != nil {
			return nil, err
		}
		if v.FinalBalance, _, err = num("gift_balance"); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// redemptions pages through GET /v1/redemptions, oldest first, by keyset
// (starting_after), until the service says there is no more.
func (r reader) redemptions(ctx context.Context) ([]Redemption, error) {
	var out []Redemption
	seen := map[string]bool{}
	after := ""
	for page := 1; ; page++ {
		q := url.Values{"limit": {strconv.Itoa(pageLimit)}, "order": {"created_at"}}
		if after != "" {
			q.Set("starting_after", after)
		}
		var list api.RedemptionList
		if err := r.call(ctx, r.src.ServiceURL, http.MethodGet, api.PathRedemptions+"?"+q.Encode(), nil, &list); err != nil {
			return nil, fmt.Errorf("redemptions page %d: %w", page, err)
		}
		for _, x := range list.Redemptions {
			if seen[x.ID] {
				return nil, fmt.Errorf("redemptions page %d: redemption %s listed twice", page, x.ID)
			}
			seen[x.ID] = true
			out = append(out, Redemption{
				ID: x.ID, Voucher: x.Voucher, Customer: x.CustomerID, IdempotencyKey: x.IdempotencyKey,
				Amount: x.Amount, RolledBack: x.RolledBack, RollbackID: x.RollbackID,
			})
		}
		if !list.HasMore {
			break
		}
		next := list.MoreStartingAfter
		if next == "" && len(list.Redemptions) > 0 {
			next = list.Redemptions[len(list.Redemptions)-1].ID
		}
		if next == "" || next == after {
			return nil, fmt.Errorf("redemptions page %d: has_more without a way to the next page", page)
		}
		after = next
	}
	if len(r.src.Vouchers) > 0 {
		keep := map[string]bool{}
		for _, c := range r.src.Vouchers {
			keep[c] = true
		}
		kept := out[:0]
		for _, x := range out {
			if keep[x.Voucher] {
				kept = append(kept, x)
			}
		}
		out = kept
	}
	return out, nil
}

// events reads the redemption events of the audit log, polling until at
// least want of them are there (the outbox has drained) or EventsWait has
// passed; want < 0 reads once.
func (r reader) events(ctx context.Context, want int) ([]api.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, r.src.EventsWait+10*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(r.src.MongoURL).SetTimeout(5 * time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to mongo: %w", err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	coll := client.Database(api.MongoDatabase).Collection(api.EventCollection)
	filter := bson.M{"type": bson.M{"$in": bson.A{api.EventRedemptionCreated, api.EventRedemptionRolledBack}}}
	deadline := time.Now().Add(r.src.EventsWait)
	for {
		var events []api.Event
		cur, err := coll.Find(ctx, filter)
		if err == nil {
			err = cur.All(ctx, &events)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s.%s: %w", api.MongoDatabase, api.EventCollection, err)
		}
		if want < 0 || len(events) >= want || !time.Now().Before(deadline) {
			if len(r.src.Vouchers) > 0 {
				keep := map[string]bool{}
				for _, c := range r.src.Vouchers {
					keep[c] = true
				}
				kept := events[:0]
				for _, e := range events {
					if keep[e.Voucher] {
						kept = append(kept, e)
					}
				}
				events = kept
			}
			return events, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the outbox to drain: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// probeAmount is the order amount of a probe: 1 for a gift card, so the
// answer is valid exactly when the balance is not zero; a large order for
// a discount voucher, so no minimum order amount refuses it.
func probeAmount(v Voucher) int64 {
	if v.Gift() {
		return 1
	}
	return 100_000
}

// probe sends one validate per voucher to every probe URL. The targets
// are probed at once, each on its own goroutine and one request at a time;
// the validations come back in the order of the targets, as when they were
// probed in turn. Measured on a 2-core machine, the default rehearsal's
// steps at 3x (seven targets: two front doors, five replicas; ~11,000
// validates): 8–18 s after the drain one target after the other, 6 s at
// once — the probes are most of what a run does between its last stage
// and its verdict.
func (r *reader) probe(ctx context.Context, vouchers []Voucher) ([]Validation, error) {
	if len(vouchers) == 0 {
		return nil, nil
	}
	if r.src.ProbeSettle > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(r.src.ProbeSettle):
		}
	}
	probed := make([]targetProbe, len(r.src.ProbeURLs))
	var wg sync.WaitGroup
	for k, target := range r.src.ProbeURLs {
		wg.Go(func() { probed[k] = r.probeTarget(ctx, target, vouchers) })
	}
	wg.Wait()
	var out []Validation
	for k, p := range probed {
		if p.gone {
			r.gone = append(r.gone, r.src.ProbeURLs[k])
			continue
		}
		out = append(out, p.validations...)
		if p.err != nil {
			return out, p.err
		}
	}
	if len(r.gone) == len(r.src.ProbeURLs) {
		return out, fmt.Errorf("probe: every target refused the connection: %v", r.gone)
	}
	return out, nil
}

// targetProbe is what the probes of one target found.
type targetProbe struct {
	validations []Validation
	// gone: the target refused the first probe's connection.
	gone bool
	err  error
}

// probeTarget sends one validate per voucher to target, one at a time.
func (r *reader) probeTarget(ctx context.Context, target string, vouchers []Voucher) targetProbe {
	var p targetProbe
	for i, v := range vouchers {
		amount := probeAmount(v)
		body := api.ValidateRequest{Customer: api.Customer{SourceID: "oracle-probe"}, Order: api.Order{Amount: amount}}
		var ans api.ValidateResponse
		if err := r.call(ctx, target, http.MethodPost, api.ValidatePath(v.Code), body, &ans); err != nil {
			// A replica that stopped after the probes were listed (a
			// dyno's R15, a pod evicted) refuses the connection: it
			// holds no cache any more, and no client can reach it.
			// It is recorded and skipped; any other failure, or one
			// after it answered, leaves the validations missing.
			if i == 0 && errors.Is(err, syscall.ECONNREFUSED) {
				return targetProbe{gone: true}
			}
			p.err = fmt.Errorf("probe %s: %w", target, err)
			return p
		}
		val := Validation{Voucher: v.Code, Target: target, Amount: amount, Valid: ans.Valid, Reason: ans.Reason, Key: ans.Key, At: time.Now()}
		if ans.Gift != nil {
			b := ans.Gift.Balance
			val.Balance = &b
		}
		p.validations = append(p.validations, val)
	}
	return p
}
