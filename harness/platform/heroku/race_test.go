package heroku_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/client"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness/internal/chaos"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/heroku"
	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

// TestRetryRacesAnUncommittedOriginal runs the H12 retry trap for real: the
// reference service (couponapi, the real binary) on a Heroku dyno behind
// the router, and on a second "aws" process, over one embedded stack. The
// router-timeout-burst fault holds Heroku's queries to Postgres (hold:
// database), so a redeem sent through the router gets its 503 H12 while
// the dyno still waits on its database; the client retries at once, with
// the same Idempotency-Key, on the other platform; the dyno commits (or
// replays) afterwards. The reference service must record one redemption;
// each idempotency bug must record two. How the queries are held decides
// who claims the key first: held until the burst ends (the default) the
// original has not reached Postgres when the retry commits, and is let
// through after it; with a latency of 0.4 of the router's window the original
// has claimed the key (uncommitted) when the retry arrives.
func TestRetryRacesAnUncommittedOriginal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postgres, Mongo, Redis and couponapi processes (about a minute); run without -short")
	}
	bin := couponapitest.Binary(t)
	stk := stacktest.Embedded(t)
	ep := stk.Endpoints()

	for i, tc := range []struct {
		bug string
		// latency of each held query, in router windows; zero holds
		// them until the burst heals.
		latency float64
		// redemptions the voucher ends with.
		want int
	}{
		{bug: "", latency: 0, want: 1},
		{bug: "", latency: 0.4, want: 1},
		{bug: "idempotency_ignored", latency: 0, want: 2},
		{bug: "idempotency_ignored", latency: 0.4, want: 2},
		{bug: "idempotency_redis_only", latency: 0, want: 2},
		{bug: "idempotency_redis_only", latency: 0.4, want: 2},
	} {
		name := tc.bug
		if name == "" {
			name = "reference"
		}
		hold := "until-healed"
		if tc.latency > 0 {
			hold = fmt.Sprintf("latency-%gx", tc.latency)
		}
		t.Run(name+"/"+hold, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			// The dynos wait on their database longer than the router
			// waits on them, as most Heroku apps do.
			extra := map[string]string{"COUPONAPI_BUGS": tc.bug, "DB_TIMEOUT": "30s", "LOG_LEVEL": "warn"}
			aws := couponapitest.StartProcess(t, bin, ep, extra)
			code := fmt.Sprintf("RACE-%d", i)
			_, err := aws.Client.CreateVoucher(ctx, couponapitest.Voucher(code, 0, 500))
			require.NoError(t, err)

			app := deployCouponAPI(t, ctx, bin, ep, extra)
			window := app.RequestTimeout()
			params := map[string]string{"hold": "database"}
			if tc.latency > 0 {
				params["latency"] = time.Duration(tc.latency * float64(window)).String()
			}
			fault, err := chaos.New(chaos.Spec{Kind: "router-timeout-burst", Params: params})
			require.NoError(t, err)
			env := &chaos.Env{Heroku: app, Proxies: toxiproxy.NewClient(ep.ToxiproxyURL), Rand: rand.New(rand.NewPCG(1, 2))}
			require.NoError(t, fault.Start(ctx, env))
			healed := false
			heal := func() {
				if !healed {
					healed = true
					require.NoError(t, fault.(chaos.Healer).Heal(ctx, env))
				}
			}
			defer heal()

			router := client.New("http://"+app.Endpoint(), couponapitest.AppID, couponapitest.AppToken)
			if tc.latency == 0 {
				// The hold dropped the dyno's pooled connections: a
				// request that picks one up fails at once (nothing
				// committed). Read the voucher until a read hangs to its
				// H12: from then on every request waits before the
				// database.
				require.Eventually(t, func() bool {
					_, _ = router.Voucher(ctx, code)
					return len(app.TimedOut()) > 0
				}, 30*time.Second, time.Millisecond, "no request ever hung on the held database")
			}

			key := "race-" + code
			rid := "race-original-" + code + "-0123456789"
			req := api.RedeemRequest{Customer: api.Customer{SourceID: "cust-" + code}, Order: api.Order{Amount: 5000}}
			sent := time.Now()
			err = router.Do(ctx, http.MethodPost, api.RedeemPath(code), req, "",
				client.Header{api.HeaderIdempotencyKey: key, api.HeaderRequestID: rid}, nil)
			h12 := time.Now()
			var apiErr *api.Error
			require.True(t, errors.As(err, &apiErr), "the original through the router: %v", err)
			require.Equal(t, http.StatusServiceUnavailable, apiErr.Code)
			require.GreaterOrEqual(t, h12.Sub(sent), window, "H12 at the router's deadline")

			// The client retries at once, with the same key, on the other
			// platform.
			_, err = aws.Client.Redeem(ctx, code, key, req)
			require.NoError(t, err, "the retry")

			// The dyno answers the original afterwards, into the void (once
			// the burst ends, when it holds until then).
			retried := time.Now()
			if tc.latency == 0 {
				time.Sleep(window)
				rec, ok := timedOut(app, rid)
				require.True(t, ok, "the original's H12 is on record")
				require.Zero(t, rec.Answered, "the original is still held, uncommitted")
				heal()
			}
			var rec heroku.TimedOut
			require.Eventually(t, func() bool {
				r, ok := timedOut(app, rid)
				rec = r
				return ok && !r.Answered.IsZero()
			}, time.Minute, 20*time.Millisecond, "the dyno's late answer")
			heal()
			t.Logf("sent %s, H12 after %s, dyno answered %d after %s (replayed %v)",
				sent.Format("15:04:05.000"), rec.At.Sub(sent), rec.Status, rec.Answered.Sub(sent), rec.Replayed)
			require.False(t, rec.At.After(h12))
			require.True(t, rec.InFlight(), "the dyno was still working when the client got its H12")
			require.True(t, rec.Answered.After(h12), "the retry was sent before the original was done")
			if tc.latency == 0 {
				require.True(t, rec.Answered.After(retried), "the retry was done before the original was let through")
			}
			require.Equal(t, http.StatusOK, rec.Status)
			if tc.bug == "" && tc.latency == 0 {
				require.True(t, rec.Replayed, "the retry claimed the key first: the original is answered as a replay")
			}
			if tc.bug == "" && tc.latency > 0 {
				require.True(t, rec.CommittedAfter(), "the original claimed the key first and committed after its H12")
			}

			reds, err := aws.Client.AllRedemptions(ctx, code)
			require.NoError(t, err)
			require.Len(t, reds, tc.want, "redemptions of one redeem with one key: %+v", reds)
		})
	}
}

