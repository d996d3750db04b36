// Package proc is the process layer both the platforms and the stack drivers
// stand on: the Runner interface that starts one instance of a service (an
// OS process here, a container in the docker driver), waiting for an
// instance to bind its port, stopping it with SIGTERM then SIGKILL, and free
// ports held until the caller lets go. Local runs an instance as an OS
// process: started in its own process group, killed with the harness
// (Pdeathsig), its output captured line by line, its memory measured from
// /proc.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Local starts service binaries as OS processes. The zero value is ready
// to use.
type Local struct {
	// Dir is the working directory of started processes ("" = the caller's).
	Dir string
	// InheritEnv passes the harness's own environment to the process before
	// spec.Env and cfg.Env. Heroku dynos see only their config vars, so it
	// is off by default; PATH and HOME are always passed.
	InheritEnv bool
	// Credential, when set, runs the process as that user and group (a
	// server that refuses to run as root, such as PostgreSQL).
	Credential *syscall.Credential
}

var _ Runner = Local{}

// Start launches spec.Command with PORT (the port of cfg.Addr) and
// EGRESS_ADDR set. It returns as soon as the process runs; use
// WaitListening to wait for its boot.
func (r Local) Start(ctx context.Context, spec Spec, cfg InstanceConfig) (Instance, error) {
	if len(spec.Command) == 0 {
		return nil, fmt.Errorf("start %s: service %q has no command", cfg.Name, spec.Name)
	}
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("start %s: addr %q: %w", cfg.Name, cfg.Addr, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	cmd := exec.Command(spec.Command[0], spec.Command[1:]...)
	cmd.Dir = r.Dir
	cmd.Env = buildEnv(r.InheritEnv, spec.Env, cfg.Env, port, cfg.Egress)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: r.Credential,
	}
	out := cfg.Output
	if out == nil {
		out = func(string, string) {}
	}
	stdout := &lineWriter{stream: "stdout", emit: out}
	stderr := &lineWriter{stream: "stderr", emit: out}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	// A grandchild may keep the pipes open after the group is killed;
	// do not let that block Wait for long.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	p := &Process{
		name: cfg.Name,
		addr: cfg.Addr,
		cmd:  cmd,
		pid:  cmd.Process.Pid,
		done: make(chan struct{}),
	}
	go p.wait(stdout, stderr)
	return p, nil
}

func buildEnv(inherit bool, specEnv, cfgEnv map[string]string, port, egress string) []string {
	env := map[string]string{}
	if inherit {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	} else {
		for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = v
			}
		}
	}
	for k, v := range specEnv {
		env[k] = v
	}
	for k, v := range cfgEnv {
		env[k] = v
	}
	env["PORT"] = port
	if egress != "" {
		env["EGRESS_ADDR"] = egress
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	list := make([]string, 0, len(keys))
	for _, k := range keys {
		list = append(list, k+"="+env[k])
	}
	return list
}

// Process is one running service process and its process group.
type Process struct {
	name string
	addr string
	cmd  *exec.Cmd
	pid  int
	done chan struct{}

	mu       sync.Mutex
	exitCode int
	waitErr  error
}

var _ Instance = (*Process)(nil)

func (p *Process) wait(stdout, stderr *lineWriter) {
	err := p.cmd.Wait()
	// Whatever the main process left behind in its group goes with it, as
	// everything in a dyno stops when the dyno stops.
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	stdout.flush()
	stderr.flush()
	code := exitCode(p.cmd.ProcessState)
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	p.mu.Lock()
	p.exitCode = code
	p.waitErr = err
	p.mu.Unlock()
	close(p.done)
}

// exitCode is the status a shell would report: the exit code, or 128+signal.
func exitCode(st *os.ProcessState) int {
	if st == nil {
		return -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// Name is the instance name given at start.
func (p *Process) Name() string { return p.name }

// Addr is the host:port the process was told to serve on.
func (p *Process) Addr() string { return p.addr }

// PID is the process id, also the id of its process group.
func (p *Process) PID() int { return p.pid }

// Done is closed once the process has exited and was reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the shell-style exit status (143 after SIGTERM); -1 before Done.
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
	default:
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitCode
}

// Signal sends sig to every process of the group.
func (p *Process) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("signal %s: unsupported signal %v", p.name, sig)
	}
	select {
	case <-p.done:
		return fmt.Errorf("signal %s: %w", p.name, os.ErrProcessDone)
	default:
	}
	if err := syscall.Kill(-p.pid, s); err != nil {
		return fmt.Errorf("signal %s with %v: %w", p.name, sig, err)
	}
	return nil
}

// Kill sends SIGKILL to the whole group. Killing an exited process is not an
// error.
func (p *Process) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	return nil
}

// RSS sums VmRSS of every live process in the group, in bytes.
func (p *Process) RSS() (int64, error) {
	select {
	case <-p.done:
		return 0, fmt.Errorf("rss of %s: %w", p.name, os.ErrProcessDone)
	default:
	}
	pids, err := groupPIDs(p.pid)
	if err != nil {
		return 0, fmt.Errorf("rss of %s: %w", p.name, err)
	}
	var total int64
	for _, pid := range pids {
		n, err := vmRSS(pid)
		if err != nil {
			continue // exited between listing and reading
		}
		total += n
	}
	return total, nil
}

// groupPIDs lists the processes whose process group is pgid.
func groupPIDs(pgid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pid == pgid {
			pids = append(pids, pid)
			continue
		}
		g, err := statPgrp(pid)
		if err == nil && g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// statPgrp reads the process group (field 5) from /proc/PID/stat.
func statPgrp(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatPgrp(b)
}

// parseStatPgrp extracts pgrp from a /proc/PID/stat line. The command name
// (field 2) is in parentheses and may hold spaces or parentheses, so the
// fields are counted from the last ')'.
func parseStatPgrp(b []byte) (int, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0]=state f[1]=ppid f[2]=pgrp
	if len(f) < 3 {
		return 0, errors.New("stat: too few fields")
	}
	return strconv.Atoi(f[2])
}

// vmRSS reads VmRSS from /proc/PID/status, in bytes.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

// parseVmRSS finds the "VmRSS:   1234 kB" line. Zombies and kernel threads
// have none, which counts as 0.
func parseVmRSS(b []byte) (int64, error) {
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("status: bad VmRSS line %q", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status: VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, nil
}

// maxLine is the longest line passed on whole; longer ones are split.
const maxLine = 64 << 10

// lineWriter turns a byte stream into lines for emit.
type lineWriter struct {
	stream string
	emit   func(stream, line string)
	mu     sync.Mutex
	buf    []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			w.buf = append(w.buf, b...)
			for len(w.buf) >= maxLine {
				w.emit(w.stream, string(w.buf[:maxLine]))
				w.buf = append(w.buf[:0], w.buf[maxLine:]...)
			}
			break
		}
		w.buf = append(w.buf, b[:i]...)
		w.emit(w.stream, strings.TrimSuffix(string(w.buf), "\r"))
		w.buf = w.buf[:0]
		b = b[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.stream, string(w.buf))
		w.buf = w.buf[:0]
	}
}
