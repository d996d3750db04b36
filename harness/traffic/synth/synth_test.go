package synth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

func generate(t *testing.T, cfg Config) ([]byte, []byte) {
	t.Helper()
	var tr, seed bytes.Buffer
	w, err := trace.NewWriter(&tr, "synth", trace.Meta{Source: "synth", Seed: cfg.Seed}, true)
	require.NoError(t, err)
	vouchers, err := Generate(cfg, w)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, WriteSeed(&seed, vouchers))
	return tr.Bytes(), seed.Bytes()
}

func small(seed uint64) Config {
	c := Default()
	c.Seed = seed
	c.Duration = 3 * time.Minute
	return c
}

func TestDeterministic(t *testing.T) {
	a, aSeed := generate(t, small(42))
	b, bSeed := generate(t, small(42))
	require.Equal(t, a, b, "same seed, same trace bytes")
	require.Equal(t, aSeed, bSeed, "same seed, same seed data")
	c, cSeed := generate(t, small(43))
	require.NotEqual(t, a, c, "another seed, another trace")
	require.NotEqual(t, aSeed, cSeed)
}

func readAll(t *testing.T, b []byte) []trace.Request {
	t.Helper()
	r, err := trace.NewReader(bytes.NewReader(b), "synth")
	require.NoError(t, err)
	var out []trace.Request
	for {
		req, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, req)
	}
}

func TestMixAndSemantics(t *testing.T) {
	raw, seedRaw := generate(t, small(7))
	reqs := readAll(t, raw)
	dur := small(7).Duration.Seconds()
	// About Rate×1.1 req/s (bursts on top of the peak rate).
	require.InDelta(t, 85*dur, float64(len(reqs)), 0.2*85*dur, "request count")

	ops := map[string]int{}
	redeems := map[string][]trace.Request{} // by key
	var keyOrder []string
	for _, r := range reqs {
		ops[r.Op]++
		require.LessOrEqual(t, r.At, dur)
		switch r.Op {
		case history.Redeem:
			require.NotEmpty(t, r.Key)
			require.Equal(t, r.Key, trace.HeaderValue(r.Headers, api.HeaderIdempotencyKey))
			if _, ok := redeems[r.Key]; !ok {
				keyOrder = append(keyOrder, r.Key)
			}
			redeems[r.Key] = append(redeems[r.Key], r)
		case history.Rollback:
			first, ok := redeems[r.Undoes]
			require.True(t, ok, "rollback at %v undoes %s, which no earlier redeem has", r.At, r.Undoes)
			last := first[len(first)-1]
			require.Greater(t, r.At, last.At, "a rollback follows the last retry of its redeem")
			require.Equal(t, last.Voucher, r.Voucher)
			require.Contains(t, r.Path, trace.RedemptionPlaceholder)
		}
	}
	n := float64(len(reqs))
	share := func(op string) float64 { return float64(ops[op]) / n }
	require.InDelta(t, 0.55, share(history.Validate), 0.12, "validate share %v", ops)
	require.InDelta(t, 0.35, share(history.Redeem), 0.10, "redeem share %v", ops)
	require.InDelta(t, 0.02, share(history.Rollback), 0.015, "rollback share %v", ops)
	require.Positive(t, ops[history.Get])
	require.Positive(t, ops[history.Import]+ops[history.Export]+ops[history.Create])

	// Retries repeat the request exactly: same key, voucher, customer, body.
	retried := 0
	for _, k := range keyOrder {
		rs := redeems[k]
		if len(rs) == 1 {
			continue
		}
		retried++
		require.LessOrEqual(t, len(rs), 3)
		for _, r := range rs[1:] {
			require.Greater(t, r.At, rs[0].At)
			require.Equal(t, rs[0].Voucher, r.Voucher)
			require.Equal(t, rs[0].Customer, r.Customer)
			require.JSONEq(t, string(rs[0].Body), string(r.Body))
		}
	}
	require.InDelta(t, pRetry, float64(retried)/float64(len(keyOrder)), 0.02)

	// Seed data covers every voucher the trace redeems, and some run out.
	var seed []api.Voucher
	dec := json.NewDecoder(bytes.NewReader(seedRaw))
	for dec.More() {
		var v api.Voucher
		require.NoError(t, dec.Decode(&v))
		seed = append(seed, v)
	}
	codes := map[string]api.Voucher{}
	for _, v := range seed {
		codes[v.Code] = v
	}
	attempts := map[string]int64{}
	giftSpend := map[string]int64{}
	for _, k := range keyOrder {
		r := redeems[k][0]
		_, ok := codes[r.Voucher]
		require.True(t, ok, "voucher %s is in the seed data", r.Voucher)
		attempts[r.Voucher]++
		if codes[r.Voucher].Type == api.GiftVoucher {
			giftSpend[r.Voucher] += r.Amount
		}
	}
	require.GreaterOrEqual(t, Contended(seed, attempts), 10, "vouchers that run out mid-trace")
	for _, f := range []string{"FLASH-01", "FLASH-02", "FLASH-03"} {
		if attempts[f] > 2 {
			require.Less(t, *codes[f].Redemption.Quantity, attempts[f], "flash voucher %s is contended", f)
		}
	}
	// Gift cards are spent partially, several times, down to empty.
	multi, emptied := 0, 0
	spends := map[string]int{}
	for _, k := range keyOrder {
		r := redeems[k][0]
		if codes[r.Voucher].Type == api.GiftVoucher {
			spends[r.Voucher]++
		}
	}
	for code, n := range spends {
		if n > 1 {
			multi++
		}
		if giftSpend[code] >= codes[code].Gift.Amount {
			emptied++
		}
	}
	require.Positive(t, multi, "some gift cards are redeemed more than once")
	require.Positive(t, emptied, "some gift cards are spent to empty")
}

// TestClientPopulation: the checkout servers send the redeems and
// rollbacks; the end users' own devices send most validations and voucher
// reads, so a trace has thousands of distinct clients, each with its own
// DNS cache.
func TestClientPopulation(t *testing.T) {
	raw, _ := generate(t, small(7))
	clients := map[string]int{}
	fromDevice := map[string]int{}
	byOp := map[string]int{}
	for _, r := range readAll(t, raw) {
		clients[r.Client]++
		byOp[r.Op]++
		switch {
		case r.Client == "admin":
			require.Contains(t, []string{history.Import, history.Export, history.Create}, r.Op)
		case strings.HasPrefix(r.Client, "device-"):
			fromDevice[r.Op]++
			require.Contains(t, []string{history.Validate, history.Get}, r.Op, "a device sends only client-side calls")
			if r.Customer != "" {
				require.Equal(t, "device-"+strings.TrimPrefix(r.Customer, "cust-"), r.Client, "a device is its end user's")
			}
		default:
			require.True(t, strings.HasPrefix(r.Client, "server-"), r.Client)
		}
	}
	require.GreaterOrEqual(t, len(clients), 1000, "distinct clients in 3 minutes")
	require.Len(t, servers(clients), Default().Clients)
	require.InDelta(t, pClientSide, float64(fromDevice[history.Validate])/float64(byOp[history.Validate]), 0.05)
	require.Zero(t, fromDevice[history.Redeem]+fromDevice[history.Rollback])
}

func servers(clients map[string]int) []string {
	var out []string
	for c := range clients {
		if strings.HasPrefix(c, "server-") {
			out = append(out, c)
		}
	}
	return out
}

func TestValidate(t *testing.T) {
	c := Default()
	c.StartHour = 25
	_, err := Generate(c, nil)
	require.ErrorContains(t, err, "start hour")
}
