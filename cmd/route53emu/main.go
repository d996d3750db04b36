// Command route53emu runs this module's Route53 emulator (harness/route53) as
// a standalone server, the stand-in for LocalStack in the docker stack where
// LocalStack cannot be had: `make images` puts it in a FROM-scratch image
// tagged like a LocalStack version. Like LocalStack it serves the Route53 API
// and GET /_localstack/health on one port (4566), answers DNS on another
// (53, UDP and TCP) and logs "Ready." once both serve.
//
// The emulator itself only binds loopback, so inside a container it listens
// on 127.0.0.1 and this command relays the published addresses to it: HTTP
// through a reverse proxy that keeps the Host header (SigV4 signs it), DNS
// over TCP by copying streams and over UDP one exchange per query.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/cutover/cutover/harness/route53"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "route53emu:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("route53emu", flag.ContinueOnError)
	apiAddr := fs.String("api", ":4566", "address of the Route53 API and /_localstack/health")
	dnsAddr := fs.String("dns", ":53", "address of the DNS server (UDP and TCP)")
	seed := fs.Uint64("seed", 1, "seed of the emulator's ids and weighted answers")
	propagation := fs.Duration("propagation", 0, "how long a change stays PENDING")
	if err := fs.Parse(args); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	emu, err := route53.Start(ctx, route53.Options{Seed: *seed, PropagationDelay: *propagation})
	if err != nil {
		return err
	}
	defer func() { _ = emu.Close() }()

	relay, err := newRelay(ctx, emu.URL(), emu.DNSAddr(), *apiAddr, *dnsAddr)
	if err != nil {
		return err
	}
	fmt.Printf("route53emu: Route53 API on %s, DNS on %s (udp, tcp)\n", relay.api.Addr(), relay.dnsTCP.Addr())
	fmt.Println("Ready.")
	err = relay.serve(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// relay forwards the public listeners to the emulator's loopback ones.
type relay struct {
	api     net.Listener
	dnsTCP  net.Listener
	dnsUDP  net.PacketConn
	proxy   http.Handler
	dnsDest string
}

func newRelay(ctx context.Context, apiURL, dnsDest, apiAddr, dnsAddr string) (*relay, error) {
	target, err := url.Parse(apiURL)
	if err != nil {
		return nil, fmt.Errorf("parse emulator url: %w", err)
	}
	var lc net.ListenConfig
	r := &relay{proxy: httputil.NewSingleHostReverseProxy(target), dnsDest: dnsDest}
	if r.api, err = lc.Listen(ctx, "tcp", apiAddr); err != nil {
		return nil, fmt.Errorf("listen api: %w", err)
	}
	if r.dnsTCP, err = lc.Listen(ctx, "tcp", dnsAddr); err != nil {
		r.api.Close()
		return nil, fmt.Errorf("listen dns tcp: %w", err)
	}
	if r.dnsUDP, err = lc.ListenPacket(ctx, "udp", dnsAddr); err != nil {
		r.api.Close()
		r.dnsTCP.Close()
		return nil, fmt.Errorf("listen dns udp: %w", err)
	}
	return r, nil
}

// ServeHTTP answers LocalStack's health check and relays everything else.
func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/_localstack/health" {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"services": {"route53": "running"}, "edition": "cutover-route53emu"}`)
		return
	}
	r.proxy.ServeHTTP(w, req)
}

// serve runs every relay until ctx ends, then closes the listeners and
// waits for the relays.
func (r *relay) serve(ctx context.Context) error {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); errs <- srv.Serve(r.api) }()
	go func() { defer wg.Done(); errs <- r.serveDNSTCP(ctx) }()
	go func() { defer wg.Done(); errs <- r.serveDNSUDP(ctx) }()

	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case err = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	r.dnsTCP.Close()
	_ = r.dnsUDP.Close()
	wg.Wait()
	return err
}

func (r *relay) serveDNSTCP(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		in, err := r.dnsTCP.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("accept dns tcp: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer in.Close()
			d := net.Dialer{Timeout: 2 * time.Second}
			out, err := d.DialContext(ctx, "tcp", r.dnsDest)
			if err != nil {
				return
			}
			defer out.Close()
			_ = in.SetDeadline(time.Now().Add(30 * time.Second))
			_ = out.SetDeadline(time.Now().Add(30 * time.Second))
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(out, in)
				_ = out.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			_, _ = io.Copy(in, out)
			<-done
		}()
	}
}

// serveDNSUDP relays each query in its own exchange with the emulator, at
// most 64 at once.
func (r *relay) serveDNSUDP(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, 64)
	for {
		buf := make([]byte, 65535)
		n, from, err := r.dnsUDP.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("read dns udp: %w", err)
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			reply, err := exchangeUDP(ctx, r.dnsDest, buf[:n])
			if err != nil {
				return
			}
			_, _ = r.dnsUDP.WriteTo(reply, from)
		}()
	}
}

func exchangeUDP(ctx context.Context, dest string, query []byte) ([]byte, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "udp", dest)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
