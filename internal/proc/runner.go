package proc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Runner starts single instances of a service: an OS process (Local) or a
// container (the docker driver's). Platforms (heroku dynos, local replicas)
// and the embedded stack use it, so they do not care how an instance runs.
type Runner interface {
	Start(ctx context.Context, spec Spec, cfg InstanceConfig) (Instance, error)
}

// Spec is what to run: a binary (embedded driver) or an image (docker
// driver, kind). The service reads PORT like a Heroku app.
type Spec struct {
	Name string `json:"name"`
	// Command is the binary and its arguments, for process-based runners.
	Command []string `json:"command,omitempty"`
	// Image is the container image, for container-based runners.
	Image string            `json:"image,omitempty"`
	Env   map[string]string `json:"env,omitempty"`
	// HealthPath answers while the process is alive; ReadyPath answers when
	// its dependencies are reachable. Defaults /healthz and /readyz.
	HealthPath string `json:"health_path,omitempty"`
	ReadyPath  string `json:"ready_path,omitempty"`
}

// FreePort finds a free TCP port on host and holds it, so that no one else
// takes it, until release is called — just before the caller (or the
// process it starts) binds it, as kind's GetFreePort does.
//
// The port is picked below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), where the system never puts the
// source port of an outgoing connection: a rehearsal opens thousands of
// loopback connections a second, and a port from the ephemeral range (what
// binding port 0 gives) could be taken by one of them between release and
// the server's bind — a CI run lost a Postgres start to just that. Where
// the range is unknown or leaves no room below it, port 0 is used.
func FreePort(host string) (port int, release func(), err error) {
	if low := ephemeralLow(); low > minPort+1000 {
		for range 50 {
			p := minPort + rand.IntN(low-minPort)
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
			if err == nil {
				return p, func() { _ = l.Close() }, nil
			}
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, nil, fmt.Errorf("find free port on %s: %w", host, err)
	}
	return l.Addr().(*net.TCPAddr).Port, func() { _ = l.Close() }, nil
}

// minPort is the lowest port FreePort picks: above the well-known and the
// commonly registered service ports.
const minPort = 10000

// ephemeralLow is the first port of the kernel's ephemeral range, or 0.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return low
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
