// Command reaper removes what a run of the docker driver leaves behind when
// the harness dies without closing its stack (SIGKILL, an OOM kill, a
// crash): the small equivalent of testcontainers' Ryuk, which cannot be had
// on every machine. The docker driver starts it first, in a container of
// its own (`make images` builds it FROM scratch from this command), with
// the Docker socket and the run's id; the harness then connects to it and
// keeps the connection open for the whole run. When the last connection
// closes — the kernel closes a dead process's sockets at once — the reaper
// removes every container, network and volume labelled with the run's id,
// its own container last (it runs with --rm), within a second or two.
//
// A harness that closes its stack normally removes everything itself, the
// reaper's container included; the reaper then never acts. A harness that
// dies before it connected is covered by -connect-timeout.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/cutover/cutover/internal/dockerengine"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "reaper:", err)
		os.Exit(1)
	}
}

// Greeting is the line the reaper sends each connection once it watches
// it: the harness knows from it that the run is covered.
const Greeting = "ACK"

func run(args []string) error {
	fs := flag.NewFlagSet("reaper", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:7070", "address to accept the harness's connection on")
	runID := fs.String("run", "", "id of the run whose labelled resources to remove (required)")
	self := fs.String("self", "", "name of the reaper's own container, left for Docker to remove")
	connectTimeout := fs.Duration("connect-timeout", time.Minute, "remove the run's resources when no connection came within this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runID == "" {
		return errors.New("-run is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Printf("reaper: watching run %s on %s\n", *runID, ln.Addr())

	why := watch(ctx, ln, *connectTimeout)
	if ctx.Err() != nil {
		// Stopped (the stack's own Close removes the container): the
		// harness is alive and cleans up after itself.
		fmt.Println("reaper: stopped")
		return nil
	}
	fmt.Printf("reaper: %s; removing run %s\n", why, *runID)
	return reap(*runID, *self)
}

// watch returns once the last connection closed (at least one having come)
// or none came within connectTimeout, saying which; or when ctx ends.
func watch(ctx context.Context, ln net.Listener, connectTimeout time.Duration) string {
	var mu sync.Mutex
	open, seen := 0, false
	closed := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open++
			seen = true
			mu.Unlock()
			go func() {
				defer c.Close()
				if _, err := fmt.Fprintln(c, Greeting); err == nil {
					// The harness never writes; a read returns when its
					// end closes (or resets).
					_, _ = bufio.NewReader(c).ReadString('\n')
				}
				mu.Lock()
				open--
				last := open == 0
				mu.Unlock()
				if last {
					select {
					case closed <- struct{}{}:
					default:
					}
				}
			}()
		}
	}()
	timeout := time.NewTimer(connectTimeout)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-timeout.C:
			mu.Lock()
			s := seen
			mu.Unlock()
			if !s {
				return fmt.Sprintf("no connection within %v", connectTimeout)
			}
		case <-closed:
			mu.Lock()
			o := open
			mu.Unlock()
			if o == 0 {
				return "the harness's connection closed"
			}
		}
	}
}

// reap removes the run's containers (all but the reaper's own), networks
// and volumes, in passes until one finds nothing: a container the harness
// asked for just before it died may appear after the first pass.
func reap(run, self string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	var errs []error
	for pass := range 5 {
		rep, err := dockerengine.Prune(ctx, cli, dockerengine.PruneOptions{Run: run, Except: []string{self}})
		for _, r := range rep.Removed {
			fmt.Printf("reaper: removed %s\n", r)
		}
		if err != nil {
			errs = append(errs, err)
		}
		if len(rep.Removed) == 0 && err == nil && pass > 0 {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return errors.Join(errs...)
}
