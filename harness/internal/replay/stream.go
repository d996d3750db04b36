package replay

import (
	"context"
	"fmt"
	"sync/atomic"
)

// A stage replayed without a Plan is planned while it is sent: a planner
// goroutine reads and plans the slice in order, in batches, at most
// streamAhead batches ahead of the pace loop. Memory then stays bounded
// whatever the stage's length (a plan held whole costs about 1.5 kB a
// request: 160 MB of heap for a 20 s stage at 5,000 requests/s), and the
// first requests are not late for the planning of the last ones.
const (
	streamBatch = 256
	streamAhead = 32 // batches: 8,192 requests, 1.6 s at 5,000 requests/s
)

// source hands the pace loop the stage's planned requests in order.
type source interface {
	// next is the next planned request; false once there is none left
	// (or ctx ended). The pointer stays valid until the stage ends.
	next(ctx context.Context) (*planned, bool)
	// finish is called by the pace loop once it stops asking; it returns
	// how many requests the slice holds (skipped and unsent ones
	// included) and the error that ended the planning, if any.
	finish() (int64, error)
}

// cursor walks a Plan made in advance.
type cursor struct {
	plan *Plan
	i    int
}

func (c *cursor) next(context.Context) (*planned, bool) {
	if c.i >= len(c.plan.reqs) {
		return nil, false
	}
	c.i++
	return &c.plan.reqs[c.i-1], true
}

func (c *cursor) finish() (int64, error) { return int64(len(c.plan.reqs)), nil }

// stream plans a stage on a goroutine of its own (see streamAhead).
type stream struct {
	batches chan []planned
	quit    chan struct{} // closed by finish: plan no further, count the rest
	done    chan struct{} // closed when the planner has returned
	total   atomic.Int64  // planned (or, after quit, counted) so far
	err     error         // written by the planner, read after done

	cur []planned
	i   int
}

// stream starts planning st. It returns once the first batch is planned
// (or the slice is planned whole, or planning failed): a bad line among
// the first requests stops the stage before anything is sent.
func (r *Replayer) stream(st Stage) (*stream, error) {
	s := &stream{batches: make(chan []planned, streamAhead), quit: make(chan struct{}), done: make(chan struct{})}
	first := make(chan struct{})
	go s.plan(r, st, first)
	select {
	case <-first:
		return s, nil
	case <-s.done:
		if s.err != nil {
			return nil, s.err
		}
		return s, nil
	}
}

// plan is the planner goroutine: it owns s.err until done.
func (s *stream) plan(r *Replayer, st Stage, first chan struct{}) {
	defer close(s.done)
	defer close(s.batches)
	sending, signalled := true, false
	batch := make([]planned, 0, streamBatch)
	hand := func() {
		select {
		case s.batches <- batch:
		case <-s.quit:
			sending = false
		}
		if !signalled {
			close(first)
			signalled = true
		}
		batch = make([]planned, 0, streamBatch)
	}
	err := r.read(st, func(p planned) error {
		s.total.Add(1)
		if !sending {
			return nil // counted only: the stage stopped early
		}
		batch = append(batch, p)
		if len(batch) == streamBatch {
			hand()
		}
		return nil
	})
	if sending && len(batch) > 0 {
		hand()
	}
	if err != nil {
		s.err = fmt.Errorf("stage %s: %w", st.Name, err)
	}
}

func (s *stream) next(ctx context.Context) (*planned, bool) {
	for s.i >= len(s.cur) {
		select {
		case b, ok := <-s.batches:
			if !ok {
				return nil, false
			}
			s.cur, s.i = b, 0
		case <-ctx.Done():
			return nil, false
		}
	}
	s.i++
	return &s.cur[s.i-1], true
}

// finish stops the planner handing out requests, lets it read (and count)
// the rest of the slice, so the trace stands where the next stage begins,
// and returns the count and the planning error.
func (s *stream) finish() (int64, error) {
	close(s.quit)
	for range s.batches { // unblock a hand-off in progress
	}
	<-s.done
	return s.total.Load(), s.err
}
