package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/traffic/synth"
	"github.com/cutover/cutover/harness/traffic/trace"
	"github.com/cutover/cutover/internal/jsonl"
)

// traffic is the trace being replayed (read once, front to back, across
// the stages) and the seed data it needs.
type traffic struct {
	reader *trace.Reader
	seed   []api.Voucher
	path   string
}

func (t *traffic) Close() error { return t.reader.Close() }

// openTraffic opens the scenario's trace, or synthesizes one from its seed.
func (r *rehearsal) openTraffic(ctx context.Context) (*traffic, error) {
	t := &traffic{path: r.p.tracePath}
	if r.p.synth != nil {
		t.path = filepath.Join(r.tmp, "trace.jsonl.gz")
		w, err := trace.Create(t.path, trace.Meta{Source: "synth", Seed: r.p.synth.Seed})
		if err != nil {
			return nil, err
		}
		vouchers, err := synth.Generate(*r.p.synth, w)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("synthesize trace: %w", err)
		}
		t.seed = vouchers
		r.event("synthesized %d requests over %s", w.Meta().Requests, r.p.synth.Duration)
	} else {
		vs, err := readSeed(r.p.seedPath)
		if err != nil {
			return nil, &InputError{Err: err}
		}
		t.seed = vs
	}
	rd, err := trace.Open(t.path)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	t.reader = rd
	return t, nil
}

// readSeed reads a seed-data fixture: api.Voucher JSON lines.
func readSeed(path string) ([]api.Voucher, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seed data: %w", err)
	}
	defer f.Close()
	return jsonl.Read(f, path, func(v *api.Voucher) error {
		if v.Code == "" {
			return errors.New("code: empty")
		}
		return nil
	})
}
