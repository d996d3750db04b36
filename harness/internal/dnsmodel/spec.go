package dnsmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cutover/cutover/harness/internal/weights"
)

// Spec is everything a process needs to build the client DNS model of a
// run: where the weighted records are read, the population and the seed.
// Two processes that build a model from one Spec resolve every virtual
// client alike (a run split into shards relies on it). It travels as JSON.
type Spec struct {
	// Source is "api" (record sets read through the Route53 API, the
	// weighted choice made with the seed) or "dns" (the weighted DNS
	// server answers).
	Source string `json:"source"`
	// Route53URL and the credentials reach the Route53 API; ZoneID and
	// Record name the weighted records.
	Route53URL      string `json:"route53_url,omitempty"`
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	ZoneID          string `json:"zone_id,omitempty"`
	Record          string `json:"record"`
	// DNSAddr is the weighted DNS server ("host:port"), for Source "dns".
	DNSAddr string `json:"dns_addr,omitempty"`
	Config  Config `json:"config"`
	Seed    uint64 `json:"seed"`
}

// Build makes the model a Spec describes.
func Build(ctx context.Context, s Spec) (*Model, error) {
	var src Source
	switch s.Source {
	case "api":
		c, err := weights.New(ctx, weights.Config{Endpoint: s.Route53URL, AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey})
		if err != nil {
			return nil, fmt.Errorf("dns model: route53 client: %w", err)
		}
		src = NewRoute53Source(c, s.ZoneID, s.Record, false, time.Second)
	case "dns", "":
		if s.DNSAddr == "" {
			return nil, errors.New("dns.source is dns but this stack has no weighted DNS server (use dns.source: api)")
		}
		src = NewDNSSource(s.DNSAddr, s.Record, false)
	default:
		return nil, fmt.Errorf("dns model: source: unknown %q (want api or dns)", s.Source)
	}
	return New(s.Config, src, s.Seed)
}
