package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Database is the name of the database the stack creates for the service.
const Database = "cutover"

// postgres is a throwaway PostgreSQL cluster run from the machine's binaries.
type postgres struct {
	bin    string
	user   pgUser
	dir    string // owned by the postgres user; holds data/ and the socket
	host   string
	port   int
	fsync  bool
	logOut io.Writer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
	tail *tailBuffer
}

func (p *postgres) dataDir() string { return filepath.Join(p.dir, "data") }

func (p *postgres) url(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", netJoin(p.host, p.port), db)
}

func (p *postgres) sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if p.user.drop {
		a.Credential = &syscall.Credential{Uid: p.user.uid, Gid: p.user.gid}
	}
	return a
}

// initdb creates the cluster: no fsync during init, trust auth on loopback.
func (p *postgres) initdb(ctx context.Context) error {
	if err := os.Chown(p.dir, int(p.user.uid), int(p.user.gid)); err != nil {
		return fmt.Errorf("chown %s to the postgres user: %w", p.dir, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "initdb"),
		"--no-sync", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-D", p.dataDir())
	cmd.SysProcAttr = p.sysProcAttr()
	cmd.Dir = p.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, lastLines(out, 10))
	}
	return nil
}

// start runs postgres on the data dir and waits until it answers a query.
func (p *postgres) start(ctx context.Context) error {
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return errors.New("postgres is already running")
	}
	fsync := "off"
	if p.fsync {
		fsync = "on"
	}
	// synchronous_commit stays on: an acknowledged commit survives a crash of
	// the server (fsync=off only risks data on an OS crash, which we do not
	// simulate).
	cmd := exec.Command(filepath.Join(p.bin, "postgres"),
		"-D", p.dataDir(),
		"-p", strconv.Itoa(p.port),
		"-k", p.dir,
		"-c", "listen_addresses="+p.host,
		"-c", "fsync="+fsync,
		"-c", "full_page_writes="+fsync,
		"-c", "max_connections=400",
		"-c", "shared_buffers=128MB",
		"-c", "log_min_messages=warning",
		"-c", "log_line_prefix=%m [%p] ",
	)
	cmd.Dir = p.dir
	cmd.SysProcAttr = p.sysProcAttr()
	p.tail = newTailBuffer(20)
	var out io.Writer = p.tail
	if p.logOut != nil {
		out = io.MultiWriter(p.tail, p.logOut)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()

	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		err := p.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			p.mu.Lock()
			p.cmd = nil
			p.mu.Unlock()
			return fmt.Errorf("postgres exited during start: %s", p.tail.String())
		case <-ctx.Done():
			_ = p.crash()
			return fmt.Errorf("wait for postgres: %w", ctx.Err())
		case <-deadline.C:
			_ = p.crash()
			return fmt.Errorf("postgres did not answer within 60s: %v; log: %s", err, p.tail.String())
		case <-time.After(15 * time.Millisecond):
		}
	}
}

func (p *postgres) ping(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, p.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(cctx, "SELECT 1")
	return err
}

func (p *postgres) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// crash kills the whole server process group with SIGKILL and waits for the
// postmaster to be reaped.
func (p *postgres) crash() error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	// The group id is the postmaster's pid (Setpgid); backends share it.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill postgres process group %d: %w", cmd.Process.Pid, err)
	}
	<-done
	return waitGroupGone(cmd.Process.Pid, 5*time.Second)
}

// stop shuts the server down cleanly (SIGINT: fast shutdown), then kills it
// if it has not stopped within the grace period.
func (p *postgres) stop(grace time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	return waitGroupGone(cmd.Process.Pid, 5*time.Second)
}

// waitGroupGone waits until no process of group pgid is left.
func waitGroupGone(pgid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		// Signal 0 to a group checks whether any member exists.
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return fmt.Errorf("process group %d still alive after %s", pgid, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// createDatabase creates the service's database.
func (p *postgres) createDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, p.url("postgres"))
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// pgControl implements stack.PostgresControl for the embedded cluster.
type pgControl struct{ p *postgres }

func (c pgControl) Crash(ctx context.Context) error { return c.p.crash() }

func (c pgControl) Start(ctx context.Context) error {
	if err := c.p.start(ctx); err != nil {
		return fmt.Errorf("restart postgres: %w", err)
	}
	return nil
}

// SetReadOnly flips default_transaction_read_only for the whole server and
// reloads the configuration, so every session's next transaction is read
// only and writes fail with SQLSTATE 25006, as during Heroku maintenance.
func (c pgControl) SetReadOnly(ctx context.Context, on bool) error {
	conn, err := pgx.Connect(ctx, c.p.url("postgres"))
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(context.Background())
	stmt := "ALTER SYSTEM RESET default_transaction_read_only"
	if on {
		stmt = "ALTER SYSTEM SET default_transaction_read_only = on"
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("set read-only=%v: %w", on, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("reload postgres config: %w", err)
	}
	return nil
}
