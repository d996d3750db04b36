// Command testservice is the one HTTP service the platforms' and the stack
// drivers' tests run as a dyno, a replica, a pod or a container: a real
// server reading PORT as a Heroku app or a pod does, that behaves like a
// well-made service and misbehaves on demand.
//
// Environment:
//
//	PORT (required), HOST (default 0.0.0.0)   where to listen
//	START_DELAY    wait this long before binding (a slow boot)
//	READY_DELAY    bind, but answer /readyz 503 for this long
//	CRASH_AFTER    exit 1 this long after binding
//	ON_TERM        what SIGTERM does: drain (default: stop being ready,
//	               keep serving SHUTDOWN_DELAY, finish in-flight requests,
//	               exit 0), die (the signal's default: exit at once, 143)
//	               or ignore (only SIGKILL stops it)
//	SHUTDOWN_DELAY see ON_TERM=drain
//	EGRESS_ADDR    source address of outbound calls (/egress, /dial)
//
// Endpoints: / (answers "port=<PORT>"; ?sleep=10ms delays), /readyz,
// /healthz, /stats (JSON counters), /env (JSON; ?k=NAME the raw value of
// one variable), /egress?url=U (GET U from EGRESS_ADDR), /dial?addr=A (a TCP
// connect), /admin/ready?on=, /admin/health?on=, /alloc?mb=N (hold N MiB,
// touched so they count in RSS), /crash?code=N, /unlisten (stop listening,
// keep running); and for the Heroku router's tests /sleep?ms= (records the
// X-Request-Id it completed, see /completed), /work, /headers, /close,
// /partial, /raw, /stream.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testservice:", err)
		os.Exit(1)
	}
}

type service struct {
	port          string
	readyAt       time.Time
	shutdownDelay time.Duration
	dialer        *net.Dialer
	egressClient  *http.Client

	notReady       atomic.Bool // set by /admin/ready?on=false or SIGTERM
	unhealthy      atomic.Bool
	draining       atomic.Bool
	served         atomic.Int64
	servedNotReady atomic.Int64
	servedDraining atomic.Int64

	mu          sync.Mutex
	listener    net.Listener         // nil after /unlisten
	completed   []string             // X-Request-Id of finished /sleep requests
	completedAt map[string]time.Time // when each finished
	hoard       [][]byte             // memory kept by /alloc
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
	var startDelay, readyDelay, crashAfter time.Duration
	s := &service{port: port, completedAt: map[string]time.Time{}}
	for name, d := range map[string]*time.Duration{"START_DELAY": &startDelay, "READY_DELAY": &readyDelay, "CRASH_AFTER": &crashAfter, "SHUTDOWN_DELAY": &s.shutdownDelay} {
		v, err := duration(name)
		if err != nil {
			return err
		}
		*d = v
	}
	s.dialer = &net.Dialer{Timeout: 2 * time.Second}
	if e := os.Getenv("EGRESS_ADDR"); e != "" {
		ip := net.ParseIP(e)
		if ip == nil {
			return fmt.Errorf("EGRESS_ADDR %q is not an IP address", e)
		}
		s.dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	s.egressClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: s.dialer.DialContext}}

	onTerm := os.Getenv("ON_TERM")
	sigs := make(chan os.Signal, 1)
	switch onTerm {
	case "", "drain":
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	case "ignore":
		signal.Ignore(syscall.SIGTERM)
	case "die":
	default:
		return fmt.Errorf("ON_TERM %q: want drain, die or ignore", onTerm)
	}

	time.Sleep(startDelay)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return err
	}
	s.listener = ln
	s.readyAt = time.Now().Add(readyDelay)
	fmt.Printf("listening on %s egress %s pid %d\n", ln.Addr(), os.Getenv("EGRESS_ADDR"), os.Getpid())
	if crashAfter > 0 {
		time.AfterFunc(crashAfter, func() {
			fmt.Fprintln(os.Stderr, "crashing as told by CRASH_AFTER")
			os.Exit(1)
		})
	}
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		// Longer than the Heroku router's 90 s keep-alive idle close, as
		// Heroku recommends.
		IdleTimeout: 95 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		if s.unlistened() {
			<-sigs // keep running without a listener until stopped
			return nil
		}
		return err
	case sig := <-sigs:
		fmt.Printf("received %s\n", sig)
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

func (s *service) ready() bool {
	return !s.notReady.Load() && !time.Now().Before(s.readyAt)
}

func (s *service) unlistened() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listener == nil
}

