// Package route53 is the embedded driver's Route53: an emulator of Route53's
// REST/XML API (version 2013-04-01) that aws-sdk-go-v2 and the AWS CLI can be
// pointed at, and a DNS server (UDP and TCP) answering the hosted zones with
// weighted choice, so a rehearsal shifts traffic through the same API calls
// and the same kind of DNS answers as a real cutover.
//
// Served operations: CreateHostedZone, GetHostedZone, ListHostedZones,
// ListHostedZonesByName, DeleteHostedZone, ChangeResourceRecordSets (CREATE,
// UPSERT, DELETE; a batch applies atomically), ListResourceRecordSets and
// GetChange. Record types A, AAAA, CNAME, TXT, SOA and NS, with simple or
// weighted routing. Changes are visible to the API and the DNS server as
// soon as they are accepted; GetChange reports PENDING until the configured
// propagation delay has passed, then INSYNC.
//
// Requests must be SigV4-signed (an unsigned one gets AWS's 403
// MissingAuthenticationToken, a malformed signature 400 IncompleteSignature);
// by default any access key is accepted, as LocalStack does; with
// Options.Credentials set, the key must be theirs and the signature is
// recomputed and must match. The request time is not checked against the
// clock, so a skewed client is not refused as AWS would.
//
// With the docker driver, LocalStack serves the Route53 API but its DNS
// answers every record of a weighted set, unweighted: there the harness
// resolves through dnsmodel.Route53Source, which reads the record sets from
// the API and makes the weighted choice itself.
package route53

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Options configure the emulator.
type Options struct {
	// Host is the loopback address to bind; default 127.0.0.1. Any other
	// address is refused.
	Host string
	// Seed drives every choice the emulator makes: ids and the weighted
	// DNS answers.
	Seed uint64
	// PropagationDelay is how long a change stays PENDING before GetChange
	// reports it INSYNC. Zero makes changes INSYNC at once.
	PropagationDelay time.Duration
	// Credentials, when AccessKeyID is set, are the only ones accepted:
	// each request's SigV4 signature is recomputed and must match. When
	// empty (the default), any key and secret are accepted, as LocalStack
	// does, but requests must still carry a well-formed SigV4 signature
	// (see Credentials).
	Credentials Credentials
	// Now is the clock for change timestamps and propagation; default
	// time.Now.
	Now func() time.Time
}

// Server is a running emulator: the API over HTTP and the DNS server.
type Server struct {
	url     string
	dnsAddr string

	httpServer *http.Server
	dnsServers []*dns.Server
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
}

// Start binds the API and DNS listeners on free ports chosen by the kernel
// and serves until Close.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if ip := net.ParseIP(o.Host); o.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("start route53 emulator: host %q is not a loopback address", o.Host)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if (o.Credentials.AccessKeyID == "") != (o.Credentials.SecretAccessKey == "") {
		return nil, fmt.Errorf("start route53 emulator: credentials need both an access key id and a secret access key (or neither, to accept any)")
	}
	if o.PropagationDelay < 0 {
		return nil, fmt.Errorf("start route53 emulator: negative propagation delay %s", o.PropagationDelay)
	}
	st := newStore(o.Seed, o.Now, o.PropagationDelay)

	var lc net.ListenConfig
	httpLn, err := lc.Listen(ctx, "tcp", net.JoinHostPort(o.Host, "0"))
	if err != nil {
		return nil, fmt.Errorf("start route53 emulator: listen api: %w", err)
	}
	udp, tcp, err := listenDNS(ctx, o.Host)
	if err != nil {
		httpLn.Close()
		return nil, fmt.Errorf("start route53 emulator: %w", err)
	}

	s := &Server{
		url:     "http://" + httpLn.Addr().String(),
		dnsAddr: tcp.Addr().String(),
		httpServer: &http.Server{
			Handler:           &api{store: st, sig: newSignatureCheck(o.Credentials), seed: o.Seed},
			ReadHeaderTimeout: 10 * time.Second,
		},
	}
	handler := newDNSServer(st, o.Seed)
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.dnsServers = []*dns.Server{
		{PacketConn: udp, Handler: handler, NotifyStartedFunc: notify},
		{Listener: tcp, Handler: handler, NotifyStartedFunc: notify},
	}
	serveErrs := make(chan error, 2)
	for _, d := range s.dnsServers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := d.ActivateAndServe(); err != nil {
				serveErrs <- err
			}
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.httpServer.Serve(httpLn) // returns http.ErrServerClosed on Close
	}()

	// Close needs both DNS servers marked started, or shutting one down
	// fails; wait for them.
	abort := func(err error) (*Server, error) {
		_ = udp.Close() // ends a DNS server that has not started yet, too
		tcp.Close()
		_ = s.Close()
		return nil, fmt.Errorf("start route53 emulator: %w", err)
	}
	for range s.dnsServers {
		select {
		case <-started:
		case err := <-serveErrs:
			return abort(fmt.Errorf("serve dns: %w", err))
		case <-ctx.Done():
			return abort(ctx.Err())
		}
	}
	return s, nil
}

// listenDNS binds UDP and TCP on one free port.
func listenDNS(ctx context.Context, host string) (net.PacketConn, net.Listener, error) {
	var lc net.ListenConfig
	var lastErr error
	for range 20 {
		udp, err := lc.ListenPacket(ctx, "udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, nil, fmt.Errorf("listen dns udp: %w", err)
		}
		_, port, _ := net.SplitHostPort(udp.LocalAddr().String())
		tcp, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, port))
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close() // the TCP port is taken: try another UDP port
		lastErr = err
	}
	return nil, nil, fmt.Errorf("listen dns: no port free for both udp and tcp: %w", lastErr)
}

// URL is the API endpoint, http://host:port, for an SDK's BaseEndpoint or
// the CLI's --endpoint-url.
func (s *Server) URL() string { return s.url }

// DNSAddr is host:port of the DNS server, on UDP and TCP.
func (s *Server) DNSAddr() string { return s.dnsAddr }

// Close stops the API and DNS servers and waits for their goroutines. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		if err := s.httpServer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop route53 api: %w", err))
		}
		for _, d := range s.dnsServers {
			if err := d.ShutdownContext(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop route53 dns: %w", err))
			}
		}
		s.wg.Wait()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
