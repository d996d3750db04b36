package shard

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSizeFollowsTheRateAndTheMeasuredCapacity(t *testing.T) {
	c := Capacity{CPUPerRequest: time.Millisecond, PeakRSS: 60 << 20}
	for _, tc := range []struct {
		name      string
		rate      float64
		shards    int
		wantMilli int64
	}{
		// 1,000 req/s over 2 shards, 1.5× for an uneven split: 750 req/s
		// at 1 ms each.
		{"two shards", 1000, 2, 750},
		{"four shards", 1000, 4, 375},
		{"twice the rate", 2000, 4, 750},
		{"an idle trace keeps a floor", 1, 2, minMilliCPU},
		{"no shard count is one", 100, 0, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := c.Size(tc.rate, tc.shards)
			require.Equal(t, tc.wantMilli, s.MilliCPU)
			require.Equal(t, max(4*tc.wantMilli, 1000), s.MilliCPULimit, "the limit is above the request")
			require.Equal(t, int64(120<<20), s.Memory, "twice the measured peak")
			require.Equal(t, 8*s.Memory, s.MemoryLimit)
			require.Equal(t, c.CPUPerRequest, s.PerRequest)
		})
	}
	require.Equal(t, int64(2), Measured().Size(1000, 1).MilliCPU/Measured().Size(1000, 2).MilliCPU, "the CPU request halves with twice the shards")
}

func TestSizingCheckSaysWhereAWorkerNeededMore(t *testing.T) {
	s := Capacity{CPUPerRequest: 1100 * time.Microsecond, PeakRSS: 62 << 20}.Size(500, 2)
	for _, tc := range []struct {
		name string
		used Capacity
		want string
	}{
		{"within", Capacity{CPUPerRequest: time.Millisecond, PeakRSS: 80 << 20}, ""},
		{"cpu", Capacity{CPUPerRequest: 1600 * time.Microsecond, PeakRSS: 80 << 20}, "used 1.60 ms of CPU per request where its CPU request assumed 1.10 ms"},
		{"memory", Capacity{CPUPerRequest: time.Millisecond, PeakRSS: 200 << 20}, "used 200 MiB of memory where its pod asked for 124 MiB"},
		{"both", Capacity{CPUPerRequest: 2 * time.Millisecond, PeakRSS: 200 << 20}, "used 2.00 ms of CPU per request where its CPU request assumed 1.10 ms and 200 MiB of memory where its pod asked for 124 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, s.Check(tc.used))
		})
	}
}