func (s *service) routes() *http.ServeMux {
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
		writeJSON(w, map[string]int64{
			"served":           s.served.Load(),
			"served_not_ready": s.servedNotReady.Load(),
			"served_draining":  s.servedDraining.Load(),
			"pid":              int64(os.Getpid()),
		})
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		if k := r.URL.Query().Get("k"); k != "" {
			_, _ = io.WriteString(w, os.Getenv(k))
			return
		}
		writeJSON(w, map[string]any{"pid": os.Getpid(), "egress": os.Getenv("EGRESS_ADDR"), "port": os.Getenv("PORT"), "remote": r.RemoteAddr})
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
	mux.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := s.dialer.DialContext(r.Context(), "tcp", r.URL.Query().Get("addr"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = c.Close()
		_, _ = io.WriteString(w, "ok")
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
	mux.HandleFunc("/alloc", func(w http.ResponseWriter, r *http.Request) {
		mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
		if err != nil || mb <= 0 || mb > 4096 {
			http.Error(w, "want mb=1..4096", http.StatusBadRequest)
			return
		}
		b := make([]byte, mb<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1 // touch every page so it counts in RSS
		}
		s.mu.Lock()
		s.hoard = append(s.hoard, b)
		n := len(s.hoard)
		s.mu.Unlock()
		fmt.Fprintf(w, "allocated %d MB (%d allocations held)\n", mb, n)
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			code = 1
		}
		fmt.Fprintln(os.Stderr, "crashing as told by /crash")
		os.Exit(code)
	})
	mux.HandleFunc("/unlisten", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		l := s.listener
		s.listener = nil
		s.mu.Unlock()
		if l != nil {
			_ = l.Close()
		}
		_, _ = io.WriteString(w, "no longer listening\n")
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		// The request completes unless its connection goes away first:
		// a dyno behind a proxy that closes the connection notices (Go
		// watches the connection once the body is read).
		_, _ = io.Copy(io.Discard, r.Body)
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			fmt.Fprintln(os.Stderr, "request", r.Header.Get("X-Request-Id"), "abandoned by the router")
			return
		}
		s.complete(r)
		fmt.Fprintf(w, "slept %d\n", ms)
	})
	mux.HandleFunc("/work", s.work)
	mux.HandleFunc("/completed", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ids := append([]string{}, s.completed...)
		at := map[string]int64{}
		for id, t := range s.completedAt {
			at[id] = t.UnixNano()
		}
		s.mu.Unlock()
		writeJSON(w, map[string]any{"count": len(ids), "ids": ids, "at_unix_nano": at})
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		h := map[string]string{"Host": r.Host}
		for k := range r.Header {
			h[k] = r.Header.Get(k)
		}
		writeJSON(w, h)
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	})
	mux.HandleFunc("/partial", func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if r.URL.Query().Get("head") == "1" {
			_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Ty")
		} else {
			_, _ = bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly part of")
		}
		_ = bw.Flush()
		_ = conn.Close()
	})
	mux.HandleFunc("/raw", func(w http.ResponseWriter, r *http.Request) {
		// A hand-written response head: ?status=HTTP/1.1+200 (no reason
		// phrase) or ?cookie=N (a Set-Cookie of N bytes).
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		status := r.URL.Query().Get("status")
		if status == "" {
			status = "HTTP/1.1 200 OK"
		}
		cookie := ""
		if n, _ := strconv.Atoi(r.URL.Query().Get("cookie")); n > 0 {
			cookie = "Set-Cookie: c=" + strings.Repeat("x", n-2) + "\r\n"
		}
		_, _ = bw.WriteString(status + "\r\n" + cookie + "Content-Length: 3\r\nConnection: close\r\n\r\nraw")
		_ = bw.Flush()
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		chunks, _ := strconv.Atoi(r.URL.Query().Get("chunks"))
		gap, _ := strconv.Atoi(r.URL.Query().Get("gap_ms"))
		rc := http.NewResponseController(w)
		for i := 0; i < chunks; i++ {
			if i > 0 {
				time.Sleep(time.Duration(gap) * time.Millisecond)
			}
			if _, err := fmt.Fprintf(w, "chunk %d\n", i); err != nil {
				return
			}
			_ = rc.Flush()
		}
	})
	return mux
}

// work is a small, realistic request: decode a JSON body, hash it, wait
// about one database round trip, answer JSON.
func (s *service) work(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	sum := sha256.Sum256(body)
	time.Sleep(time.Millisecond)
	writeJSON(w, map[string]any{"object": "redemption", "result": "SUCCESS", "id": "r_" + hex.EncodeToString(sum[:8]), "fields": len(in)})
}

func (s *service) complete(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.Header.Get("X-Request-Id")
	s.completed = append(s.completed, id)
	s.completedAt[id] = time.Now()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
