// Package replica runs instances of the service under test as containers:
// the proc.Runner of the docker driver, so the Heroku simulation's dynos
// and the local target's replicas run the service image instead of a local
// binary. Each instance is one container in the host's network namespace,
// serving PORT on the instance's loopback address as a process would (no
// published port, so no docker-proxy between a router and its dynos),
// signalled through the Docker API, with docker-init as PID 1 so signals reach the service and a
// signal death reads 128+signal as from a shell. A memory limit is a real
// cgroup limit: past it the kernel OOM-kills the service (a real R15).
package replica

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/cutover/cutover/internal/dockerengine"
	"github.com/cutover/cutover/internal/machine"
	"github.com/cutover/cutover/internal/proc"
)

// LabelReplica holds the instance's name (web.1, local-2) on its container.
const LabelReplica = "org.cutover.replica"

// Options configure a Runner.
type Options struct {
	// Run is the run id: part of container names and labels.
	Run string
	// MemoryLimit is each instance's cgroup memory limit in bytes (no
	// swap); 0 for none.
	MemoryLimit int64
}

// Runner starts containers of a service image. It owns them: Close removes
// those still there.
type Runner struct {
	cli  *client.Client
	opts Options
	// ctx lives until Close; it bounds the goroutines that watch instances.
	ctx    context.Context
	cancel context.CancelFunc
	seq    atomic.Int64

	mu   sync.Mutex
	live map[*Instance]struct{}
}

var _ proc.Runner = (*Runner)(nil)

// New returns a Runner using cli.
func New(cli *client.Client, opts Options) *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{cli: cli, opts: opts, ctx: ctx, cancel: cancel, live: map[*Instance]struct{}{}}
}

// Start creates and starts a container of spec.Image serving on cfg.Addr:
// in the host's network namespace, the service listens on PORT (cfg.Addr's
// port) as a process would, and EGRESS_ADDR is set as for a process.
// Instances therefore need distinct ports. It returns once the container
// runs; use proc.WaitListening for the boot. spec.Command is ignored
// (it names a host binary); the image's entrypoint runs.
func (r *Runner) Start(ctx context.Context, spec proc.Spec, cfg proc.InstanceConfig) (proc.Instance, error) {
	if spec.Image == "" {
		return nil, fmt.Errorf("start %s: service %q has no image", cfg.Name, spec.Name)
	}
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("start %s: addr %q: %w", cfg.Name, cfg.Addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("start %s: port %q: %w", cfg.Name, port, err)
	}

	labels := dockerengine.Labels(r.opts.Run, "replica")
	labels[LabelReplica] = cfg.Name
	init := true
	hc := &container.HostConfig{Init: &init, NetworkMode: "host"}
	if r.opts.MemoryLimit > 0 {
		hc.Memory = r.opts.MemoryLimit
		hc.MemorySwap = r.opts.MemoryLimit
	}
	if cfg.Output != nil {
		// The output is read from an attached stream (below), not from
		// the engine's log file: with a logging driver, every line the
		// service writes (an access-log line per request) is encoded
		// into a JSON log file by dockerd and decoded again to follow
		// it — dockerd took 4.9 % of the machine in a 3x rehearsal (340
		// requests/s), 2.5 % with the stream (perf, issue 17).
		hc.LogConfig = container.LogConfig{Type: "none"}
	}
	conf := &container.Config{Image: spec.Image, Labels: labels, Env: instanceEnv(spec.Env, cfg.Env, port, cfg.Egress)}
	name := fmt.Sprintf("cutover-%s-%s-%d", r.opts.Run, safeName(cfg.Name), r.seq.Add(1))
	created, err := r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     conf,
		HostConfig: hc,
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: create container from %s: %w", cfg.Name, spec.Image, err)
	}
	inst := &Instance{
		ctr:  dockerengine.NewContainer(r.cli, created.ID, cfg.Name),
		cli:  r.cli,
		addr: cfg.Addr,
		done: make(chan struct{}),
	}
	// Attach before starting, so no line of the output is missed.
	var attached *client.ContainerAttachResult
	if cfg.Output != nil {
		a, err := r.cli.ContainerAttach(ctx, created.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
		if err != nil {
			_ = inst.ctr.Remove(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("start %s: attach to its output: %w", cfg.Name, err)
		}
		attached = &a
	}
	// Wait for the next exit before starting, so no exit is missed.
	waited := r.cli.ContainerWait(r.ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := r.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		if attached != nil {
			attached.Close()
		}
		_ = inst.ctr.Remove(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	if st, err := inst.ctr.State(ctx); err == nil {
		inst.pid = st.Pid
	}
	logsDone := make(chan struct{})
	if attached != nil {
		go copyOutput(*attached, cfg.Output, logsDone)
	} else {
		close(logsDone)
	}
	r.mu.Lock()
	r.live[inst] = struct{}{}
	r.mu.Unlock()
	go r.watch(inst, waited, logsDone)
	return inst, nil
}

// instanceEnv is the environment of an instance, as a process gets it:
// spec's, then cfg's, then PORT and EGRESS_ADDR.
func instanceEnv(specEnv, cfgEnv map[string]string, port, egress string) []string {
	env := merge(specEnv, cfgEnv)
	env["PORT"] = port
	if egress != "" {
		env["EGRESS_ADDR"] = egress
	}
	return envList(env)
}

func merge(a, b map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range a {
		env[k] = v
	}
	for k, v := range b {
		env[k] = v
	}
	return env
}

func envList(env map[string]string) []string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "-") }

// copyOutput streams the attached container's output, line by line, to
// out until the container exits (the stream ends with it).
func copyOutput(a client.ContainerAttachResult, out func(stream, line string), done chan<- struct{}) {
	defer close(done)
	defer a.Close()
	stdout, stderr := newLineWriter("stdout", out), newLineWriter("stderr", out)
	_, _ = stdcopy.StdCopy(stdout, stderr, a.Reader)
	stdout.Close()
	stderr.Close()
}

// watch waits for the instance's exit, records its status and removes its
// container. When the Runner closes first, it kills the container.
func (r *Runner) watch(inst *Instance, waited client.ContainerWaitResult, logsDone <-chan struct{}) {
	code := -1
	select {
	case res := <-waited.Result:
		code = int(res.StatusCode)
	case err := <-waited.Error:
		_ = err // the wait failed: the exit code stays unknown (-1)
	}
	// Detached from r.ctx: the container must be inspected and removed
	// even while the Runner closes.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if st, err := inst.ctr.State(ctx); err == nil {
		if st.Running || st.Paused {
			// The wait ended without an exit (Close, a lost connection).
			_ = inst.ctr.Remove(ctx)
		} else {
			code = st.ExitCode
		}
		inst.oomKilled.Store(st.OOMKilled)
	}
	select {
	case <-logsDone:
	case <-time.After(2 * time.Second):
	}
	_ = inst.ctr.Remove(ctx)
	inst.exitCode.Store(int64(code))
	r.mu.Lock()
	delete(r.live, inst)
	r.mu.Unlock()
	close(inst.done)
}

