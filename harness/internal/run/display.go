package run

import (
	"context"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/internal/progress"
	"github.com/cutover/cutover/harness/platform"
)

// startDisplay redraws the progress display every second until the
// returned function is called.
func (r *rehearsal) startDisplay(ctx context.Context) (stop func()) {
	if r.disp == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = r.disp.Run(ctx, time.Second, r.status)
	}()
	return func() { cancel(); wg.Wait() }
}

// status is a snapshot for the progress display.
func (r *rehearsal) status() progress.Status {
	req, errs := r.sink.counts()
	r.mu.Lock()
	step, idx, w := r.step, r.stepIdx, r.weights
	r.mu.Unlock()
	rate, p99 := r.gate.recent(5 * time.Second)
	remaining := time.Duration(0)
	for _, st := range r.p.scn.Steps[min(idx, len(r.p.scn.Steps)):] {
		if st.Hold != nil {
			remaining += st.Hold.Duration.D()
		}
	}
	return progress.Status{
		Scenario:     r.p.scn.Name,
		Step:         step,
		Index:        idx,
		Steps:        len(r.p.scn.Steps),
		Weights:      map[string]int{platform.Heroku: w.Heroku, platform.Target: w.AWS},
		Order:        []string{platform.Heroku, platform.Target},
		Elapsed:      time.Since(r.started),
		Remaining:    remaining,
		Requests:     req,
		Errors:       errs,
		Rate:         rate,
		P99:          p99,
		ActiveFaults: r.nemesis.Active(),
	}
}
