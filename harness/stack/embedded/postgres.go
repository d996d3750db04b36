package embedded

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cutover/cutover/internal/proc"
)

// Database is the name of the database the stack creates for the service.
const Database = "cutover"

// postgres is a throwaway PostgreSQL cluster run from the machine's binaries.
type postgres struct {
	*server
	bin  string
	user pgUser
	dir  string // owned by the postgres user; holds data/ and the socket
	host string
	port int
}

func newPostgres(bin string, user pgUser, dir, host string, port int, fsync bool, logOut io.Writer) *postgres {
	p := &postgres{bin: bin, user: user, dir: dir, host: host, port: port}
	onOff := "off"
	if fsync {
		onOff = "on"
	}
	runner := proc.Local{Dir: dir}
	if user.drop {
		runner.Credential = &syscall.Credential{Uid: user.uid, Gid: user.gid}
	}
	p.server = &server{
		name:   "postgres",
		addr:   netJoin(host, port),
		runner: runner,
		logOut: logOut,
		ready:  p.ping,
		// synchronous_commit stays on: an acknowledged commit survives a
		// crash of the server (fsync=off only risks data on an OS crash,
		// which is not simulated).
		spec: proc.Spec{Name: "postgres", Command: []string{
			filepath.Join(bin, "postgres"),
			"-D", p.dataDir(),
			"-p", strconv.Itoa(port),
			"-k", dir,
			"-c", "listen_addresses=" + host,
			"-c", "fsync=" + onOff,
			"-c", "full_page_writes=" + onOff,
			"-c", "max_connections=400",
			"-c", "shared_buffers=128MB",
			"-c", "log_min_messages=warning",
			"-c", "log_line_prefix=%m [%p] ",
		}},
	}
	return p
}

func (p *postgres) dataDir() string { return filepath.Join(p.dir, "data") }

func (p *postgres) url(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", netJoin(p.host, p.port), db)
}

// initdb creates the cluster: no fsync during init, trust auth on loopback.
func (p *postgres) initdb(ctx context.Context) error {
	if err := os.Chown(p.dir, int(p.user.uid), int(p.user.gid)); err != nil {
		return fmt.Errorf("chown %s to the postgres user: %w", p.dir, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "initdb"),
		"--no-sync", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-D", p.dataDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if p.user.drop {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: p.user.uid, Gid: p.user.gid}
	}
	cmd.Dir = p.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, lastLines(out, 10))
	}
	return nil
}

func (p *postgres) ping(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, p.url("postgres"))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(cctx, "SELECT 1")
	return err
}

// createDatabase creates the service's database.
func (p *postgres) createDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, p.url("postgres"))
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// pgControl implements stack.PostgresControl for the embedded cluster.
type pgControl struct{ p *postgres }

// Crash kills the server abruptly (SIGKILL of its whole process group).
func (c pgControl) Crash(ctx context.Context) error { return c.p.crash() }

// Start starts the server again on the same data directory; Postgres runs
// its crash recovery.
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
	defer func() { _ = conn.Close(context.Background()) }()
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
