package chaos

import (
	"context"
	"fmt"
	"time"
)

// postgresCrash kills the database server; healing starts it again on the
// same data. With no duration it is restarted right away (a crash and
// recovery, as a Heroku Postgres process failure rebooted in place).
type postgresCrash struct{}

var _ Healer = postgresCrash{}

func newPostgresCrash(p params, target string, dur time.Duration) (Fault, error) {
	return postgresCrash{}, nil
}

func (postgresCrash) Start(ctx context.Context, env *Env) error {
	if env.Stack == nil {
		return fmt.Errorf("no stack in this run")
	}
	return env.Stack.Postgres().Crash(ctx)
}

func (postgresCrash) Heal(ctx context.Context, env *Env) error {
	return env.Stack.Postgres().Start(ctx)
}

// postgresReadOnly makes every transaction read-only until healed.
type postgresReadOnly struct{}

var _ Healer = postgresReadOnly{}

func newPostgresReadOnly(p params, target string, dur time.Duration) (Fault, error) {
	return postgresReadOnly{}, nil
}

func (postgresReadOnly) Start(ctx context.Context, env *Env) error {
	if env.Stack == nil {
		return fmt.Errorf("no stack in this run")
	}
	return env.Stack.Postgres().SetReadOnly(ctx, true)
}

func (postgresReadOnly) Heal(ctx context.Context, env *Env) error {
	return env.Stack.Postgres().SetReadOnly(ctx, false)
}

// redisFlush drops every key (one-shot).
type redisFlush struct{}

func newRedisFlush(p params, target string, dur time.Duration) (Fault, error) {
	return redisFlush{}, nil
}

func (redisFlush) Start(ctx context.Context, env *Env) error {
	if env.Stack == nil {
		return fmt.Errorf("no stack in this run")
	}
	return env.Stack.Redis().Flush(ctx)
}

// redisRestart restarts the cache empty (one-shot).
type redisRestart struct{}

func newRedisRestart(p params, target string, dur time.Duration) (Fault, error) {
	return redisRestart{}, nil
}

func (redisRestart) Start(ctx context.Context, env *Env) error {
	if env.Stack == nil {
		return fmt.Errorf("no stack in this run")
	}
	return env.Stack.Redis().Restart(ctx)
}
