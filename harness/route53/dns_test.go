package route53

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

// dnsFixture is an emulator with a zone the DNS tests query.
type dnsFixture struct {
	srv    *Server
	api    *route53.Client
	zoneID string
}

func newDNSFixture(t testing.TB, seed uint64, changes ...types.Change) dnsFixture {
	t.Helper()
	srv := startEmulator(t, Options{Seed: seed})
	api := sdkClient(srv, testCreds)
	zoneID := createZone(t, api, "cutover.test")
	if len(changes) > 0 {
		_, err := applyChanges(context.Background(), api, zoneID, changes...)
		require.NoError(t, err)
	}
	return dnsFixture{srv: srv, api: api, zoneID: zoneID}
}

// splitChanges is the 25/75 weighted pair of the cutover tests.
func splitChanges(awsWeight, herokuWeight int64) []types.Change {
	return []types.Change{
		rrChange(types.ChangeActionUpsert, weighted("api.cutover.test", "aws", awsWeight, 60, "192.0.2.20")),
		rrChange(types.ChangeActionUpsert, weighted("api.cutover.test", "heroku", herokuWeight, 60, "192.0.2.10")),
	}
}

// queryConn is one DNS client connection reused for many queries.
type queryConn struct {
	client *dns.Client
	conn   *dns.Conn
}

func dialDNS(t testing.TB, addr, network string) *queryConn {
	t.Helper()
	c := &dns.Client{Net: network}
	conn, err := c.Dial(addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &queryConn{client: c, conn: conn}
}

func (q *queryConn) query(t testing.TB, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := q.client.ExchangeWithConn(m, q.conn)
	require.NoError(t, err)
	return r
}

// answersOf queries name n times and returns the A address of each answer.
func answersOf(t *testing.T, addr string, n int) []string {
	t.Helper()
	q := dialDNS(t, addr, "udp")
	out := make([]string, n)
	for i := range out {
		r := q.query(t, "api.cutover.test.", dns.TypeA)
		require.Equal(t, dns.RcodeSuccess, r.Rcode)
		require.Len(t, r.Answer, 1, "a weighted set answers with one record set")
		a := r.Answer[0].(*dns.A)
		require.EqualValues(t, 60, a.Hdr.Ttl)
		out[i] = a.A.String()
	}
	return out
}

func TestWeightedAnswersFollowTheWeights(t *testing.T) {
	const queries = 10000
	f := newDNSFixture(t, 42, splitChanges(25, 75)...)
	got := answersOf(t, f.srv.DNSAddr(), queries)
	counts := map[string]int{}
	for _, a := range got {
		counts[a]++
	}
	require.Len(t, counts, 2)
	awsShare := 100 * float64(counts["192.0.2.20"]) / queries
	require.InDelta(t, 25, awsShare, 2, "aws share over %d queries", queries)
	require.InDelta(t, 75, 100-awsShare, 2)

	same := newDNSFixture(t, 42, splitChanges(25, 75)...)
	require.Equal(t, got, answersOf(t, same.srv.DNSAddr(), queries), "the same seed gives the same answers in the same order")

	other := newDNSFixture(t, 43, splitChanges(25, 75)...)
	require.NotEqual(t, got, answersOf(t, other.srv.DNSAddr(), queries), "another seed gives another sequence")
}

func TestWeightedAnswerEdgeCases(t *testing.T) {
	tests := []struct {
		name                string
		awsW, herokuW       int64
		minAWS, maxAWS      int // of 2,000 answers
		expectBothAddresses bool
	}{
		{"weight 0 is never chosen next to a positive weight", 0, 10, 0, 0, false},
		{"all weights 0 choose with equal probability", 0, 0, 900, 1100, true},
		{"all traffic to one side", 255, 0, 2000, 2000, false},
		{"weights are relative", 1, 1, 900, 1100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDNSFixture(t, 7, splitChanges(tt.awsW, tt.herokuW)...)
			n := 0
			for _, a := range answersOf(t, f.srv.DNSAddr(), 2000) {
				if a == "192.0.2.20" {
					n++
				}
			}
			require.GreaterOrEqual(t, n, tt.minAWS)
			require.LessOrEqual(t, n, tt.maxAWS)
		})
	}
}

func TestWeightChangesReachDNS(t *testing.T) {
	ctx := context.Background()
	f := newDNSFixture(t, 9, splitChanges(0, 100)...)
	for _, a := range answersOf(t, f.srv.DNSAddr(), 200) {
		require.Equal(t, "192.0.2.10", a)
	}
	_, err := applyChanges(ctx, f.api, f.zoneID, splitChanges(100, 0)...)
	require.NoError(t, err)
	for _, a := range answersOf(t, f.srv.DNSAddr(), 200) {
		require.Equal(t, "192.0.2.20", a)
	}
}

