package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/cache"
	"github.com/cutover/cutover/couponapi/voucher"
)

// startRedis runs an in-process Redis whose TTLs follow the clock, as a
// real Redis's do.
func startRedis(t *testing.T) *miniredis.Miniredis {
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	require.NoError(t, m.StartAddr("127.0.0.1:0"))
	t.Cleanup(m.Close)
	return m
}

func TestCache(t *testing.T) {
	m := startRedis(t)
	ctx := context.Background()
	c, err := cache.New("redis://"+m.Addr()+"/0", cache.Options{})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Ping(ctx))

	_, ok := c.Voucher(ctx, "A")
	require.False(t, ok)
	c.PutVoucher(ctx, voucher.Voucher{Code: "A", RedeemedQuantity: 3}, time.Minute)
	v, ok := c.Voucher(ctx, "A")
	require.True(t, ok)
	require.EqualValues(t, 3, v.RedeemedQuantity)
	c.Committed(ctx, "", "", nil, "A")
	_, ok = c.Voucher(ctx, "A")
	require.False(t, ok)
	c.PutVoucher(ctx, voucher.Voucher{Code: "B"}, 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	_, ok = c.Voucher(ctx, "B")
	require.False(t, ok, "the TTL bounds a cached voucher")

	// The bound holds even where Redis does not run TTLs down.
	m.ClockTTL(false)
	c.PutVoucher(ctx, voucher.Voucher{Code: "C"}, 50*time.Millisecond)
	_, ok = c.Voucher(ctx, "C")
	require.True(t, ok)
	time.Sleep(100 * time.Millisecond)
	_, ok = c.Voucher(ctx, "C")
	require.False(t, ok, "an entry past its bound is a miss")

	c.Committed(ctx, "app", "k", &cache.Answer{Hash: []byte{1, 2}, Status: 200, Body: []byte(`{"id":"r_1"}`)}, "")
	a, ok := c.Answer(ctx, "app", "k")
	require.True(t, ok)
	require.Equal(t, 200, a.Status)
	_, ok = c.Answer(ctx, "other-app", "k")
	require.False(t, ok)

	// After a redemption: the answer stored and the voucher forgotten at once.
	c.PutVoucher(ctx, voucher.Voucher{Code: "D"}, time.Minute)
	c.Committed(ctx, "app", "k2", &cache.Answer{Status: 200, Body: []byte(`{"id":"r_2"}`)}, "D")
	_, ok = c.Voucher(ctx, "D")
	require.False(t, ok)
	a, ok = c.Answer(ctx, "app", "k2")
	require.True(t, ok)
	require.JSONEq(t, `{"id":"r_2"}`, string(a.Body))

	allowed := 0
	for range 10 {
		if c.Allow(ctx, "limited", 4) {
			allowed++
		}
	}
	require.GreaterOrEqual(t, allowed, 4)
	require.Less(t, allowed, 10)
	m.FlushAll()
	_, ok = c.Answer(ctx, "app", "k")
	require.False(t, ok)
}

// TestCacheFailsOpen: with Redis unreachable every call returns at once
// with "miss" or "allowed".
func TestCacheFailsOpen(t *testing.T) {
	c, err := cache.New("redis://127.0.0.1:1/0", cache.Options{Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	start := time.Now()
	_, ok := c.Voucher(ctx, "A")
	require.False(t, ok)
	c.PutVoucher(ctx, voucher.Voucher{Code: "A"}, time.Second)
	c.Committed(ctx, "", "", nil, "A")
	require.True(t, c.Allow(ctx, "app", 1))
	require.Error(t, c.Ping(ctx))
	require.Less(t, time.Since(start), 2*time.Second)
	_, err = cache.New("http://nope", cache.Options{})
	require.ErrorContains(t, err, "REDIS_URL")
}
