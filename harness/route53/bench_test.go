package route53

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
)

// BenchmarkDNSQueries measures the weighted DNS server's throughput (UDP,
// one connection per goroutine) and reports it as a ratio to a bare
// miekg/dns server answering one fixed A record, measured in the same run.
func BenchmarkDNSQueries(b *testing.B) {
	f := newDNSFixture(b, 1, splitChanges(25, 75)...)
	bare := startBareDNS(b)

	baseline := dnsThroughput(b, bare, b.N)
	b.ResetTimer()
	weighted := dnsThroughput(b, f.srv.DNSAddr(), b.N)
	b.StopTimer()
	b.ReportMetric(weighted, "queries/s")
	b.ReportMetric(baseline, "baseline-queries/s")
	b.ReportMetric(weighted/baseline, "x-baseline")
}

// dnsThroughput sends n queries for api.cutover.test from parallel
// goroutines and returns queries per second.
func dnsThroughput(b *testing.B, addr string, n int) float64 {
	const workers = 4
	var left atomic.Int64
	left.Store(int64(n))
	done := make(chan error, workers)
	start := time.Now()
	for range workers {
		go func() {
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			conn, err := c.Dial(addr)
			if err != nil {
				done <- err
				return
			}
			defer conn.Close()
			m := new(dns.Msg)
			m.SetQuestion("api.cutover.test.", dns.TypeA)
			for left.Add(-1) >= 0 {
				r, _, err := c.ExchangeWithConn(m, conn)
				if err != nil {
					done <- err
					return
				}
				if len(r.Answer) != 1 {
					done <- fmt.Errorf("%d answers to %s", len(r.Answer), m.Question[0].Name)
					return
				}
			}
			done <- nil
		}()
	}
	for range workers {
		require.NoError(b, <-done)
	}
	return float64(n) / time.Since(start).Seconds()
}

// startBareDNS serves one fixed A record for api.cutover.test.
func startBareDNS(b *testing.B) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(b, err)
	rr, err := dns.NewRR("api.cutover.test. 60 IN A 192.0.2.10")
	require.NoError(b, err)
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		m.Answer = []dns.RR{rr}
		_ = w.WriteMsg(m)
	})}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = srv.ActivateAndServe()
	}()
	<-started
	b.Cleanup(func() {
		_ = srv.Shutdown()
		<-stopped
	})
	return pc.LocalAddr().String()
}
