package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/cutover/cutover/internal/proc"
)

// server is a local server process (postgres, redis-server) that faults can
// crash and start again on the same address and data. It runs through
// proc, as the service's replicas do: its own process group, killed with
// the harness (parent-death signal).
type server struct {
	name   string
	addr   string
	runner proc.Runner
	spec   proc.Spec
	logOut io.Writer
	// ready polls until the server answers.
	ready func(ctx context.Context) error

	mu   sync.Mutex
	inst proc.Instance
	tail *tailBuffer
}

// start runs the server and waits until it answers.
func (s *server) start(ctx context.Context) error {
	s.mu.Lock()
	if s.inst != nil {
		s.mu.Unlock()
		return fmt.Errorf("%s is already running", s.name)
	}
	tail := newTailBuffer(20)
	out := s.logOut
	inst, err := s.runner.Start(ctx, s.spec, proc.InstanceConfig{
		Name: s.name,
		Addr: s.addr,
		Output: func(_, line string) {
			_, _ = tail.Write([]byte(line + "\n"))
			if out != nil {
				_, _ = io.WriteString(out, line+"\n")
			}
		},
	})
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.inst, s.tail = inst, tail
	s.mu.Unlock()

	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		err := s.ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-inst.Done():
			s.forget(inst)
			return fmt.Errorf("%s exited during start (status %d): %s", s.name, inst.ExitCode(), tail.String())
		case <-ctx.Done():
			_ = s.crash()
			return fmt.Errorf("wait for %s: %w", s.name, ctx.Err())
		case <-deadline.C:
			_ = s.crash()
			return fmt.Errorf("%s did not answer within 60s: %w; log: %s", s.name, err, tail.String())
		case <-time.After(15 * time.Millisecond):
		}
	}
}

func (s *server) forget(inst proc.Instance) {
	s.mu.Lock()
	if s.inst == inst {
		s.inst = nil
	}
	s.mu.Unlock()
}

func (s *server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inst == nil {
		return 0
	}
	return s.inst.PID()
}

// crash kills the server's whole process group with SIGKILL and returns
// once it is reaped.
func (s *server) crash() error {
	s.mu.Lock()
	inst := s.inst
	s.inst = nil
	s.mu.Unlock()
	if inst == nil {
		return nil
	}
	if err := inst.Kill(); err != nil {
		return err
	}
	<-inst.Done()
	return nil
}

// stop asks the server to shut down with sig, and kills it after grace.
func (s *server) stop(sig syscall.Signal, grace time.Duration) error {
	s.mu.Lock()
	inst := s.inst
	s.inst = nil
	s.mu.Unlock()
	if inst == nil {
		return nil
	}
	if err := inst.Signal(sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		select {
		case <-inst.Done():
			return nil
		default:
			return err
		}
	}
	select {
	case <-inst.Done():
	case <-time.After(grace):
		_ = inst.Kill()
		<-inst.Done()
	}
	return nil
}
