package replay

import (
	"fmt"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/harness/history"
)

// A run's replay can be split into shards sent by separate processes (see
// package shard): each shard is the requests of a set of virtual clients,
// planned from the whole trace (so every request keeps the sequence number
// and request id it has in a single-process run) and filtered. A virtual
// client's requests, its resolver cache and connection, its retries and
// the rollbacks that name its redeems then live in one process, and depend
// only on the seed and that client's own history — the same as when one
// process sends everything.

// Shard returns the part of the plan that shard index of count sends: the
// requests of the virtual clients unit maps to it (ShardOf), in the plan's
// order, with their sequence numbers and request ids. A rollback must be
// sent by the shard that sent the redeem it undoes (the redeem's answer
// names the redemption): a plan where the two fall into different shards
// cannot be split by client, and Shard says which requests.
func (p *Plan) Shard(index, count int, unit func(client string) uint64) (*Plan, error) {
	if count < 1 || index < 0 || index >= count {
		return nil, fmt.Errorf("shard %d of %d: out of range", index, count)
	}
	if count == 1 {
		return p, nil
	}
	out := &Plan{}
	// The shard of every redeem's key, to check the rollbacks against.
	keyShard := map[string]int{}
	for i := range p.reqs {
		pl := &p.reqs[i]
		s := ShardOf(unit(pl.client), count)
		if pl.op == history.Redeem && pl.key != "" {
			keyShard[pl.key] = s
		}
		if pl.undoes != "" {
			if ks, ok := keyShard[pl.undoes]; ok && ks != s {
				return nil, fmt.Errorf("shard the plan by client: request %s (a rollback by client %q) undoes key %q, redeemed by a client of another shard: the trace cannot be split by client",
					pl.requestID, pl.client, pl.undoes)
			}
		}
		if s == index {
			out.reqs = append(out.reqs, *pl)
		}
	}
	return out, nil
}

// ShardOf maps a virtual client's unit (dnsmodel.Model.Unit) to one of
// count shards, spread by SplitMix64's finalizer.
func ShardOf(unit uint64, count int) int {
	x := unit
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x % uint64(count))
}

// Sent lists, in plan order, the requests of the plan: what a test
// compares between a single-process run and the union of its shards, and
// what a coordinator accounts for when a shard's worker is lost.
func (p *Plan) Sent() []Planned {
	out := make([]Planned, len(p.reqs))
	for i := range p.reqs {
		pl := &p.reqs[i]
		out[i] = Planned{Seq: pl.seq, RequestID: pl.requestID, Client: pl.client, Op: pl.op, Offset: pl.offset,
			Voucher: pl.voucher, Customer: pl.customer, Key: pl.key, Undoes: pl.undoes, Amount: pl.amount}
	}
	return out
}

// Planned is one planned request as Plan.Sent lists it.
type Planned struct {
	Seq       uint64
	RequestID string
	Client    string
	Op        string
	Offset    time.Duration
	// Voucher, Customer, Key (idempotency), Undoes (the key a rollback
	// undoes) and Amount are remapped as sent.
	Voucher, Customer, Key, Undoes string
	Amount                         int64
}

// ResultWriter receives each vegeta result as a value. A Stage.Results that
// implements it gets the results this way instead of encoded (a shard
// worker forwards them to its coordinator, which encodes the stage's one
// results file).
type ResultWriter interface {
	WriteResult(*vegeta.Result) error
}

// Tally rebuilds a stage's Result, its history and its vegeta results
// from the operations other processes sent (the shards of a run): the
// same recorder the replayer uses, fed from outside. Its methods are safe
// for concurrent use; every shard's invoke must come before the completion
// of the same attempt, as each shard's stream has them.
type Tally struct {
	rec     *recorder
	planned int64
}

// NewTally starts the tally of stage st, which began at start; it writes the
// history to the Replayer's Config.History and the results to st.Results.
func (r *Replayer) NewTally(st Stage, start time.Time) *Tally {
	return &Tally{rec: newRecorder(st, r.cfg, start, &r.sent, &r.late, &r.behind)}
}

// Invoke records an attempt being sent (a retry when its id says so).
func (t *Tally) Invoke(op history.Op) {
	t.rec.invoke(&op, IsRetry(op.ID))
}

// Done records an attempt's completion and its vegeta result.
func (t *Tally) Done(op history.Op, res vegeta.Result) {
	t.rec.done(&op, &res)
}

// Counts adds what a shard counted that is not in its operations: its
// planned, skipped, late and behind requests.
func (t *Tally) Counts(c ShardCounts) {
	t.rec.mu.Lock()
	t.planned += c.Planned
	t.rec.mu.Unlock()
	t.rec.skipped.Add(c.Skipped)
	t.rec.late.Add(c.Late)
	t.rec.runLate.Add(c.Late)
	t.rec.behind.Add(c.Behind)
	t.rec.runBehind.Add(c.Behind)
}

// Result closes the tally (its results are flushed) and returns the
// stage's Result over every shard, its wall time being wall.
func (t *Tally) Result(wall time.Duration) (Result, error) {
	t.rec.close()
	res := t.rec.result(wall)
	t.rec.mu.Lock()
	res.Planned = t.planned
	err := t.rec.err
	t.rec.mu.Unlock()
	return res, err
}

// ShardCounts are a shard's counts for one stage that its operations do
// not carry.
type ShardCounts struct {
	Planned int64 `json:"planned"`
	Skipped int64 `json:"skipped"`
	Late    int64 `json:"late"`
	Behind  int64 `json:"behind"`
}

// CountsOf returns the counts of a shard's stage Result.
func CountsOf(res Result) ShardCounts {
	return ShardCounts{Planned: res.Planned, Skipped: res.Skipped, Late: res.Late, Behind: res.Behind}
}

// IsRetry says whether an operation id names a client retry ("<id>.r<n>").
func IsRetry(id string) bool {
	i := strings.LastIndex(id, ".r")
	return i > 0 && i+2 < len(id)
}
