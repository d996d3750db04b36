package dnsmodel

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/internal/weights"
	"github.com/cutover/cutover/harness/route53"
)

// Route53Source resolves the service name from the record sets the Route53
// API lists (through the real SDK), making the weighted choice locally with
// a seeded generator. It exists for Route53 implementations whose DNS does
// not weight answers: LocalStack serves the API, but its DNS returns every
// record of a weighted set. The record sets are fetched again only once per
// refresh interval of the model's virtual time (on a grid), so a busy model
// does not hammer the API.
type Route53Source struct {
	api     *weights.Client
	zoneID  string
	name    string
	rrType  string
	refresh time.Duration

	mu        sync.Mutex
	records   []weights.Record
	ws        []int64
	fetched   bool
	fetchedAt time.Time
}

var _ Source = (*Route53Source)(nil)

// NewRoute53Source reads name's A record sets (AAAA with ipv6) in zoneID
// through api. refresh is how long fetched sets are reused (default 5s);
// the weighted choice uses the pick the model passes.
func NewRoute53Source(api *weights.Client, zoneID, name string, ipv6 bool, refresh time.Duration) *Route53Source {
	if refresh <= 0 {
		refresh = 5 * time.Second
	}
	rrType := "A"
	if ipv6 {
		rrType = "AAAA"
	}
	return &Route53Source{
		api: api, zoneID: zoneID, name: name, rrType: rrType, refresh: refresh,
	}
}

func (s *Route53Source) String() string {
	return fmt.Sprintf("route53 %s %s in %s", s.name, s.rrType, s.zoneID)
}

// Invalidate drops the record sets read so far: the next resolution reads
// them again. The run calls it (through Model.StageStarted) as each stage
// starts, after its weights were set, so every process that resolves —
// one, or each shard of a split replay — reads the stage's weights at its
// first resolution in the stage, whatever it resolved before.
func (s *Route53Source) Invalidate() {
	s.mu.Lock()
	s.fetched = false
	s.mu.Unlock()
}

// Resolve chooses one record set by weight, as Route53's DNS would, and
// answers with its first address and its TTL.
func (s *Route53Source) Resolve(ctx context.Context, now time.Time, pick uint64) (Answer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The sets are fetched again in each new refresh interval of virtual
	// time, on a grid, not refresh after the last fetch: when the last
	// fetch was depends on which clients resolved, and a run split into
	// shards (each shard's model sees its own clients) must read the
	// weights at the same virtual instants as one process does.
	if !s.fetched || now.Truncate(s.refresh).After(s.fetchedAt.Truncate(s.refresh)) {
		records, err := s.api.Read(ctx, s.zoneID, s.name)
		if err != nil {
			return Answer{}, fmt.Errorf("resolve %s: %w", s, err)
		}
		s.records, s.ws, s.fetched, s.fetchedAt = s.records[:0], s.ws[:0], true, now
		for _, r := range records {
			if r.Type == s.rrType {
				s.records = append(s.records, r)
				s.ws = append(s.ws, r.Weight)
			}
		}
	}
	if len(s.records) == 0 {
		return Answer{}, fmt.Errorf("resolve %s: no records", s)
	}
	r := s.records[route53.ChooseAt(pick, s.ws)]
	if len(r.Addrs) == 0 {
		return Answer{}, fmt.Errorf("resolve %s: set %q has no address", s, r.SetID)
	}
	return Answer{Addr: r.Addrs[0], TTL: r.TTL}, nil
}
