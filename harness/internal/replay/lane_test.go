package replay

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// laneProbe is what a test lane's workers did.
type laneProbe struct {
	mu             sync.Mutex
	sent, dropped  []uint64
	inFlight, peak int
	release        chan struct{} // when set, a send waits for it
	reachedN       atomic.Int64
}

func (pr *laneProbe) lane(workers int) *lane {
	return newLane(workers, func(_ context.Context, p *planned) {
		pr.mu.Lock()
		pr.inFlight++
		pr.peak = max(pr.peak, pr.inFlight)
		pr.sent = append(pr.sent, p.seq)
		pr.mu.Unlock()
		if pr.release != nil {
			<-pr.release
		}
		pr.mu.Lock()
		pr.inFlight--
		pr.mu.Unlock()
	}, func(p *planned) {
		pr.mu.Lock()
		pr.dropped = append(pr.dropped, p.seq)
		pr.mu.Unlock()
	}, func(time.Duration) { pr.reachedN.Add(1) })
}

func plannedN(n int) []planned {
	ps := make([]planned, n)
	for i := range ps {
		ps[i] = planned{seq: uint64(i), intended: time.Now()}
	}
	return ps
}

// TestLaneReusesItsWorkers: a lane starts a worker only when a request
// finds none idle, never more than its cap, sends every request once,
// and counts each as reached once.
func TestLaneReusesItsWorkers(t *testing.T) {
	for _, tc := range []struct {
		name        string
		max, n      int
		oneByOne    bool // each request added once the one before was sent
		wantStarted int
	}{
		{name: "all due at once", max: 4, n: 500, wantStarted: 4},
		{name: "one at a time", max: 4, n: 50, oneByOne: true, wantStarted: 1},
		{name: "cap of one", max: 1, n: 100, wantStarted: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := &laneProbe{}
			l := pr.lane(tc.max)
			var wg sync.WaitGroup
			ps := plannedN(tc.n)
			for i := range ps {
				l.add(context.Background(), &wg, &ps[i])
				if tc.oneByOne {
					require.Eventually(t, func() bool {
						pr.mu.Lock()
						defer pr.mu.Unlock()
						return len(pr.sent) == i+1 && pr.inFlight == 0
					}, 5*time.Second, time.Millisecond)
				}
			}
			l.close()
			wg.Wait()
			require.Len(t, pr.sent, tc.n)
			require.LessOrEqual(t, pr.peak, tc.max)
			require.Empty(t, pr.dropped)
			require.EqualValues(t, tc.n, pr.reachedN.Load())
			if tc.oneByOne || tc.max == 1 {
				require.Equal(t, tc.wantStarted, l.started)
			} else {
				require.LessOrEqual(t, l.started, tc.wantStarted)
			}
			if tc.max == 1 {
				for i, seq := range pr.sent {
					require.EqualValues(t, i, seq, "one worker sends in the order added")
				}
			}
			require.Zero(t, l.workers, "every worker returned")
		})
	}
}

// TestLaneDropsWhatTheStageEndLeft: requests queued behind busy workers
// when the stage's context ends are dropped (recorded unsent), not sent;
// the ones in flight finish.
func TestLaneDropsWhatTheStageEndLeft(t *testing.T) {
	pr := &laneProbe{release: make(chan struct{})}
	l := pr.lane(2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ps := plannedN(10)
	for i := range ps {
		l.add(ctx, &wg, &ps[i])
	}
	require.Eventually(t, func() bool {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		return pr.inFlight == 2
	}, 5*time.Second, time.Millisecond)
	cancel()
	l.close()
	close(pr.release)
	wg.Wait()
	require.Len(t, pr.sent, 2)
	require.Len(t, pr.dropped, 8)
	require.Equal(t, 2, l.started)
}
