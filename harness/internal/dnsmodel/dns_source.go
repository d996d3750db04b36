package dnsmodel

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// DNSSource resolves the service name by asking a DNS server (the
// emulator's weighted DNS server) over UDP, falling back to TCP when the
// answer is truncated. Each call is one query, so each cache miss of a
// virtual client gets its own weighted answer, as from Route53.
type DNSSource struct {
	server string
	name   string
	qtype  uint16
	udp    *dns.Client
	tcp    *dns.Client
}

var _ Source = (*DNSSource)(nil)

// NewDNSSource returns a source asking server (host:port) for the A
// records of name; with ipv6 it asks for AAAA records.
func NewDNSSource(server, name string, ipv6 bool) *DNSSource {
	qtype := dns.TypeA
	if ipv6 {
		qtype = dns.TypeAAAA
	}
	return &DNSSource{
		server: server,
		name:   dns.Fqdn(name),
		qtype:  qtype,
		udp:    &dns.Client{Net: "udp", Timeout: 2 * time.Second},
		tcp:    &dns.Client{Net: "tcp", Timeout: 2 * time.Second},
	}
}

func (s *DNSSource) String() string {
	return fmt.Sprintf("dns %s %s @%s", s.name, dns.TypeToString[s.qtype], s.server)
}

// Resolve queries the server; the answer's TTL is that of the address
// record. It does not depend on now: the server answers in real time.
func (s *DNSSource) Resolve(ctx context.Context, _ time.Time, _ uint64) (Answer, error) {
	q := new(dns.Msg)
	q.SetQuestion(s.name, s.qtype)
	r, _, err := s.udp.ExchangeContext(ctx, q, s.server)
	if err == nil && r.Truncated {
		r, _, err = s.tcp.ExchangeContext(ctx, q, s.server)
	}
	if err != nil {
		return Answer{}, fmt.Errorf("query %s: %w", s, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return Answer{}, fmt.Errorf("query %s: %s", s, dns.RcodeToString[r.Rcode])
	}
	for _, rr := range r.Answer {
		var ip []byte
		switch v := rr.(type) {
		case *dns.A:
			ip = v.A
		case *dns.AAAA:
			ip = v.AAAA
		default:
			continue // the CNAMEs of a chain
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return Answer{}, fmt.Errorf("query %s: bad address %v", s, ip)
		}
		return Answer{Addr: a.Unmap(), TTL: time.Duration(rr.Header().Ttl) * time.Second}, nil
	}
	return Answer{}, fmt.Errorf("query %s: no address in the answer", s)
}
