package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cutover/cutover/internal/proc"
)

// redis is a local redis-server without persistence: a restart comes back
// empty, as a restarted cache does. A real server (rather than an
// in-process fake) expires keys on its own clock and spends none of the
// harness's CPU.
type redis struct {
	*server
}

// findRedis returns the redis-server binary.
func findRedis() (string, error) {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redis-server not found on PATH: install it (Debian: apt-get install redis-server, or `make deps`)")
	}
	return p, nil
}

func newRedis(bin, dir, host string, port int, logOut io.Writer) *redis {
	r := &redis{}
	r.server = &server{
		name:   "redis",
		addr:   netJoin(host, port),
		runner: proc.Local{Dir: dir},
		logOut: logOut,
		ready:  r.ping,
		spec: proc.Spec{Name: "redis", Command: []string{
			bin,
			"--port", strconv.Itoa(port),
			"--bind", host,
			"--save", "",
			"--appendonly", "no",
			"--protected-mode", "no",
			"--dir", dir,
			"--loglevel", "warning",
		}},
	}
	return r
}

func (r *redis) url() string { return "redis://" + r.addr + "/0" }

func (r *redis) client() *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: r.addr, DialTimeout: time.Second})
}

func (r *redis) ping(ctx context.Context) error {
	c := r.client()
	defer func() { _ = c.Close() }()
	return c.Ping(ctx).Err()
}

// Flush drops every key.
func (r *redis) Flush(ctx context.Context) error {
	c := r.client()
	defer func() { _ = c.Close() }()
	if err := c.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("flush redis: %w", err)
	}
	return nil
}

// Restart stops the server and starts it again on the same address, empty.
func (r *redis) Restart(ctx context.Context) error {
	if err := r.stop(syscall.SIGTERM, 5*time.Second); err != nil {
		return fmt.Errorf("restart redis: %w", err)
	}
	if err := r.start(ctx); err != nil {
		return fmt.Errorf("restart redis: %w", err)
	}
	return nil
}
