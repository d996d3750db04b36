package server

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestKeyLimitBoundsEachKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limit   int
		keys    []string
		perKey  int
		wantMax int
	}{
		{name: "one key, one slot", limit: 1, keys: []string{"A"}, perKey: 20, wantMax: 1},
		{name: "one key, two slots", limit: 2, keys: []string{"A"}, perKey: 20, wantMax: 2},
		{name: "keys do not share slots", limit: 1, keys: []string{"A", "B", "C"}, perKey: 10, wantMax: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newKeyLimit(tc.limit)
			inside := map[string]*atomic.Int32{}
			peak := map[string]*atomic.Int32{}
			for _, k := range tc.keys {
				inside[k], peak[k] = &atomic.Int32{}, &atomic.Int32{}
			}
			var wg sync.WaitGroup
			for _, k := range tc.keys {
				for range tc.perKey {
					wg.Go(func() {
						release, err := l.acquire(context.Background(), k)
						require.NoError(t, err)
						n := inside[k].Add(1)
						for {
							p := peak[k].Load()
							if n <= p || peak[k].CompareAndSwap(p, n) {
								break
							}
						}
						time.Sleep(time.Millisecond)
						inside[k].Add(-1)
						release()
					})
				}
			}
			wg.Wait()
			for _, k := range tc.keys {
				require.EqualValues(t, tc.wantMax, peak[k].Load(), "most holders of %s at once", k)
			}
			require.Zero(t, l.keys(), "no entry is left once every holder released")
		})
	}
}

func TestKeyLimitWaitEndsWithTheContext(t *testing.T) {
	l := newKeyLimit(1)
	release, err := l.acquire(context.Background(), "A")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = l.acquire(ctx, "A")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, 1, l.keys(), "the holder keeps its entry")
	release()
	require.Zero(t, l.keys())
}
