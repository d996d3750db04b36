package measure

import (
	"fmt"
	"os"
	"time"

	"github.com/cutover/cutover/harness/history"
)

// isBulk says whether an operation is bulk work: the voucher import and
// export, which hold a whole batch in memory.
func isBulk(op string) bool { return op == history.Import || op == history.Export }

// span is when one request was in flight.
type span struct{ from, to time.Time }

// bulkWork is the bulk requests a probe's platform served: when each was
// in flight, and their total time.
type bulkWork struct {
	spans []span
	total time.Duration
}

// during says whether a bulk request was in flight at some time in
// [from, to].
func (b bulkWork) during(from, to time.Time) bool {
	for _, s := range b.spans {
		if s.from.Before(to) && from.Before(s.to) {
			return true
		}
	}
	return false
}

// bulkOf picks the completed bulk requests served by platform out of a
// history: each from when it was planned (latency counts from there) to
// when it completed.
func bulkOf(ops []history.Op, platform string) bulkWork {
	var b bulkWork
	for _, op := range ops {
		if op.Type == history.Invoke || op.Platform != platform || !isBulk(op.F) {
			continue
		}
		from := op.Intended
		if op.Latency > 0 {
			from = op.Time.Add(-op.Latency)
		}
		b.spans = append(b.spans, span{from: from, to: op.Time})
		b.total += op.Time.Sub(from)
	}
	return b
}

// readBulk reads the bulk requests platform served from a run's history.
func readBulk(path, platform string) (bulkWork, error) {
	f, err := os.Open(path)
	if err != nil {
		return bulkWork{}, fmt.Errorf("read the bulk requests: %w", err)
	}
	defer func() { _ = f.Close() }()
	ops, err := history.Read(f, path)
	if err != nil {
		return bulkWork{}, fmt.Errorf("read the bulk requests: %w", err)
	}
	return bulkOf(ops, platform), nil
}
