package embedded_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/embedded"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

// When this variable is set the test binary acts as a harness that starts a
// stack, prints its endpoints and waits to be killed (see TestOrphans).
const childEnv = "CUTOVER_EMBEDDED_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		s, err := embedded.Start(context.Background(), stack.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		out := struct {
			stack.Endpoints
			Dir string `json:"dir"`
		}{s.Endpoints(), s.Dir()}
		_ = json.NewEncoder(os.Stdout).Encode(out)
		select {} // until killed
	}
	os.Exit(m.Run())
}

func TestStartAndCheck(t *testing.T) {
	s := stacktest.Embedded(t)
	e := s.Endpoints()
	require.Equal(t, "embedded", e.Driver)
	require.Len(t, e.Links, len(stack.DefaultClients)*len(stack.DataServices))
	for _, name := range []string{"heroku->postgres", "heroku->redis", "heroku->mongo", "aws->postgres", "aws->redis", "aws->mongo"} {
		require.Contains(t, e.Links, name)
	}
	hs := stack.Check(context.Background(), e)
	require.NoError(t, stack.Healthy(hs))
	require.Len(t, hs, 4+len(e.Links))

	urls, err := e.For("heroku")
	require.NoError(t, err)
	require.Contains(t, urls.PostgresURL, e.Links["heroku->postgres"].Listen)
	require.Contains(t, urls.PostgresURL, "/"+embedded.Database)

	// The same database as the docker driver's: initdb --locale=C.
	conn, err := pgx.Connect(context.Background(), e.PostgresURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var collate string
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT datcollate FROM pg_database WHERE datname = current_database()").Scan(&collate))
	require.Equal(t, "C", collate)
}

func TestTwoStacksDoNotCollide(t *testing.T) {
	a := stacktest.Embedded(t)
	b := stacktest.Embedded(t)
	ea, eb := a.Endpoints(), b.Endpoints()
	require.NotEqual(t, ea.PostgresURL, eb.PostgresURL)
	require.NotEqual(t, ea.RedisURL, eb.RedisURL)
	require.NotEqual(t, ea.MongoURL, eb.MongoURL)
	require.NotEqual(t, a.Dir(), b.Dir())
	require.NoError(t, stack.Healthy(stack.Check(context.Background(), eb)))
}

func exec1(t *testing.T, ctx context.Context, url, sql string, args ...any) error {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

func count(t *testing.T, ctx context.Context, url string) int {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	return n
}

func TestPostgresCrashKeepsCommittedRows(t *testing.T) {
	ctx := context.Background()
	s := stacktest.Embedded(t)
	url := s.Endpoints().PostgresURL
	require.NoError(t, exec1(t, ctx, url, "CREATE TABLE t (id int primary key)"))
	for i := range 10 {
		require.NoError(t, exec1(t, ctx, url, "INSERT INTO t VALUES ($1)", i))
	}
	pid := s.Endpoints().Services[0].PID
	require.NotZero(t, pid)

	require.NoError(t, s.Postgres().Crash(ctx))
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "postmaster must be gone after a crash")
	require.Error(t, exec1(t, ctx, url, "SELECT 1"), "a crashed server must not answer")

	require.NoError(t, s.Postgres().Start(ctx))
	require.Equal(t, 10, count(t, ctx, url), "acknowledged commits survive a crash")
	require.NoError(t, exec1(t, ctx, url, "INSERT INTO t VALUES (10)"))
}

func TestPostgresReadOnly(t *testing.T) {
	ctx := context.Background()
	s := stacktest.Embedded(t)
	url := s.Endpoints().PostgresURL
	require.NoError(t, exec1(t, ctx, url, "CREATE TABLE t (id int primary key)"))

	// A session opened before the switch is affected too.
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)

	require.NoError(t, s.Postgres().SetReadOnly(ctx, true))
	require.Eventually(t, func() bool {
		// Probe in a transaction rolled back, so a write that still
		// succeeds before the switch applies leaves nothing behind.
		tx, err := conn.Begin(ctx)
		if err != nil {
			return false
		}
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, "INSERT INTO t VALUES (1)")
		var pgErr *pgconn.PgError
		return errors.As(err, &pgErr) && pgErr.Code == "25006"
	}, 5*time.Second, 20*time.Millisecond, "writes must fail with SQLSTATE 25006")
	require.Equal(t, 0, count(t, ctx, url))

	require.NoError(t, s.Postgres().SetReadOnly(ctx, false))
	require.Eventually(t, func() bool {
		_, err := conn.Exec(ctx, "INSERT INTO t VALUES (2)")
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
}

func TestRedisRestartLosesData(t *testing.T) {
	ctx := context.Background()
	s := stacktest.Embedded(t)
	opt, err := goredis.ParseURL(s.Endpoints().RedisURL)
	require.NoError(t, err)
	c := goredis.NewClient(opt)
	defer c.Close()

	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	require.NoError(t, s.Redis().Flush(ctx))
	require.ErrorIs(t, c.Get(ctx, "k").Err(), goredis.Nil)

	require.NoError(t, c.Set(ctx, "ttl", "v", 200*time.Millisecond).Err())
	require.Eventually(t, func() bool { return errors.Is(c.Get(ctx, "ttl").Err(), goredis.Nil) },
		3*time.Second, 20*time.Millisecond, "TTLs run down with the wall clock, as in a real Redis")

	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	require.NoError(t, s.Redis().Restart(ctx))
	require.Eventually(t, func() bool { return errors.Is(c.Get(ctx, "k").Err(), goredis.Nil) },
		5*time.Second, 20*time.Millisecond, "a restarted cache comes back empty on the same address")
}

func TestCloseLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s, err := embedded.Start(ctx, stack.Options{})
	require.NoError(t, err)
	pid := s.Endpoints().Services[0].PID
	dir := s.Dir()
	require.NoError(t, s.Close(ctx))
	require.NoError(t, s.Close(ctx), "Close is idempotent")
	require.ErrorIs(t, syscall.Kill(-pid, 0), syscall.ESRCH, "no postgres process left")
	_, err = os.Stat(dir)
	require.True(t, os.IsNotExist(err), "temp dir removed")
}

