// Command probe is a tiny HTTP service for the docker driver's tests, run
// as a container like the service under test: it serves on PORT, reports its
// environment, dials addresses from inside its network, allocates memory on request (to reach a memory limit) and
// dies from SIGTERM unless GRACEFUL (shut down cleanly) or IGNORE_TERM
// (ignore it, as a hung service would) is set.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		fmt.Fprintln(os.Stderr, "probe: PORT is not set")
		os.Exit(2)
	}
	var (
		mu   sync.Mutex
		held [][]byte
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(r.URL.Query().Get("k")))
	})
	mux.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.URL.Query().Get("addr"), 2*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c.Close()
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/alloc", func(w http.ResponseWriter, r *http.Request) {
		mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
		if err != nil || mb <= 0 || mb > 4096 {
			http.Error(w, "want mb=1..4096", http.StatusBadRequest)
			return
		}
		for range mb {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1 // touch every page so it is resident
			}
			mu.Lock()
			held = append(held, b)
			mu.Unlock()
		}
		fmt.Fprintln(w, "held", len(held), "MiB")
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux}
	if os.Getenv("IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	}
	if os.Getenv("GRACEFUL") != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		go func() {
			<-ctx.Done()
			fmt.Println("probe: SIGTERM, shutting down")
			_ = srv.Shutdown(context.Background())
		}()
	}
	fmt.Println("probe: listening on :" + port)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	fmt.Println("probe: bye")
}
