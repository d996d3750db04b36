package chaos_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/internal/chaos"
	"github.com/cutover/cutover/harness/platform/heroku"
)

func TestRouterTimeoutBurstParams(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		param  string
		msg    string
	}{
		{map[string]string{"hold": "dyno"}, "hold", "not one of"},
		{map[string]string{"hold": "database", "share": "0.2"}, "share", "every Heroku query"},
		{map[string]string{"latency": "3s"}, "latency", "only a database hold"},
		{map[string]string{"hold": "database", "latency": "soon"}, "latency", "not a duration"},
		{map[string]string{"share": "1.5"}, "share", "[0, 1]"},
	} {
		_, err := chaos.New(chaos.Spec{Kind: "router-timeout-burst", Params: tc.params})
		var pe *chaos.ParamError
		require.ErrorAs(t, err, &pe, "%v", tc.params)
		require.Equal(t, tc.param, pe.Param)
		require.Contains(t, pe.Msg, tc.msg)
	}
	for _, p := range []map[string]string{nil, {"share": "0.3"}, {"hold": "response"}, {"hold": "database"}, {"hold": "database", "latency": "4s"}} {
		_, err := chaos.New(chaos.Spec{Kind: "router-timeout-burst", Params: p})
		require.NoError(t, err, "%v", p)
	}
}

// TestRouterTimeoutBurstHoldsHerokuQueries: a database hold drops the open
// connections on the heroku->postgres links and keeps every query on them
// until the burst ends (or each for its latency), leaves the other links
// alone, and lets the held queries through when it heals.
func TestRouterTimeoutBurstHoldsHerokuQueries(t *testing.T) {
	ctx := context.Background()
	env, e := env(t)
	app, err := heroku.New(heroku.Options{Addr: "127.0.0.2:0", Seed: 1, RequestTimerScale: 0.01})
	require.NoError(t, err)
	defer app.Close(ctx)
	env.Heroku = app
	window := app.RequestTimeout()
	require.Equal(t, 300*time.Millisecond, window)
	aws, err := e.For("aws")
	require.NoError(t, err)
	hk, err := e.For("heroku")
	require.NoError(t, err)
	open, err := pgx.Connect(ctx, hk.PostgresURL)
	require.NoError(t, err)
	defer open.Close(ctx)

	f := mustNew(t, chaos.Spec{Kind: "router-timeout-burst", Params: map[string]string{"hold": "database"}})
	require.NoError(t, f.Start(ctx, env))
	// The open connection dropped: a transaction on it could not sit on
	// its locks through the burst.
	_, err = open.Exec(ctx, "SELECT 1")
	require.Error(t, err, "an open Heroku connection drops")
	// A new one hangs until the heal.
	held := make(chan time.Duration, 1)
	go func() {
		t0 := time.Now()
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(qctx, hk.PostgresURL)
		if err != nil {
			held <- -1
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(qctx, "SELECT 1"); err != nil {
			held <- -1
			return
		}
		held <- time.Since(t0)
	}()
	require.Less(t, pingTime(t, aws.PostgresURL), 100*time.Millisecond, "the target's links are untouched")
	time.Sleep(2 * window)
	select {
	case d := <-held:
		t.Fatalf("a held query came back after %s", d)
	default:
	}
	require.NoError(t, f.(chaos.Healer).Heal(ctx, env))
	d := <-held
	require.GreaterOrEqual(t, d, 2*window, "held until the heal")
	require.Less(t, d, 2*window+time.Second, "let through at the heal")
	require.Less(t, pingTime(t, hk.PostgresURL), 100*time.Millisecond)

	// With a latency, each query waits that long; a latency fault on the
	// same link and the burst do not collide.
	lat := mustNew(t, chaos.Spec{Kind: "latency", Target: "heroku->postgres", Params: map[string]string{"latency": "10ms", "stream": "upstream"}})
	require.NoError(t, lat.Start(ctx, env))
	f = mustNew(t, chaos.Spec{Kind: "router-timeout-burst", Params: map[string]string{"hold": "database", "latency": "200ms"}})
	require.NoError(t, f.Start(ctx, env))
	require.GreaterOrEqual(t, pingTime(t, hk.PostgresURL), 210*time.Millisecond)
	require.NoError(t, f.(chaos.Healer).Heal(ctx, env))
	require.NoError(t, lat.(chaos.Healer).Heal(ctx, env))

	// A hold within the router's window would time nothing out.
	short := mustNew(t, chaos.Spec{Kind: "router-timeout-burst", Params: map[string]string{"hold": "database"}, Duration: window})
	require.ErrorContains(t, short.Start(ctx, env), "within the router's")
}
