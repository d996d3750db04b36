package docker

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/internal/machine"
)

// Postgres returns the database faults, acting on its container.
func (s *Stack) Postgres() stack.PostgresControl { return postgresControl{s} }

// Redis returns the cache faults, acting on its container.
func (s *Stack) Redis() stack.RedisControl { return redisControl{s} }

type postgresControl struct{ s *Stack }

// Crash kills the Postgres container (SIGKILL to the postmaster and every
// backend at once) and returns once it stopped. Its data stays in the
// container's volume; Start runs crash recovery on it.
func (p postgresControl) Crash(ctx context.Context) error {
	if err := p.s.services[stack.Postgres].ctr.Kill(ctx); err != nil {
		return fmt.Errorf("crash postgres: %w", err)
	}
	return nil
}

// Start starts the container again (same data, same host port) and waits
// until it answers queries.
func (p postgresControl) Start(ctx context.Context) error {
	svc := p.s.services[stack.Postgres]
	if err := svc.ctr.Start(ctx); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	return svc.ready(ctx)
}

// SetReadOnly turns default_transaction_read_only on or off server-wide
// (ALTER SYSTEM, then a reload) and, when turning it on, terminates every
// other client backend so no session keeps writing in a transaction opened
// before: writes then fail with SQLSTATE 25006, as during Heroku
// maintenance.
func (p postgresControl) SetReadOnly(ctx context.Context, on bool) error {
	cfg, err := pgx.ParseConfig(p.s.postgresURL(p.s.services[stack.Postgres]))
	if err != nil {
		return fmt.Errorf("set read-only: %w", err)
	}
	// This session itself must be able to write the setting back.
	cfg.RuntimeParams["default_transaction_read_only"] = "off"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("set read-only: connect: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	value := "off"
	if on {
		value = "on"
	}
	stmts := []string{
		"ALTER SYSTEM SET default_transaction_read_only = " + value,
		"SELECT pg_reload_conf()",
	}
	if on {
		stmts = append(stmts, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`)
	}
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("set read-only %s: %s: %w", value, q, err)
		}
	}
	return nil
}

type redisControl struct{ s *Stack }

// Flush drops every key (FLUSHALL).
func (r redisControl) Flush(ctx context.Context) error {
	opt, err := goredis.ParseURL(r.s.ep.RedisURL)
	if err != nil {
		return fmt.Errorf("flush redis: %w", err)
	}
	c := goredis.NewClient(opt)
	defer func() { _ = c.Close() }()
	if err := c.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("flush redis: %w", err)
	}
	return nil
}

// Restart restarts the Redis container (SIGTERM, SIGKILL after a second)
// and waits until it answers PING. It runs without persistence, so it comes
// back empty.
func (r redisControl) Restart(ctx context.Context) error {
	svc := r.s.services[stack.Redis]
	if err := svc.ctr.Restart(ctx, time.Second); err != nil {
		return fmt.Errorf("restart redis: %w", err)
	}
	return svc.ready(ctx)
}

// Processes names the stack's containers by the host pid of their init
// process, for the accounting of the rehearsal machine (a container is
// measured by its cgroup); a container that does not run is left out.
func (s *Stack) Processes() []machine.Process {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	names := make([]string, 0, len(s.services))
	for name := range s.services {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []machine.Process
	for _, name := range names {
		st, err := s.services[name].ctr.State(ctx)
		if err == nil && st.Running && st.Pid > 0 {
			out = append(out, machine.Process{Name: name, PID: st.Pid})
		}
	}
	return out
}
