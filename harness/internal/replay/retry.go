package replay

import (
	"container/heap"
	"context"
	"net/netip"
	"sync"
	"time"
)

// retrier sends the client retries of one stage. An attempt whose outcome
// is indeterminate schedules its retry here and returns, so the goroutine
// that sent it ends at once: the backoff never holds a slot. One goroutine
// keeps the scheduled retries in a heap by due time and starts each when
// it is due, in a goroutine of its own, at most maxInFlight at a time to
// one platform address (a retry that finds none free is sent late, its
// latency still measured from its due time).
type retrier struct {
	send    func(*attempt) // makes the attempt (and may schedule the next)
	abandon func(*attempt) // drops an attempt that will not be sent

	mu     sync.Mutex
	queue  attemptQueue
	closed bool
	wake   chan struct{}
	// slots bound the retries in flight to each platform address (a
	// retry goes where its first attempt went), so one platform's stalled
	// retries never delay another's; only run uses the map.
	slots       map[netip.Addr]chan struct{}
	maxInFlight int
	// pending counts retries scheduled and not yet completed or abandoned.
	pending sync.WaitGroup
}

func newRetrier(maxInFlight int, send, abandon func(*attempt)) *retrier {
	return &retrier{send: send, abandon: abandon, wake: make(chan struct{}, 1), slots: map[netip.Addr]chan struct{}{}, maxInFlight: maxInFlight}
}

// schedule queues a retry for its intended time. After the retrier has
// stopped, the retry is abandoned instead.
func (q *retrier) schedule(a *attempt) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.abandon(a)
		return
	}
	q.pending.Add(1)
	heap.Push(&q.queue, a)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// wait returns once every scheduled retry has completed (retries of
// retries included) or been abandoned.
func (q *retrier) wait() { q.pending.Wait() }

// run starts the retries as they fall due, until ctx ends; then it
// abandons the retries still queued, and every later one.
func (q *retrier) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		var due *attempt
		wait := time.Hour
		if len(q.queue) > 0 {
			if wait = time.Until(q.queue[0].intended); wait <= 0 {
				due = heap.Pop(&q.queue).(*attempt)
			}
		}
		q.mu.Unlock()
		if due != nil {
			slot := q.slots[due.p.addr]
			if slot == nil {
				slot = make(chan struct{}, q.maxInFlight)
				q.slots[due.p.addr] = slot
			}
			go func() {
				select {
				case slot <- struct{}{}:
				case <-ctx.Done():
					q.drop(due)
					return
				}
				defer func() {
					<-slot
					q.pending.Done()
				}()
				q.send(due)
			}()
			continue
		}
		timer.Reset(wait)
		select {
		case <-q.wake:
		case <-timer.C:
		case <-ctx.Done():
			q.mu.Lock()
			q.closed = true
			queued := q.queue
			q.queue = nil
			q.mu.Unlock()
			for _, a := range queued {
				q.drop(a)
			}
			return
		}
	}
}

func (q *retrier) drop(a *attempt) {
	q.abandon(a)
	q.pending.Done()
}

// attemptQueue is a min-heap of attempts by intended time.
type attemptQueue []*attempt

func (h attemptQueue) Len() int           { return len(h) }
func (h attemptQueue) Less(i, j int) bool { return h[i].intended.Before(h[j].intended) }
func (h attemptQueue) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *attemptQueue) Push(x any)        { *h = append(*h, x.(*attempt)) }
func (h *attemptQueue) Pop() any {
	old := *h
	a := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return a
}
