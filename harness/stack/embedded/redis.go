package embedded

import (
	"context"
	"fmt"
	"sync"

	"github.com/alicebob/miniredis/v2"
)

// redis is an in-process Redis (miniredis) on a fixed loopback address. A
// restart replaces the server with an empty one on the same address, as a
// cache without persistence comes back after a restart.
type redis struct {
	addr string
	mu   sync.Mutex
	srv  *miniredis.Miniredis
}

// newMiniredis makes a server whose TTLs run down with the wall clock, as a
// real Redis's do (by default miniredis only expires keys on FastForward).
func newMiniredis() *miniredis.Miniredis {
	srv := miniredis.NewMiniRedis()
	srv.ClockTTL(true)
	return srv
}

func startRedis(host string) (*redis, error) {
	srv := newMiniredis()
	if err := srv.StartAddr(netJoin(host, 0)); err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	return &redis{addr: srv.Addr(), srv: srv}, nil
}

func (r *redis) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

// Flush drops every key.
func (r *redis) Flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv == nil {
		return fmt.Errorf("flush redis: not running")
	}
	r.srv.FlushAll()
	return nil
}

// Restart closes every connection and comes back empty on the same address.
func (r *redis) Restart(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Close()
	}
	srv := newMiniredis()
	if err := srv.StartAddr(r.addr); err != nil {
		r.srv = nil
		return fmt.Errorf("restart redis on %s: %w", r.addr, err)
	}
	r.srv = srv
	return nil
}
