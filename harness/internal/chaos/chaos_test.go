package chaos_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/chaos"
	"github.com/cutover/cutover/harness/platform/heroku"
	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

func env(t *testing.T) (*chaos.Env, stack.Endpoints) {
	s := stacktest.Embedded(t)
	e := s.Endpoints()
	return &chaos.Env{Stack: s, Proxies: toxiproxy.NewClient(e.ToxiproxyURL), Rand: rand.New(rand.NewPCG(1, 2))}, e
}

func mustNew(t *testing.T, spec chaos.Spec) chaos.Fault {
	t.Helper()
	f, err := chaos.New(spec)
	require.NoError(t, err)
	return f
}

func pingTime(t *testing.T, url string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	t0 := time.Now()
	_, err = conn.Exec(ctx, "SELECT 1")
	require.NoError(t, err)
	return time.Since(t0)
}

func TestNewRejectsBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		spec  chaos.Spec
		param string
		msg   string
	}{
		{chaos.Spec{Kind: "meteor"}, "", "unknown fault kind"},
		{chaos.Spec{Kind: "latency", Target: "aws->postgres", Params: map[string]string{"latency": "soon"}}, "latency", "not a duration"},
		{chaos.Spec{Kind: "latency", Target: "aws->postgres"}, "latency", "required"},
		{chaos.Spec{Kind: "latency", Params: map[string]string{"latency": "1s"}}, "target", "target link"},
		{chaos.Spec{Kind: "flaky-router", Params: map[string]string{"rate": "2"}}, "rate", "[0, 1]"},
		{chaos.Spec{Kind: "dyno-crash", Params: map[string]string{"force": "yes"}}, "force", "no parameter"},
		{chaos.Spec{Kind: "scale"}, "replicas", "required"},
	} {
		_, err := chaos.New(tc.spec)
		var pe *chaos.ParamError
		require.ErrorAs(t, err, &pe, "%+v", tc.spec)
		require.Equal(t, tc.param, pe.Param)
		require.Contains(t, pe.Msg, tc.msg)
	}
	require.Contains(t, chaos.Kinds(), "router-timeout-burst")
}

func TestLatencyOnOneLinkOnly(t *testing.T) {
	ctx := context.Background()
	env, e := env(t)
	aws, err := e.For("aws")
	require.NoError(t, err)
	heroku, err := e.For("heroku")
	require.NoError(t, err)

	f := mustNew(t, chaos.Spec{Kind: "latency", Target: "aws->postgres", Params: map[string]string{"latency": "150ms"}})
	require.NoError(t, f.Start(ctx, env))
	require.GreaterOrEqual(t, pingTime(t, aws.PostgresURL), 150*time.Millisecond)
	require.Less(t, pingTime(t, heroku.PostgresURL), 100*time.Millisecond, "other links are untouched")
	require.NoError(t, f.(chaos.Healer).Heal(ctx, env))
	require.Less(t, pingTime(t, aws.PostgresURL), 100*time.Millisecond)
}

func TestLinkDownAndMongoUnavailable(t *testing.T) {
	ctx := context.Background()
	env, e := env(t)
	for _, spec := range []chaos.Spec{
		{Kind: "link-down", Target: "heroku->redis"},
		{Kind: "mongo-unavailable"},
	} {
		f := mustNew(t, spec)
		require.NoError(t, f.Start(ctx, env))
		addr := e.Links["heroku->redis"].Listen
		if spec.Kind == "mongo-unavailable" {
			addr = e.Links["aws->mongo"].Listen
		}
		_, err := net.DialTimeout("tcp", addr, time.Second)
		require.Error(t, err, "%s: connections must be refused", spec.Kind)
		require.NoError(t, f.(chaos.Healer).Heal(ctx, env))
		c, err := net.DialTimeout("tcp", addr, time.Second)
		require.NoError(t, err)
		c.Close()
	}
}

func TestDataFaults(t *testing.T) {
	ctx := context.Background()
	env, e := env(t)

	// Read-only: writes fail with 25006 until healed.
	conn, err := pgx.Connect(ctx, e.PostgresURL)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE t (id int)")
	require.NoError(t, err)
	ro := mustNew(t, chaos.Spec{Kind: "postgres-read-only"})
	require.NoError(t, ro.Start(ctx, env))
	require.Eventually(t, func() bool {
		// Probe in a transaction rolled back, so a write that still
		// succeeds before the switch applies leaves nothing behind.
		tx, err := conn.Begin(ctx)
		if err != nil {
			return false
		}
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, "INSERT INTO t VALUES (1)")
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "25006"
	}, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, ro.(chaos.Healer).Heal(ctx, env))
	require.Eventually(t, func() bool { _, err := conn.Exec(ctx, "INSERT INTO t VALUES (1)"); return err == nil }, 5*time.Second, 20*time.Millisecond)
	conn.Close(ctx)

	// Crash: the server is gone until healed; committed rows survive.
	crash := mustNew(t, chaos.Spec{Kind: "postgres-crash"})
	require.NoError(t, crash.Start(ctx, env))
	_, err = pgx.Connect(ctx, e.PostgresURL)
	require.Error(t, err)
	require.NoError(t, crash.(chaos.Healer).Heal(ctx, env))
	conn, err = pgx.Connect(ctx, e.PostgresURL)
	require.NoError(t, err)
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 1, n)
	conn.Close(ctx)

	// Redis flush.
	opt, err := goredis.ParseURL(e.RedisURL)
	require.NoError(t, err)
	rc := goredis.NewClient(opt)
	defer rc.Close()
	require.NoError(t, rc.Set(ctx, "k", "v", 0).Err())
	require.NoError(t, mustNew(t, chaos.Spec{Kind: "redis-flush"}).Start(ctx, env))
	require.ErrorIs(t, rc.Get(ctx, "k").Err(), goredis.Nil)
}