// timedOut finds the router's record of request id's H12.
func timedOut(app *heroku.App, id string) (heroku.TimedOut, bool) {
	for _, r := range app.TimedOut() {
		if r.RequestID == id {
			return r, true
		}
	}
	return heroku.TimedOut{}, false
}

// deployCouponAPI runs the service on a one-dyno Heroku app whose request
// timers are 1/20 of Heroku's (the 30 s window → 1.5 s), reaching the stack
// through the Heroku links.
func deployCouponAPI(t *testing.T, ctx context.Context, bin string, ep stack.Endpoints, extra map[string]string) *heroku.App {
	t.Helper()
	proxied, err := ep.For(platform.Heroku)
	require.NoError(t, err)
	logs := &couponapitest.SyncBuffer{}
	app, err := heroku.New(heroku.Options{
		Seed: 1, RequestTimerScale: 0.05, Log: logs,
		// Boot and connect generously (scaled: 10 s, 5 s): a loaded test
		// machine is slow to start a process.
		BootTimeout: 200 * time.Second, ConnectTimeout: 100 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, app.Close(ctx))
		if t.Failed() {
			t.Logf("heroku log (last 40 lines):\n%s", logs.Tail(40))
		}
	})
	env := couponapitest.Env(ep, extra)
	env["DATABASE_URL"], env["REDIS_URL"], env["MONGODB_URL"] = proxied.PostgresURL, proxied.RedisURL, proxied.MongoURL
	require.NoError(t, app.Deploy(ctx, platform.ServiceSpec{Name: "couponapi", Command: []string{bin}, Env: env}, 1))
	// The dyno is up once it binds its port; the service is ready once it
	// has reached its data services.
	router := client.New("http://"+app.Endpoint(), couponapitest.AppID, couponapitest.AppToken)
	require.Eventually(t, func() bool {
		r, err := router.Ready(ctx)
		return err == nil && r.Status == "ok"
	}, 30*time.Second, 50*time.Millisecond, "couponapi on the dyno never got ready")
	return app
}
