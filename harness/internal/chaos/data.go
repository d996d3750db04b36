package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/cutover/cutover/harness/stack"
)

// postgresCrash kills the database server; healing starts it again on the
// same data. With no duration it is restarted right away (a crash and
// recovery, as a Heroku Postgres process failure rebooted in place).
type postgresCrash struct {
	// down says a connection to the server was refused right after the
	// kill: the harness saw the database gone.
	down     bool
	downWhy  string
	healedAt time.Time
}

var _ Healer = (*postgresCrash)(nil)

func newPostgresCrash(p params, target string, dur time.Duration) (Fault, error) {
	return &postgresCrash{}, nil
}

func (c *postgresCrash) Start(ctx context.Context, env *Env) error {
	if env.Stack == nil {
		return fmt.Errorf("no stack in this run")
	}
	if err := env.Stack.Postgres().Crash(ctx); err != nil {
		return err
	}
	c.down, c.downWhy = postgresDown(ctx, env.Stack.Endpoints().PostgresURL)
	return nil
}

func (c *postgresCrash) Heal(ctx context.Context, env *Env) error {
	c.healedAt = time.Now()
	return env.Stack.Postgres().Start(ctx)
}

// postgresDown connects to the server directly and reports whether it is
// gone, and how the attempt ended.
func postgresDown(ctx context.Context, rawURL string) (bool, string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false, err.Error()
	}
	_, err = roundTrip(ctx, u.Host, stack.Postgres)
	if err == nil {
		return false, "the server still answered"
	}
	var ne net.Error
	if f := failureOf(err); f == "refused" || f == "reset" || (errors.As(err, &ne) && !ne.Timeout()) {
		return true, "connection " + f
	}
	return false, err.Error()
}

// postgresReadOnly makes every transaction read-only until healed.
type postgresReadOnly struct {
	// confirmed says the server reported default_transaction_read_only on
	// once the fault started.
	confirmed bool
}

var _ Healer = (*postgresReadOnly)(nil)

func newPostgresReadOnly(p params, target string, dur time.Duration) (Fault, error) {
	return &postgresReadOnly{}, nil
}

func (r *postgresReadOnly) Start(ctx context.Context, env *Env) error {
	if env.Stack == nil {
		return fmt.Errorf("no stack in this run")
	}
	if err := env.Stack.Postgres().SetReadOnly(ctx, true); err != nil {
		return err
	}
	v, err := postgresSetting(ctx, env.Stack.Endpoints().PostgresURL, "default_transaction_read_only")
	if err != nil {
		return fmt.Errorf("check read-only mode: %w", err)
	}
	r.confirmed = v == "on"
	return nil
}

func (r *postgresReadOnly) Heal(ctx context.Context, env *Env) error {
	return env.Stack.Postgres().SetReadOnly(ctx, false)
}

// postgresSetting reads one setting from a new session.
func postgresSetting(ctx context.Context, rawURL, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var v string
	if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
		return "", err
	}
	return v, nil
}

// redisFlush drops every key (one-shot).
type redisFlush struct{ before, after int64 }

func newRedisFlush(p params, target string, dur time.Duration) (Fault, error) {
	return &redisFlush{}, nil
}

func (f *redisFlush) Start(ctx context.Context, env *Env) error {
	if env.Stack == nil {
		return fmt.Errorf("no stack in this run")
	}
	rc, err := redisClient(env)
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	if f.before, err = rc.DBSize(ctx).Result(); err != nil {
		return fmt.Errorf("count redis keys: %w", err)
	}
	if err := env.Stack.Redis().Flush(ctx); err != nil {
		return err
	}
	if f.after, err = rc.DBSize(ctx).Result(); err != nil {
		return fmt.Errorf("count redis keys: %w", err)
	}
	return nil
}

// redisRestart restarts the cache empty (one-shot).
type redisRestart struct{ before, after string }

func newRedisRestart(p params, target string, dur time.Duration) (Fault, error) {
	return &redisRestart{}, nil
}

func (r *redisRestart) Start(ctx context.Context, env *Env) error {
	if env.Stack == nil {
		return fmt.Errorf("no stack in this run")
	}
	r.before = redisRunID(ctx, env)
	if err := env.Stack.Redis().Restart(ctx); err != nil {
		return err
	}
	r.after = redisRunID(ctx, env)
	return nil
}

func redisClient(env *Env) (*redis.Client, error) {
	opts, err := redis.ParseURL(env.Stack.Endpoints().RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	return redis.NewClient(opts), nil
}

// redisRunID is the server's run_id (a new one at every start), or "".
func redisRunID(ctx context.Context, env *Env) string {
	rc, err := redisClient(env)
	if err != nil {
		return ""
	}
	defer func() { _ = rc.Close() }()
	info, err := rc.Info(ctx, "server").Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v
		}
	}
	return ""
}