// Close removes every container this Runner started and still runs, and
// waits until each is reaped.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	live := make([]*Instance, 0, len(r.live))
	for inst := range r.live {
		live = append(live, inst)
	}
	r.mu.Unlock()
	for _, inst := range live {
		_ = inst.ctr.Remove(ctx)
	}
	r.cancel()
	for _, inst := range live {
		select {
		case <-inst.done:
		case <-ctx.Done():
			return fmt.Errorf("close replica runner: %w", ctx.Err())
		}
	}
	return nil
}

// Instance is one running container of the service.
type Instance struct {
	ctr  *dockerengine.Container
	cli  *client.Client
	addr string
	pid  int
	done chan struct{}

	exitCode  atomic.Int64
	oomKilled atomic.Bool
}

var _ proc.Instance = (*Instance)(nil)

// Addr is the host:port the container's PORT is published on.
func (i *Instance) Addr() string { return i.addr }

// PID is the container's init process (docker-init) as seen by the host.
func (i *Instance) PID() int { return i.pid }

// Container is the instance's container, for faults beyond the Instance
// interface (pause, memory limit).
func (i *Instance) Container() *dockerengine.Container { return i.ctr }

// Done is closed once the container exited and was removed.
func (i *Instance) Done() <-chan struct{} { return i.done }

// ExitCode is the shell-style exit status (143 after SIGTERM, 137 after
// SIGKILL or an OOM kill); -1 before Done.
func (i *Instance) ExitCode() int {
	select {
	case <-i.done:
		return int(i.exitCode.Load())
	default:
		return -1
	}
}

// OOMKilled reports, after Done, whether the kernel's OOM killer ended the
// instance for exceeding its memory limit (Heroku's R15).
func (i *Instance) OOMKilled() bool {
	select {
	case <-i.done:
		return i.oomKilled.Load()
	default:
		return false
	}
}

// Signal sends sig through the Docker API to docker-init, which passes it
// to the service.
func (i *Instance) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("signal %s: unsupported signal %v", i.ctr.Name(), sig)
	}
	select {
	case <-i.done:
		return fmt.Errorf("signal %s: %w", i.ctr.Name(), os.ErrProcessDone)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return i.ctr.Signal(ctx, strconv.Itoa(int(s)))
}

// Kill kills the container at once (SIGKILL). Killing an exited instance
// is not an error.
func (i *Instance) Kill() error {
	select {
	case <-i.done:
		return nil
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := i.ctr.Signal(ctx, "SIGKILL"); err != nil {
		select {
		case <-i.done:
			return nil
		default:
		}
		if st, serr := i.ctr.State(ctx); serr == nil && !st.Running {
			return nil
		}
		return err
	}
	return nil
}

// RSS is the resident memory of every process of the container, in bytes.
// A dyno's is read every second, so it comes from the container's memory
// cgroup on this host when that is readable (the engine's stats cost
// dockerd, containerd and the shim about 7 ms of CPU a call), and from the
// engine otherwise (a remote engine: its pids are not this host's).
func (i *Instance) RSS() (int64, error) {
	select {
	case <-i.done:
		return 0, fmt.Errorf("rss of %s: %w", i.ctr.Name(), os.ErrProcessDone)
	default:
	}
	if i.pid > 0 {
		if rss, cg, err := machine.CgroupRSS(i.pid); err == nil && strings.Contains(cg, i.ctr.ID()) {
			return rss, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return i.ctr.RSS(ctx)
}

// Pause freezes the container (a hung dyno: connections stay open, nothing
// answers); Unpause thaws it.
func (i *Instance) Pause(ctx context.Context) error   { return i.ctr.Pause(ctx) }
func (i *Instance) Unpause(ctx context.Context) error { return i.ctr.Unpause(ctx) }

// LimitMemory changes the instance's cgroup memory limit (bytes <= 0 lifts
// it).
func (i *Instance) LimitMemory(ctx context.Context, bytes int64) error {
	return i.ctr.LimitMemory(ctx, bytes)
}

// lineWriter splits a stream into lines for an Output callback.
type lineWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func newLineWriter(stream string, out func(stream, line string)) *lineWriter {
	pr, pw := io.Pipe()
	w := &lineWriter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			out(stream, sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return w
}

func (w *lineWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Close ends the stream (a last partial line is still emitted) and waits
// for the splitter.
func (w *lineWriter) Close() {
	_ = w.pw.Close()
	<-w.done
}