func TestNemesisTimeline(t *testing.T) {
	ctx := context.Background()
	env, e := env(t)
	var mu sync.Mutex
	var ops []history.Op
	n := chaos.NewNemesis(env, func(op history.Op) { mu.Lock(); ops = append(ops, op); mu.Unlock() })

	spec := chaos.Spec{Name: "slow-db", Kind: "latency", Target: "aws->postgres", Params: map[string]string{"latency": "100ms"}}
	// Timed to heal by itself after 3 s: long enough for the ping below
	// (a connection through the toxic takes several of its 100 ms round
	// trips) to land while it is on, on a loaded machine too.
	n.Schedule(ctx, spec, mustNew(t, spec), "stage-1", 50*time.Millisecond, 3*time.Second)
	down := chaos.Spec{Name: "cut", Kind: "link-down", Target: "heroku->redis"}
	n.Schedule(ctx, down, mustNew(t, down), "stage-1", 0, 0)

	require.Eventually(t, func() bool { return len(n.Active()) == 2 }, 2*time.Second, 5*time.Millisecond)
	aws, _ := e.For("aws")
	require.GreaterOrEqual(t, pingTime(t, aws.PostgresURL), 100*time.Millisecond)
	require.Eventually(t, func() bool { return len(n.Active()) == 1 }, 10*time.Second, 10*time.Millisecond, "timed heal")
	require.NoError(t, n.Heal(ctx, "cut"))
	require.Empty(t, n.Active())
	require.NoError(t, n.Stop(ctx))

	evs := n.Events()
	require.Len(t, evs, 2)
	for _, ev := range evs {
		require.False(t, ev.End.IsZero(), ev.Name)
		require.Empty(t, ev.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, ops, 8, "invoke+ok for each start and each heal")
	for _, op := range ops {
		require.Equal(t, history.Nemesis, op.Process)
	}
	require.Error(t, n.Heal(ctx, "nope"))
}

func TestHerokuFaultsReachTheRouter(t *testing.T) {
	ctx := context.Background()
	app, err := heroku.New(heroku.Options{Addr: "127.0.0.2:0", Seed: 1})
	require.NoError(t, err)
	defer app.Close(ctx)
	env := &chaos.Env{Heroku: app, Rand: rand.New(rand.NewPCG(1, 2))}

	get := func() (int, string) {
		resp, err := http.Get("http://" + app.Endpoint() + "/healthz")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	before, _ := get() // no release yet: the router answers by itself
	m := mustNew(t, chaos.Spec{Kind: "maintenance"})
	require.NoError(t, m.Start(ctx, env))
	code, body := get()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, strings.ToLower(body), "maintenance")
	require.NoError(t, m.(chaos.Healer).Heal(ctx, env))
	after, _ := get()
	require.Equal(t, before, after)

	for _, spec := range []chaos.Spec{
		{Kind: "flaky-router", Params: map[string]string{"rate": "0.5", "code": "H13"}, Duration: time.Second},
		{Kind: "router-timeout-burst", Params: map[string]string{"share": "0.2"}},
		{Kind: "router-restart"},
	} {
		f := mustNew(t, spec)
		require.NoError(t, f.Start(ctx, env), spec.Kind)
		if h, ok := f.(chaos.Healer); ok {
			require.NoError(t, h.Heal(ctx, env), spec.Kind)
		}
	}
	// Dyno faults need a running dyno: none here, so they say so.
	require.ErrorContains(t, mustNew(t, chaos.Spec{Kind: "dyno-crash"}).Start(ctx, env), "no running replica")
}

// slowStart is a one-shot fault whose Start takes a while (a dyno cycle
// waiting for the new process) and fails if its context ends first.
type slowStart struct {
	started chan struct{}
	took    time.Duration
}

func (f *slowStart) Start(ctx context.Context, _ *chaos.Env) error {
	close(f.started)
	select {
	case <-time.After(f.took):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A run that ends while a fault is still being put in place lets it
// finish: the dyno cycle that was still restarting when a docker-driver
// smoke run ended failed with "context canceled", the harness's doing.
// An interrupted run (ctx ended) still cancels it.
func TestStopLetsAStartUnderWayFinish(t *testing.T) {
	for _, tc := range []struct {
		name      string
		interrupt bool
		wantErr   string
	}{
		{name: "the run ends", wantErr: ""},
		{name: "the run is interrupted", interrupt: true, wantErr: "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := chaos.NewNemesis(&chaos.Env{}, func(history.Op) {})
			f := &slowStart{started: make(chan struct{}), took: 300 * time.Millisecond}
			n.Schedule(ctx, chaos.Spec{Name: "cycle", Kind: "dyno-cycle"}, f, "stage-2", 0, 0)
			<-f.started
			if tc.interrupt {
				cancel()
			}
			require.NoError(t, n.Stop(context.Background()))
			evs := n.Events()
			require.Len(t, evs, 1)
			require.Equal(t, tc.wantErr, evs[0].Error)
		})
	}
}