func TestDNSAnswers(t *testing.T) {
	f := newDNSFixture(t, 5,
		append(splitChanges(25, 75),
			rrChange(types.ChangeActionCreate, simple("www.cutover.test", types.RRTypeCname, 300, "api.cutover.test")),
			rrChange(types.ChangeActionCreate, simple("v6.cutover.test", types.RRTypeAaaa, 120, "2001:db8::7", "2001:db8::8")),
			rrChange(types.ChangeActionCreate, simple("txt.cutover.test", types.RRTypeTxt, 30, `"v=spf1 -all" "two"`)),
			rrChange(types.ChangeActionCreate, simple("deep.below.cutover.test", types.RRTypeA, 30, "192.0.2.99")),
			rrChange(types.ChangeActionCreate, simple("*.wild.cutover.test", types.RRTypeA, 45, "192.0.2.77")),
		)...)
	nameServers, err := f.api.GetHostedZone(context.Background(), &route53.GetHostedZoneInput{Id: aws.String(f.zoneID)})
	require.NoError(t, err)

	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		answers []string // RR strings without the TTL-independent parts checked below
		soaInNs bool
	}{
		{"NXDOMAIN carries the SOA", "nope.cutover.test.", dns.TypeA, dns.RcodeNameError, nil, true},
		{"NODATA carries the SOA", "api.cutover.test.", dns.TypeMX, dns.RcodeSuccess, nil, true},
		{"empty non-terminal is NODATA, not NXDOMAIN", "below.cutover.test.", dns.TypeA, dns.RcodeSuccess, nil, true},
		{"SOA at the apex", "cutover.test.", dns.TypeSOA, dns.RcodeSuccess, []string{"SOA"}, false},
		{"NS at the apex", "cutover.test.", dns.TypeNS, dns.RcodeSuccess, []string{"NS", "NS", "NS", "NS"}, false},
		{"AAAA set with two values", "v6.cutover.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"AAAA", "AAAA"}, false},
		{"TXT", "txt.cutover.test.", dns.TypeTXT, dns.RcodeSuccess, []string{"TXT"}, false},
		{"CNAME is followed inside the zone", "www.cutover.test.", dns.TypeA, dns.RcodeSuccess, []string{"CNAME", "A"}, false},
		{"CNAME asked for itself", "www.cutover.test.", dns.TypeCNAME, dns.RcodeSuccess, []string{"CNAME"}, false},
		{"names are case-insensitive", "API.Cutover.TEST.", dns.TypeA, dns.RcodeSuccess, []string{"A"}, false},
		{"wildcard synthesis", "x.wild.cutover.test.", dns.TypeA, dns.RcodeSuccess, []string{"A"}, false},
		{"outside every zone", "example.com.", dns.TypeA, dns.RcodeRefused, nil, false},
	}
	for _, network := range []string{"udp", "tcp"} {
		q := dialDNS(t, f.srv.DNSAddr(), network)
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				r := q.query(t, tt.qname, tt.qtype)
				require.Equal(t, dns.RcodeToString[tt.rcode], dns.RcodeToString[r.Rcode])
				require.Equal(t, tt.rcode != dns.RcodeRefused, r.Authoritative)
				var types []string
				for _, rr := range r.Answer {
					types = append(types, dns.TypeToString[rr.Header().Rrtype])
				}
				require.Equal(t, tt.answers, types)
				if tt.soaInNs {
					require.Len(t, r.Ns, 1)
					soa := r.Ns[0].(*dns.SOA)
					require.Equal(t, "cutover.test.", soa.Hdr.Name)
					require.EqualValues(t, 900, soa.Hdr.Ttl, "negative TTL is min(SOA TTL, SOA minimum)")
					require.Equal(t, nameServers.DelegationSet.NameServers[0]+".", soa.Ns)
				}
			})
		}
	}

	q := dialDNS(t, f.srv.DNSAddr(), "udp")
	wild := q.query(t, "x.wild.cutover.test.", dns.TypeA)
	require.Equal(t, "x.wild.cutover.test.", wild.Answer[0].Header().Name, "a wildcard answer carries the asked name")
	require.EqualValues(t, 45, wild.Answer[0].Header().Ttl)
	txt := q.query(t, "txt.cutover.test.", dns.TypeTXT)
	require.Equal(t, []string{"v=spf1 -all", "two"}, txt.Answer[0].(*dns.TXT).Txt)
	ns := q.query(t, "cutover.test.", dns.TypeNS)
	require.EqualValues(t, 172800, ns.Answer[0].Header().Ttl)
}
