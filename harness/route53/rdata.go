package route53

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// recordRRs checks the values of a record set against its type, as Route53
// does when it accepts a change, and returns them as DNS records ready to be
// served (name, class, type and TTL set). The error's text is Route53's
// InvalidChangeBatch message for the first bad value.
func recordRRs(s rrset) ([]dns.RR, error) {
	if s.Type == "CNAME" && len(s.Values) > 1 {
		return nil, fmt.Errorf("RRSet of type CNAME with DNS name %s has more than one resource record", displayName(s.Name))
	}
	if s.Type == "SOA" && len(s.Values) > 1 {
		return nil, fmt.Errorf("RRSet of type SOA with DNS name %s has more than one resource record", displayName(s.Name))
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: s.Name, Rrtype: t, Class: dns.ClassINET, Ttl: uint32(s.TTL)}
	}
	rrs := make([]dns.RR, 0, len(s.Values))
	for _, v := range s.Values {
		switch s.Type {
		case "A":
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return nil, badRecord("ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)", v)
			}
			rrs = append(rrs, &dns.A{Hdr: hdr(dns.TypeA), A: a.AsSlice()})
		case "AAAA":
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is6() || a.Zone() != "" {
				return nil, badRecord("AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address)", v)
			}
			rrs = append(rrs, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: a.AsSlice()})
		case "CNAME":
			target, err := canonicalName(v)
			if err != nil {
				return nil, badRecord("DomainNameInvalid (Value is not a valid domain name)", v)
			}
			rrs = append(rrs, &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: target})
		case "NS":
			target, err := canonicalName(v)
			if err != nil {
				return nil, badRecord("DomainNameInvalid (Value is not a valid domain name)", v)
			}
			rrs = append(rrs, &dns.NS{Hdr: hdr(dns.TypeNS), Ns: target})
		case "TXT":
			txt, err := parseCharacterStrings(v)
			if err != nil {
				return nil, badRecord(err.Error(), v)
			}
			rrs = append(rrs, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: txt})
		case "SOA":
			soa, err := parseSOA(v)
			if err != nil {
				return nil, badRecord(err.Error(), v)
			}
			soa.Hdr = hdr(dns.TypeSOA)
			rrs = append(rrs, soa)
		default:
			return nil, fmt.Errorf("record type %s is not served by the Route53 emulator", s.Type)
		}
	}
	return rrs, nil
}

func badRecord(problem, value string) error {
	return fmt.Errorf("Invalid Resource Record: 'FATAL problem: %s encountered with '%s''", problem, value)
}

// parseCharacterStrings splits a TXT value into its quoted
// character-strings ("a" "b"), keeping backslash escapes as miekg/dns
// expects them in TXT.Txt. Each string must be quoted and at most 255 bytes
// once unescaped.
func parseCharacterStrings(v string) ([]string, error) {
	var out []string
	i := 0
	for {
		for i < len(v) && v[i] == ' ' {
			i++
		}
		if i == len(v) {
			break
		}
		if v[i] != '"' {
			return nil, fmt.Errorf("InvalidCharacterString (Value should be enclosed in quotation marks)")
		}
		i++
		start, n := i, 0
		closed := false
		for i < len(v) {
			c := v[i]
			if c == '"' {
				closed = true
				break
			}
			if c < ' ' || c == 0x7f {
				return nil, fmt.Errorf("InvalidCharacterString (Value contains a control character)")
			}
			if c == '\\' {
				switch {
				case i+3 < len(v) && isDigit(v[i+1]) && isDigit(v[i+2]) && isDigit(v[i+3]):
					d, _ := strconv.Atoi(v[i+1 : i+4])
					if d > 255 {
						return nil, fmt.Errorf("InvalidCharacterString (Invalid escape sequence)")
					}
					i += 4
				case i+1 < len(v) && v[i+1] >= ' ' && v[i+1] != 0x7f && !isDigit(v[i+1]):
					i += 2
				default:
					return nil, fmt.Errorf("InvalidCharacterString (Invalid escape sequence)")
				}
				n++
				continue
			}
			i++
			n++
		}
		if !closed {
			return nil, fmt.Errorf("InvalidCharacterString (Value should be enclosed in quotation marks)")
		}
		if n > 255 {
			return nil, fmt.Errorf("CharacterStringTooLong (Value is too long)")
		}
		out = append(out, v[start:i])
		i++ // closing quote
		if i < len(v) && v[i] != ' ' {
			return nil, fmt.Errorf("InvalidCharacterString (Value should be enclosed in quotation marks)")
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("InvalidCharacterString (Value should be enclosed in quotation marks)")
	}
	return out, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseSOA reads "mname rname serial refresh retry expire minimum".
func parseSOA(v string) (*dns.SOA, error) {
	f := strings.Fields(v)
	if len(f) != 7 {
		return nil, fmt.Errorf("SOARRDATAIllegal (SOA value must have 7 fields)")
	}
	mname, err := canonicalName(f[0])
	if err != nil {
		return nil, fmt.Errorf("SOARRDATAIllegal (invalid primary name server)")
	}
	rname, err := canonicalName(f[1])
	if err != nil {
		return nil, fmt.Errorf("SOARRDATAIllegal (invalid responsible mailbox)")
	}
	var nums [5]uint32
	for i := range nums {
		n, err := strconv.ParseUint(f[2+i], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("SOARRDATAIllegal (field %d is not a 32-bit number)", 3+i)
		}
		nums[i] = uint32(n)
	}
	return &dns.SOA{Ns: mname, Mbox: rname, Serial: nums[0], Refresh: nums[1], Retry: nums[2], Expire: nums[3], Minttl: nums[4]}, nil
}
