// Package events relays couponapi's transactional outbox to its sinks — the
// audit log in Mongo and the partner webhook — at least once, in commit
// order. Sinks deduplicate by event id (Mongo by _id), so every committed
// event ends up exactly once in the audit log, even when a process dies
// between commit and relay or between relay and its bookkeeping.
package events

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/store"
)

// Sink receives outbox events. Deliver returns one error per event, nil for
// each delivered one; it must accept an event id it has already seen.
type Sink interface {
	Name() string
	Deliver(ctx context.Context, evs []api.Event) []error
}

// Options tune the relay.
type Options struct {
	// Poll is how often each sink looks for events committed by other
	// processes or left behind by a crash (default 500ms). Events this
	// process commits are relayed at once (Wake).
	Poll time.Duration
	// Batch is the most events handed to a sink at once (default 200).
	Batch int
	// BatchTimeout bounds one batch, delivery included (default 10s).
	BatchTimeout time.Duration
	// Keep is how long delivered outbox rows and idempotency records are
	// kept (default 24h); pruning runs every PruneEvery (default 1m).
	Keep       time.Duration
	PruneEvery time.Duration
	Log        *slog.Logger
}

// Relay moves outbox rows to sinks.
type Relay struct {
	store *store.Store
	sinks []Sink
	o     Options
	wake  []chan struct{}
}

// NewRelay relays st's outbox to sinks.
func NewRelay(st *store.Store, sinks []Sink, o Options) *Relay {
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Batch <= 0 {
		o.Batch = 200
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = 10 * time.Second
	}
	if o.Keep <= 0 {
		o.Keep = 24 * time.Hour
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{store: st, sinks: sinks, o: o}
	for range sinks {
		r.wake = append(r.wake, make(chan struct{}, 1))
	}
	return r
}

// Wake makes every sink look for new events now. It never blocks.
func (r *Relay) Wake() {
	for _, w := range r.wake {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Run relays until ctx ends, then returns after the batches in flight have
// been recorded (each bounded by BatchTimeout).
func (r *Relay) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for i, s := range r.sinks {
		wg.Go(func() { r.runSink(ctx, s, r.wake[i]) })
	}
	wg.Go(func() { r.prune(ctx) })
	wg.Wait()
}

func (r *Relay) runSink(ctx context.Context, s Sink, wake <-chan struct{}) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
		for ctx.Err() == nil {
			n, err := r.Once(ctx, s)
			if err != nil {
				if !failing {
					r.o.Log.Warn("outbox relay failed, will retry", "sink", s.Name(), "err", err)
				}
				failing = true
				break
			}
			if failing {
				r.o.Log.Info("outbox relay recovered", "sink", s.Name())
				failing = false
			}
			if n < r.o.Batch {
				break
			}
		}
		timer.Reset(r.o.Poll)
	}
}

// Once relays one batch to s and returns how many events it handed out.
// The batch runs to completion even when ctx ends meanwhile.
func (r *Relay) Once(ctx context.Context, s Sink) (int, error) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.BatchTimeout)
	defer cancel()
	ok, failed, err := r.store.RelayOutbox(bctx, s.Name(), r.o.Batch, s.Deliver)
	if failed > 0 {
		r.o.Log.Warn("sink refused events, will retry with backoff", "sink", s.Name(), "delivered", ok, "failed", failed)
	}
	return ok + failed, err
}

// Drain relays until no event of any sink is ready, or ctx ends. Events
// waiting for a retry backoff are left.
func (r *Relay) Drain(ctx context.Context) error {
	for _, s := range r.sinks {
		for {
			n, err := r.Once(ctx, s)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Relay) prune(ctx context.Context) {
	t := time.NewTicker(r.o.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, r.o.BatchTimeout)
		n, err := r.store.Prune(pctx, r.o.Keep)
		cancel()
		if err != nil {
			r.o.Log.Warn("prune failed", "err", err)
		} else if n > 0 {
			r.o.Log.Info("pruned old outbox rows and idempotency records", "rows", n)
		}
	}
}
