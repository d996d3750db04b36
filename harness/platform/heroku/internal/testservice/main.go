// Command testservice is the web process the heroku package's tests run as a
// dyno: a real HTTP server reading PORT like a Heroku app, with endpoints
// that misbehave on demand (sleep, close without writing, write partially,
// allocate memory, crash, stop listening) and a record of the requests it
// completed, so a test can see that a dyno finished work the router had
// already given up on.
//
// Environment: PORT (required), EGRESS_ADDR, BOOT_DELAY_MS (wait before
// binding), CRASH_AFTER_MS (exit 1 that long after binding), IGNORE_TERM=1
// (ignore SIGTERM, so only SIGKILL stops it).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
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
	listener net.Listener

	mu        sync.Mutex
	completed []string // X-Request-Id of finished /sleep and /work requests
	hoard     [][]byte // memory kept by /alloc
}

func run() error {
	port := os.Getenv("PORT")
	if port == "" {
		return fmt.Errorf("PORT is not set")
	}
	if os.Getenv("IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	if ms := envInt("BOOT_DELAY_MS"); ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s egress %s pid %d\n", port, os.Getenv("EGRESS_ADDR"), os.Getpid())
	if ms := envInt("CRASH_AFTER_MS"); ms > 0 {
		time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
			fmt.Fprintln(os.Stderr, "crashing as told by CRASH_AFTER_MS")
			os.Exit(1)
		})
	}
	s := &service{listener: l}
	srv := &http.Server{
		Handler: s.routes(),
		// Longer than the router's 90 s keep-alive idle close, as Heroku
		// recommends.
		IdleTimeout: 95 * time.Second,
	}
	err = srv.Serve(l)
	if s.unlistened() {
		for { // keep running without a listener until killed
			time.Sleep(time.Hour)
		}
	}
	return err
}

func envInt(k string) int {
	n, _ := strconv.Atoi(os.Getenv(k))
	return n
}

func (s *service) unlistened() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listener == nil
}

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
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
		s.mu.Unlock()
		writeJSON(w, map[string]any{"count": len(ids), "ids": ids})
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		h := map[string]string{"Host": r.Host}
		for k := range r.Header {
			h[k] = r.Header.Get(k)
		}
		writeJSON(w, h)
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"pid": os.Getpid(), "egress": os.Getenv("EGRESS_ADDR"), "port": os.Getenv("PORT"), "remote": r.RemoteAddr})
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
	mux.HandleFunc("/alloc", func(w http.ResponseWriter, r *http.Request) {
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		b := make([]byte, mb<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1 // touch every page so it counts in RSS
		}
		s.mu.Lock()
		s.hoard = append(s.hoard, b)
		s.mu.Unlock()
		fmt.Fprintf(w, "allocated %d MB\n", mb)
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
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
	s.completed = append(s.completed, r.Header.Get("X-Request-Id"))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