// TestOrphans kills a harness process with SIGKILL and checks that the
// Postgres it started and its temp dir go away on their own.
func TestOrphans(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second stack in a child process; skipped in -short")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var got struct {
		stack.Endpoints
		Dir string `json:"dir"`
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(line, &got))
	pid, redisPID := got.Services[0].PID, got.Services[1].PID
	require.NotZero(t, pid)
	require.NotZero(t, redisPID)
	require.NoError(t, syscall.Kill(pid, 0), "postgres runs while the harness lives")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	require.Eventually(t, func() bool { return errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH) },
		10*time.Second, 50*time.Millisecond, "postgres process group must die with the harness")
	require.Eventually(t, func() bool { return errors.Is(syscall.Kill(-redisPID, 0), syscall.ESRCH) },
		10*time.Second, 50*time.Millisecond, "redis-server must die with the harness")
	require.Eventually(t, func() bool { _, err := os.Stat(got.Dir); return os.IsNotExist(err) },
		10*time.Second, 50*time.Millisecond, "temp dir must be removed")
	require.Eventually(t, func() bool {
		return stack.Healthy(stack.Check(context.Background(), stack.Endpoints{PostgresURL: got.PostgresURL})) != nil
	},
		10*time.Second, 50*time.Millisecond, "postgres port must be closed")
}

// BenchmarkStackUp measures the time until every service of an embedded
// stack is healthy (target: under 3 s on 2 cores).
func BenchmarkStackUp(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		t0 := time.Now()
		s, err := embedded.Start(ctx, stack.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := stack.Healthy(stack.Check(ctx, s.Endpoints())); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s/up")
		b.StopTimer()
		_ = s.Close(ctx)
		b.StartTimer()
	}
}
