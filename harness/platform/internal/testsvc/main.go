// Command testsvc is a tiny HTTP service the target platforms' tests run as
// replicas (processes for local, a scratch image for kind). It behaves like
// a well-made service, with knobs to misbehave:
//
//	PORT, HOST           where to listen (HOST default 0.0.0.0)
//	START_DELAY          sleep before listening (a slow boot)
//	READY_DELAY          listen, but answer /readyz 503 for this long
//	SHUTDOWN_DELAY       after SIGTERM, keep serving this long (not ready)
//	GRACEFUL=false       exit at once on SIGTERM instead of draining
//	EGRESS_ADDR          source address of outbound calls (/egress)
//
// Endpoints: / (answers "port=<PORT>"; ?sleep=10ms delays), /readyz,
// /healthz, /stats (JSON counters), /egress?url=U (GETs U from EGRESS_ADDR
// and returns its body), /admin/ready?on=false, /admin/health?on=false,
// /crash (exit 1).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

type state struct {
	port             string
	readyAt          time.Time
	notReady         atomic.Bool // set by /admin/ready?on=false or SIGTERM
	unhealthy        atomic.Bool
	served           atomic.Int64
	servedNotReady   atomic.Int64
	servedDraining   atomic.Int64
	draining         atomic.Bool
	egressClient     *http.Client
	shutdownDelay    time.Duration
	gracefulShutdown bool
}

func (s *state) ready() bool {
	return !s.notReady.Load() && !time.Now().Before(s.readyAt)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testsvc:", err)
		os.Exit(1)
	}
}

func duration(name string) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

func run() error {
	port := os.Getenv("PORT")
	if port == "" {
		return errors.New("PORT is not set")
	}
	host := os.Getenv("HOST")
	if host == "" {
		host = "0.0.0.0"
	}
	startDelay, err := duration("START_DELAY")
	if err != nil {
		return err
	}
	readyDelay, err := duration("READY_DELAY")
	if err != nil {
		return err
	}
	s := &state{port: port, gracefulShutdown: os.Getenv("GRACEFUL") != "false"}
	if s.shutdownDelay, err = duration("SHUTDOWN_DELAY"); err != nil {
		return err
	}
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	if e := os.Getenv("EGRESS_ADDR"); e != "" {
		ip := net.ParseIP(e)
		if ip == nil {
			return fmt.Errorf("EGRESS_ADDR %q is not an IP address", e)
		}
		dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	s.egressClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext}}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	time.Sleep(startDelay)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return err
	}
	s.readyAt = time.Now().Add(readyDelay)
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("listening on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case sig := <-sigs:
		fmt.Printf("received %s\n", sig)
	}
	if !s.gracefulShutdown {
		fmt.Println("exiting without draining")
		os.Exit(143)
	}
	s.notReady.Store(true)
	s.draining.Store(true)
	time.Sleep(s.shutdownDelay)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Println("drained, exiting")
	return nil
}

func (s *state) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.served.Add(1)
		if !s.ready() {
			s.servedNotReady.Add(1)
		}
		if s.draining.Load() {
			s.servedDraining.Add(1)
		}
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil {
			time.Sleep(d)
		}
		w.Header().Set("X-Port", s.port)
		_, _ = io.WriteString(w, "port="+s.port+"\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.unhealthy.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]int64{
			"served":           s.served.Load(),
			"served_not_ready": s.servedNotReady.Load(),
			"served_draining":  s.servedDraining.Load(),
			"pid":              int64(os.Getpid()),
		})
	})
	mux.HandleFunc("/egress", func(w http.ResponseWriter, r *http.Request) {
		resp, err := s.egressClient.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	mux.HandleFunc("/admin/ready", func(w http.ResponseWriter, r *http.Request) {
		on, _ := strconv.ParseBool(r.URL.Query().Get("on"))
		s.notReady.Store(!on)
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/admin/health", func(w http.ResponseWriter, r *http.Request) {
		on, _ := strconv.ParseBool(r.URL.Query().Get("on"))
		s.unhealthy.Store(!on)
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("crashing on request")
		os.Exit(1)
	})
	return mux
}
