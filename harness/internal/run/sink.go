package run

import (
	"sync"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/metrics"
)

// sink is where every history entry of the run goes: the history file, the
// gate, the Prometheus metrics, and the counters of the progress display. The replayer and the
// nemesis write to it from their own goroutines.
type sink struct {
	mu      sync.Mutex
	w       *history.Writer
	err     error
	gate    *gate
	metrics *metrics.Rehearsal

	requests, errors int64
}

var _ interface{ Write(history.Op) error } = (*sink)(nil)

// Write appends op to the history and feeds the gate.
func (s *sink) Write(op history.Op) error {
	s.mu.Lock()
	if err := s.w.Write(op); err != nil && s.err == nil {
		s.err = err
	}
	if op.Type != history.Invoke && op.Process != history.Nemesis {
		s.requests++
		if op.IsError() {
			s.errors++
		}
	}
	err := s.err
	s.mu.Unlock()
	s.gate.observe(op)
	s.metrics.Observe(op)
	return err
}

// unobserved appends op to the history only: an entry the run did not
// observe (a lost shard worker's unreported request) is evidence for the
// oracle, not a sample for the gate or the metrics.
func (s *sink) unobserved(op history.Op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.w.Write(op); err != nil && s.err == nil {
		s.err = err
	}
}

// record is Write for writers that cannot handle an error (the nemesis);
// the first error is reported by flush.
func (s *sink) record(op history.Op) { _ = s.Write(op) }

func (s *sink) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.w.Flush(); err != nil && s.err == nil {
		s.err = err
	}
	return s.err
}

// counts returns the requests and errors completed so far.
func (s *sink) counts() (requests, errors int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.errors
}
