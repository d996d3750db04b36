// Package cache is couponapi's Redis side: the validate cache, the
// idempotency fast path and per-application rate limits. Nothing here
// decides a redemption — Postgres does — so every call fails open: an
// unreachable or flushed Redis costs latency, never correctness.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cutover/cutover/couponapi/voucher"
)

// Options bound every Redis call.
type Options struct {
	// Timeout bounds each command, dial included (default 250ms).
	Timeout time.Duration
	// IdempotencyTTL is how long a stored answer stays on the fast path
	// (default 24h).
	IdempotencyTTL time.Duration
	// PoolSize is the most connections (default 10).
	PoolSize int
	Log      *slog.Logger
}

// Cache is a Redis client with couponapi's keys.
type Cache struct {
	rdb *redis.Client
	o   Options

	mu         sync.Mutex
	lastWarn   time.Time
	suppressed int
}

const prefix = "couponapi:"

// New configures a client for redisURL (redis:// or rediss://). It does not
// connect.
func New(redisURL string, o Options) (*Cache, error) {
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = 24 * time.Hour
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 10
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	opt.DialTimeout = o.Timeout
	opt.ReadTimeout = o.Timeout
	opt.WriteTimeout = o.Timeout
	opt.PoolTimeout = o.Timeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	opt.PoolSize = o.PoolSize
	opt.DisableIdentity = true
	return &Cache{rdb: redis.NewClient(opt), o: o}, nil
}

// Close closes the connections.
func (c *Cache) Close() error { return c.rdb.Close() }

// Ping checks that Redis answers.
func (c *Cache) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// warn logs a failed call, at most once a second so an outage does not
// flood the log.
func (c *Cache) warn(op string, err error) {
	c.mu.Lock()
	now := time.Now()
	if now.Sub(c.lastWarn) < time.Second {
		c.suppressed++
		c.mu.Unlock()
		return
	}
	n := c.suppressed
	c.lastWarn, c.suppressed = now, 0
	c.mu.Unlock()
	c.o.Log.Warn("redis call failed, continuing without cache", "op", op, "err", err, "suppressed", n)
}

func (c *Cache) get(ctx context.Context, op, key string, into any) bool {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	b, err := c.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return false
	}
	if err != nil {
		c.warn(op, err)
		return false
	}
	if err := json.Unmarshal(b, into); err != nil {
		c.warn(op, fmt.Errorf("decode %s: %w", key, err))
		return false
	}
	return true
}

func (c *Cache) set(ctx context.Context, op, key string, v any, ttl time.Duration) {
	b, err := json.Marshal(v)
	if err != nil {
		c.warn(op, err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	if err := c.rdb.Set(ctx, key, b, ttl).Err(); err != nil {
		c.warn(op, err)
	}
}

func voucherKey(code string) string { return prefix + "voucher:" + code }

// cachedVoucher is a voucher with the end of its validity, so the bound
// holds even on a Redis whose TTLs lag (or, like an embedded test Redis,
// never run down).
type cachedVoucher struct {
	Voucher voucher.Voucher `json:"voucher"`
	Until   time.Time       `json:"until"`
}

// Voucher returns the cached state of voucher code, if any and not older
// than the ttl it was put with.
func (c *Cache) Voucher(ctx context.Context, code string) (voucher.Voucher, bool) {
	var cv cachedVoucher
	if !c.get(ctx, "get voucher", voucherKey(code), &cv) || !time.Now().Before(cv.Until) {
		return voucher.Voucher{}, false
	}
	return cv.Voucher, true
}

// PutVoucher caches v for ttl. The ttl is the hard bound on how long
// validate can answer from a state older than Postgres'.
func (c *Cache) PutVoucher(ctx context.Context, v voucher.Voucher, ttl time.Duration) {
	c.set(ctx, "put voucher", voucherKey(v.Code), cachedVoucher{Voucher: v, Until: time.Now().Add(ttl)}, ttl)
}

// Answer is a stored idempotent answer on the fast path.
type Answer struct {
	Hash   []byte `json:"hash"`
	Status int    `json:"status"`
	Body   []byte `json:"body"`
}

func idemKey(appID, key string) string { return prefix + "idem:" + appID + ":" + key }

// Answer returns the stored answer of an Idempotency-Key, if the fast path
// has it.
func (c *Cache) Answer(ctx context.Context, appID, key string) (Answer, bool) {
	var a Answer
	ok := c.get(ctx, "get idempotent answer", idemKey(appID, key), &a)
	return a, ok
}

// Committed does what follows a commit in one round trip: it stores the
// answer of Idempotency-Key key on the fast path (when a is not nil) and
// drops the cached state of voucher forget (when not empty).
func (c *Cache) Committed(ctx context.Context, appID, key string, a *Answer, forget string) {
	var answer []byte
	if a != nil {
		var err error
		if answer, err = json.Marshal(a); err != nil {
			c.warn("put idempotent answer", err)
			a = nil
		}
	}
	if a == nil && forget == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	if a != nil {
		pipe.Set(ctx, idemKey(appID, key), answer, c.o.IdempotencyTTL)
	}
	if forget != "" {
		pipe.Del(ctx, voucherKey(forget))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		c.warn("after commit", err)
	}
}

// Allow counts one request of appID in the current second and reports
// whether it stays within perSecond. It allows when Redis fails.
func (c *Cache) Allow(ctx context.Context, appID string, perSecond int) bool {
	if perSecond <= 0 {
		return true
	}
	key := prefix + "rate:" + appID + ":" + strconv.FormatInt(time.Now().Unix(), 10)
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	pipe := c.rdb.TxPipeline()
	incr := pipe.Incr(ctx, key)
	pipe.Expire(ctx, key, 2*time.Second)
	if _, err := pipe.Exec(ctx); err != nil {
		c.warn("rate limit", err)
		return true
	}
	return incr.Val() <= int64(perSecond)
}
