package dnsmodel_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/internal/dnsmodel"
)

// BenchmarkAddress measures the per-request cost of the model on its hot
// path (a client with a cached answer, keep-alive on) and reports it as a
// ratio to a baseline measured in the same run: a map lookup under a mutex,
// the least any per-client cache costs.
func BenchmarkAddress(b *testing.B) {
	for _, mode := range []struct {
		name    string
		clients int
	}{{"per-id", 0}, {"hashed", 256}} {
		b.Run(mode.name, func(b *testing.B) {
			c := newCutover(b, 1)
			cfg := dnsmodel.Config{Clients: mode.clients, KeepAlive: time.Hour, Targets: targets}
			m, err := dnsmodel.New(cfg, dnsmodel.NewDNSSource(c.srv.DNSAddr(), apiName, false), 1)
			require.NoError(b, err)
			m.SetConfigured(t0, "bench", map[string]int{"heroku": 100, "aws": 0})
			ids := make([]string, 1000)
			for i := range ids {
				ids[i] = fmt.Sprintf("terminal-%04d", i)
				_, err := m.Address(context.Background(), ids[i], t0) // warm: resolve once
				require.NoError(b, err)
			}

			baseline := measureBaseline(b.N, ids)
			ctx := context.Background()
			now := t0.Add(time.Second)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := m.Address(ctx, ids[i%len(ids)], now); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(elapsed)/float64(baseline), "x-baseline")
		})
	}
}

// measureBaseline times n lookups of a per-client address in a map under a
// mutex.
func measureBaseline(n int, ids []string) time.Duration {
	var mu sync.Mutex
	cache := make(map[string]netip.Addr, len(ids))
	for _, id := range ids {
		cache[id] = herokuIP
	}
	var sink netip.Addr
	start := time.Now()
	for i := 0; i < n; i++ {
		mu.Lock()
		sink = cache[ids[i%len(ids)]]
		mu.Unlock()
	}
	elapsed := time.Since(start)
	if !sink.IsValid() {
		panic("baseline lookup missed")
	}
	return max(elapsed, time.Nanosecond)
}

// BenchmarkAddressParallel is the hot path from many goroutines, as the
// replayer calls it.
func BenchmarkAddressParallel(b *testing.B) {
	c := newCutover(b, 1)
	m, err := dnsmodel.New(dnsmodel.Config{KeepAlive: time.Hour, Targets: targets}, dnsmodel.NewDNSSource(c.srv.DNSAddr(), apiName, false), 1)
	require.NoError(b, err)
	m.SetConfigured(t0, "bench", map[string]int{"heroku": 100, "aws": 0})
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("terminal-%04d", i)
		_, err := m.Address(context.Background(), ids[i], t0)
		require.NoError(b, err)
	}
	now := t0.Add(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		i := 0
		for pb.Next() {
			if _, err := m.Address(ctx, ids[i%len(ids)], now); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
