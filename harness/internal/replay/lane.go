package replay

import (
	"context"
	"sync"
	"time"
)

// lane sends the requests bound for one platform address, in the order
// the pace loop adds them, from at most max long-lived workers. The pace
// loop never waits on it: a request that finds every worker busy queues.
// A worker is started only when a request finds none idle, so a lane has
// as many as its platform's concurrency needed so far, and each sends
// request after request — like vegeta's workers, and unlike a goroutine
// per request, whose stack grew anew for every send (14 % of sending a
// request in the replayer's CPU profile, 2026-12-06).
type lane struct {
	max int
	// send makes a request's first attempt on a worker whose context is
	// wctx; drop records one the stage's end left unsent; reached counts
	// how far behind its intended time the replayer reached it.
	send    func(wctx context.Context, p *planned)
	drop    func(p *planned)
	reached func(behind time.Duration)

	mu      sync.Mutex
	cond    sync.Cond
	queue   []queued
	head    int
	workers int  // started and not yet returned
	idle    int  // waiting for a request, not yet woken for one
	started int  // workers started in all, for tests
	closed  bool // nothing more will be added
}

// queued is a request waiting for a worker. reachAtTake says the request
// found a worker idle or about to start: the time until one takes it is
// the scheduler's, i.e. the machine's, and is counted as reached then.
// Otherwise it waits for its platform's workers, and was counted as
// reached when it was added.
type queued struct {
	p           *planned
	reachAtTake bool
}

func newLane(max int, send func(context.Context, *planned), drop func(*planned), reached func(time.Duration)) *lane {
	l := &lane{max: max, send: send, drop: drop, reached: reached}
	l.cond.L = &l.mu
	return l
}

// add queues p and wakes or starts a worker for it; a worker started is
// counted in wg and runs until the lane is closed.
func (l *lane) add(ctx context.Context, wg *sync.WaitGroup, p *planned) {
	l.mu.Lock()
	q := queued{p: p, reachAtTake: true}
	switch {
	case l.idle > 0:
		l.idle--
		l.cond.Signal()
	case l.workers < l.max:
		l.workers++
		l.started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.work(ctx)
		}()
	default:
		q.reachAtTake = false
	}
	l.queue = append(l.queue, q)
	l.mu.Unlock()
	if !q.reachAtTake {
		l.reached(time.Since(p.intended))
	}
}

// close tells the workers nothing more will come: each returns once the
// queue is empty. After ctx ends they drop what is left instead of
// sending it.
func (l *lane) close() {
	l.mu.Lock()
	l.closed = true
	l.idle = 0
	l.mu.Unlock()
	l.cond.Broadcast()
}

// work sends the lane's requests one after the other until the lane is
// closed and empty. Each request's deadline registers with the worker's
// own context, not with the stage's, which every worker shares.
func (l *lane) work(ctx context.Context) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		q, ok := l.take()
		if !ok {
			return
		}
		if q.reachAtTake {
			l.reached(time.Since(q.p.intended))
		}
		if ctx.Err() != nil {
			l.drop(q.p)
			continue
		}
		l.send(wctx, q.p)
	}
}

// take returns the next queued request, waiting for one; false once the
// lane is closed and empty.
func (l *lane) take() (queued, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.head == len(l.queue) {
		if l.closed {
			l.workers--
			return queued{}, false
		}
		l.idle++
		l.cond.Wait()
	}
	q := l.queue[l.head]
	l.queue[l.head] = queued{}
	l.head++
	if l.head == len(l.queue) {
		l.queue, l.head = l.queue[:0], 0
	}
	return q, true
}
