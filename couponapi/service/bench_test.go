package service_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/client"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

// batch runs n calls of fn from workers goroutines and returns each
// call's latency and the wall time.
func batch(b *testing.B, n, workers int, fn func(i int) error) ([]time.Duration, time.Duration) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := fn(i); err != nil {
					failed.Store(err)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatalf("call failed: %v", err)
	}
	return lat, time.Since(start)
}

func pct(lat []time.Duration, p float64) float64 {
	s := slices.Clone(lat)
	slices.Sort(s)
	return float64(s[int(float64(len(s)-1)*p)].Microseconds()) / 1000
}

// BenchmarkRedeem measures redemption throughput and latency of one
// couponapi process (pool of 10 connections, as on a dyno) on the embedded
// stack, with 32 concurrent clients, each iteration 2000 redemptions; and,
// side by side, the same load of GET /v1/vouchers/{code} (one indexed read
// through the same HTTP stack) as the baseline the ratios refer to.
// "hot" redeems one voucher (every redemption queues on its row lock);
// "spread" redeems 200 vouchers.
func BenchmarkRedeem(b *testing.B) {
	ctx := context.Background()
	for _, bc := range []struct {
		name     string
		vouchers int
	}{{"hot", 1}, {"spread", 200}} {
		b.Run(bc.name, func(b *testing.B) {
			// A stack and a process of its own, so one case does not pay
			// for the state the other left behind.
			st := stacktest.Embedded(b)
			inst := couponapitest.Start(b, st.Endpoints(), map[string]string{"LOG_LEVEL": "warn", "DB_TIMEOUT": "20s"})
			c := client.New(inst.URL, couponapitest.AppID, couponapitest.AppToken)
			c.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
			for v := range bc.vouchers {
				if _, err := c.CreateVoucher(ctx, couponapitest.Voucher(fmt.Sprintf("BENCH-%s-%d", bc.name, v), 0, 100)); err != nil {
					b.Fatal(err)
				}
			}
			const n, workers = 2000, 32
			var redeemLat, getLat []time.Duration
			var redeemWall, getWall time.Duration
			b.ResetTimer()
			for it := 0; it < b.N; it++ {
				lat, wall := batch(b, n, workers, func(i int) error {
					code := fmt.Sprintf("BENCH-%s-%d", bc.name, i%bc.vouchers)
					_, err := c.Redeem(ctx, code, fmt.Sprintf("%s-%d-%d", bc.name, it, i),
						api.RedeemRequest{Customer: api.Customer{SourceID: "bench"}, Order: api.Order{ID: fmt.Sprint(i), Amount: 1000}})
					return err
				})
				redeemLat, redeemWall = append(redeemLat, lat...), redeemWall+wall
				lat, wall = batch(b, n, workers, func(i int) error {
					_, err := c.Voucher(ctx, fmt.Sprintf("BENCH-%s-%d", bc.name, i%bc.vouchers))
					return err
				})
				getLat, getWall = append(getLat, lat...), getWall+wall
			}
			b.StopTimer()
			rps := float64(len(redeemLat)) / redeemWall.Seconds()
			getRPS := float64(len(getLat)) / getWall.Seconds()
			b.ReportMetric(rps, "redemptions/s")
			b.ReportMetric(pct(redeemLat, 0.50), "p50_ms")
			b.ReportMetric(pct(redeemLat, 0.99), "p99_ms")
			b.ReportMetric(getRPS, "baseline_gets/s")
			b.ReportMetric(pct(getLat, 0.99), "baseline_p99_ms")
			b.ReportMetric(rps/getRPS, "throughput_vs_get")
			b.ReportMetric(pct(redeemLat, 0.99)/pct(getLat, 0.99), "p99_vs_get")
			b.ReportMetric(0, "ns/op")
		})
	}
}
