package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// Runner starts single instances of a service: an OS process (proc) or a
// container (docker driver). Platforms (heroku dynos, local replicas) use it
// so they do not care how an instance runs.
type Runner interface {
	Start(ctx context.Context, spec ServiceSpec, cfg InstanceConfig) (Instance, error)
}

// InstanceConfig says how to start one instance of a service.
type InstanceConfig struct {
	// Name is the replica's name (web.1, local-2); it shows in errors.
	Name string
	// Addr is the host:port the instance must serve on. Its port is passed
	// to the service as the PORT environment variable.
	Addr string
	// Egress is the source address the instance should use for outbound
	// connections; passed as EGRESS_ADDR. Empty means any.
	Egress string
	// Env is added over spec.Env (and PORT / EGRESS_ADDR are set last).
	Env map[string]string
	// Output receives every line the instance writes; stream is "stdout"
	// or "stderr". It is called from the runner's copy goroutines, so it
	// must be safe for concurrent use. Nil drops the output.
	Output func(stream, line string)
}

// Instance is one started instance of a service.
type Instance interface {
	// Addr is the host:port the instance serves on (reachable by the
	// platform's router or load balancer).
	Addr() string
	// PID is the OS process id (for containers, the container's init
	// process as seen by the host, or 0 if unknown).
	PID() int
	// Signal sends sig to every process of the instance.
	Signal(sig os.Signal) error
	// Kill stops every process of the instance at once (SIGKILL).
	Kill() error
	// Done is closed once the instance has exited and was reaped.
	Done() <-chan struct{}
	// ExitCode is valid after Done: the exit status as a shell reports it
	// (128+signal when killed by a signal, e.g. 143 for SIGTERM).
	ExitCode() int
	// RSS is the resident memory of all the instance's processes, in bytes.
	RSS() (int64, error)
}

// ErrExited is returned by WaitListening when the instance exits before it
// accepts connections.
var ErrExited = errors.New("instance exited before binding its port")

// WaitListening polls until inst accepts TCP connections on its Addr (the
// boot), the instance exits (ErrExited) or ctx ends.
func WaitListening(ctx context.Context, inst Instance) error {
	d := net.Dialer{Timeout: 200 * time.Millisecond}
	wait := 2 * time.Millisecond
	for {
		conn, err := d.DialContext(ctx, "tcp", inst.Addr())
		if err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-inst.Done():
			return fmt.Errorf("wait for %s: %w (status %d)", inst.Addr(), ErrExited, inst.ExitCode())
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", inst.Addr(), ctx.Err())
		case <-time.After(wait):
		}
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

// Stop asks inst to shut down with SIGTERM and kills it with SIGKILL after
// grace. forced reports whether SIGKILL was needed (Heroku's R12).
func Stop(ctx context.Context, inst Instance, grace time.Duration) (forced bool, err error) {
	if err := inst.Signal(syscall.SIGTERM); err != nil {
		select {
		case <-inst.Done():
			return false, nil
		default:
			return false, fmt.Errorf("stop: %w", err)
		}
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-inst.Done():
		return false, nil
	case <-t.C:
	case <-ctx.Done():
	}
	if err := inst.Kill(); err != nil {
		return true, fmt.Errorf("stop: kill: %w", err)
	}
	<-inst.Done()
	return true, nil
}
