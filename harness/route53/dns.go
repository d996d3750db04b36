package route53

import (
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// maxCNAMEChain bounds how many CNAMEs inside the served zones one answer
// follows.
const maxCNAMEChain = 8

// dnsServer answers queries for the hosted zones authoritatively, the way
// Route53's name servers do: from a weighted group of record sets it returns
// one set, chosen by weight with the seeded generator, with that set's TTL;
// a name without the asked type is NODATA and a name that does not exist is
// NXDOMAIN, both with the zone's SOA; names outside every zone are REFUSED.
type dnsServer struct {
	store *store

	mu  sync.Mutex
	rng *rand.Rand // weighted choices; guarded by mu
}

func newDNSServer(s *store, seed uint64) *dnsServer {
	return &dnsServer{store: s, rng: rand.New(rand.NewPCG(seed, 0x444e5357656967))}
}

// ServeDNS implements dns.Handler.
func (d *dnsServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := d.answer(req)
	if w.LocalAddr().Network() == "udp" {
		size := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m) // a client that went away is not the server's problem
}

// answer builds the reply to req.
func (d *dnsServer) answer(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = false
	if req.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		return m
	}
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	if req.IsEdns0() != nil {
		m.SetEdns0(dns.DefaultMsgSize, false)
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeRefused
		return m
	}
	name := strings.ToLower(dns.Fqdn(q.Name))
	d.store.withZones(func(zones []*zone) {
		z := zoneFor(zones, name)
		if z == nil {
			m.Rcode = dns.RcodeRefused
			return
		}
		m.Authoritative = true
		d.resolve(m, z, name, q.Qtype, 0)
	})
	return m
}

// zoneFor returns the most specific zone holding name; of two zones with the
// same name, the older one.
func zoneFor(zones []*zone, name string) *zone {
	var best *zone
	for _, z := range zones {
		if inZone(name, z.Name) && (best == nil || len(z.Name) > len(best.Name)) {
			best = z
		}
	}
	return best
}

// resolve appends the answer for (name, qtype) in z to m.
func (d *dnsServer) resolve(m *dns.Msg, z *zone, name string, qtype uint16, depth int) {
	node := name
	if !nodeExists(z, name) {
		node = wildcardFor(z, name)
		if node == "" {
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, negativeSOA(z))
			return
		}
	}
	before := len(m.Answer)
	target := d.answerNode(m, z, node, qtype)
	if node != name { // synthesised from a wildcard: the answer carries the asked name
		for i := before; i < len(m.Answer); i++ {
			rr := dns.Copy(m.Answer[i])
			rr.Header().Name = name
			m.Answer[i] = rr
		}
	}
	switch {
	case len(m.Answer) == before:
		m.Ns = append(m.Ns, negativeSOA(z)) // NODATA
	case target != "" && depth < maxCNAMEChain && inZone(target, z.Name):
		d.resolve(m, z, target, qtype, depth+1)
	}
}

// answerNode appends the records of node that answer qtype and, when the
// answer is a CNAME to be followed, returns its target.
func (d *dnsServer) answerNode(m *dns.Msg, z *zone, node string, qtype uint16) (cnameTarget string) {
	if qtype == dns.TypeANY {
		for k, sets := range z.records {
			if k.name == node {
				m.Answer = append(m.Answer, d.pick(sets).RRs...)
			}
		}
		return ""
	}
	if sets := z.records[nameType{node, dns.TypeToString[qtype]}]; len(sets) > 0 {
		m.Answer = append(m.Answer, d.pick(sets).RRs...)
		return ""
	}
	if sets := z.records[nameType{node, "CNAME"}]; len(sets) > 0 {
		rrs := d.pick(sets).RRs
		m.Answer = append(m.Answer, rrs...)
		return rrs[0].(*dns.CNAME).Target
	}
	return ""
}

// pick returns the set to answer with: the only one of a simple group, or
// one of a weighted group chosen by weight.
func (d *dnsServer) pick(sets []rrset) rrset {
	if len(sets) == 1 && !sets[0].Weighted {
		return sets[0]
	}
	var buf [8]int64
	ws := buf[:0]
	for _, s := range sets {
		ws = append(ws, s.Weight)
	}
	d.mu.Lock()
	i := Choose(d.rng, ws)
	d.mu.Unlock()
	return sets[i]
}

// nodeExists reports whether name owns records or is an empty non-terminal
// (a name with records below it), the difference between NODATA and
// NXDOMAIN.
func nodeExists(z *zone, name string) bool {
	suffix := "." + name
	for k := range z.records {
		if k.name == name || strings.HasSuffix(k.name, suffix) {
			return true
		}
	}
	return false
}

// wildcardFor returns the wildcard node that synthesises name (RFC 4592:
// "*." under the closest existing ancestor), or "".
func wildcardFor(z *zone, name string) string {
	for ancestor := name; ancestor != z.Name; {
		_, parent, ok := strings.Cut(ancestor, ".")
		if !ok || parent == "" {
			return ""
		}
		ancestor = parent
		if ancestor == z.Name || nodeExists(z, ancestor) {
			wc := "*." + ancestor
			for k := range z.records {
				if k.name == wc {
					return wc
				}
			}
			return ""
		}
	}
	return ""
}

// negativeSOA is the zone's SOA for the authority section of a negative
// answer, with the TTL a resolver may cache the negative answer for
// (RFC 2308: the smaller of the SOA's TTL and its MINIMUM).
func negativeSOA(z *zone) dns.RR {
	soa := *z.records[nameType{z.Name, "SOA"}][0].RRs[0].(*dns.SOA)
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return &soa
}
