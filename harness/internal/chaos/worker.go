package chaos

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Workers is the run's sharded replay (traffic.shards), as a fault sees
// it: it can lose one of its workers on purpose — the pod of an Indexed
// Job deleted, as an eviction or a drained node would.
type Workers interface {
	// Shards is how many workers send the replay.
	Shards() int
	// KillWorker stops the worker of one shard abruptly.
	KillWorker(ctx context.Context, shard int) error
}

// WorkerLoss is a shard worker the run lost, for the evidence.
type WorkerLoss struct {
	Shard int
	At    time.Time
	Why   string
}

// workerKill kills one shard worker: its shard's remaining requests are
// never sent, and the run must say so rather than pass on partial traffic.
type workerKill struct {
	shard  int // -1: picked with the run's seed
	picked int
}

func newWorkerKill(p params, target string, dur time.Duration) (Fault, error) {
	k := &workerKill{shard: -1, picked: -1}
	if target != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(target, "shard."))
		if err != nil || !strings.HasPrefix(target, "shard.") || n < 0 {
			return nil, fmt.Errorf("target: %q is not a shard (shard.0, shard.1, ...)", target)
		}
		k.shard = n
	}
	return k, nil
}

func (k *workerKill) Start(ctx context.Context, env *Env) error {
	if env.Workers == nil {
		return errors.New("worker-kill: the replay is not split into shard workers (traffic.shards)")
	}
	n := env.Workers.Shards()
	k.picked = k.shard
	if k.picked < 0 {
		k.picked = env.Rand.IntN(n)
	}
	if k.picked >= n {
		return fmt.Errorf("worker-kill: shard.%d: the replay has shards 0..%d", k.picked, n-1)
	}
	return env.Workers.KillWorker(ctx, k.picked)
}

// Evidence: the run lost the worker it killed, within the fault's window.
func (k *workerKill) Evidence(rec *Record, w Window) Effect {
	from, to := rec.span(w)
	lost := 0.0
	why := ""
	for _, l := range rec.Workers {
		if l.Shard == k.picked && in(l.At, from, to) {
			lost++
			why = l.Why
		}
	}
	if lost == 0 {
		return Effect{Evidence: map[string]float64{"lost": 0}, Summary: fmt.Sprintf("shard worker %d was not seen lost", k.picked)}
	}
	return Effect{Observed: true, Evidence: map[string]float64{"lost": lost}, Summary: fmt.Sprintf("shard worker %d lost: %s", k.picked, why)}
}
