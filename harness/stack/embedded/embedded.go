// Package embedded is the stack driver that needs no Docker: PostgreSQL from
// the machine's own binaries (dropping root privileges), the machine's
// redis-server, a Mongo-wire server in-process (FerretDB on SQLite), and an
// embedded Toxiproxy in front of every data service, each on a free
// loopback port so two stacks on one machine never collide.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/internal/machine"
	"github.com/cutover/cutover/internal/proc"
)

// Stack is a running embedded stack.
type Stack struct {
	opts stack.Options
	dir  string
	dog  *watchdog

	pg     *postgres
	redis  *redis
	mongo  *mongo
	px     *proxies
	extras []extra

	logs      []*os.File
	endpoints stack.Endpoints
	closeOnce sync.Once
	closeErr  error
}

// Extra is an additional service started with the stack (the Route53
// emulator is one); it returns its endpoints and a function that stops it.
type Extra func(ctx context.Context, host string) (ExtraService, error)

// ExtraService is what an Extra started.
type ExtraService struct {
	Services []stack.Service
	// Apply writes the service's endpoints into e.
	Apply func(e *stack.Endpoints)
	Close func() error
}

type extra struct{ close func() error }

var _ stack.Stack = (*Stack)(nil)

// Start starts every service and returns when all of them answer. On error
// everything already started is stopped again.
func Start(ctx context.Context, opts stack.Options, extras ...Extra) (_ *Stack, err error) {
	opts = opts.WithDefaults()
	bin, err := findPostgresBin()
	if err != nil {
		return nil, err
	}
	user, err := lookupPGUser()
	if err != nil {
		return nil, err
	}
	redisBin, err := findRedis()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cutover-stack-*")
	if err != nil {
		return nil, fmt.Errorf("create stack dir: %w", err)
	}
	s := &Stack{opts: opts, dir: dir}
	// The postgres user must be able to reach its own subdirectory.
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, fmt.Errorf("chmod stack dir: %w", err)
	}
	defer func() {
		if err != nil {
			_ = s.Close(context.Background())
		}
	}()
	if s.dog, err = startWatchdog(dir); err != nil {
		return nil, err
	}
	// Found (or built) before anything starts: building it can take a while.
	pxBin, err := findToxiproxy(ctx)
	if err != nil {
		return nil, fmt.Errorf("start toxiproxy: %w", err)
	}
	pgDir := filepath.Join(dir, "pg")
	redisDir := filepath.Join(dir, "redis")
	for _, d := range []string{pgDir, redisDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	pgPort, release, err := proc.FreePort(opts.Host)
	if err != nil {
		return nil, err
	}
	release() // the process binds it next; until here no one else could take it
	redisPort, release, err := proc.FreePort(opts.Host)
	if err != nil {
		return nil, err
	}
	release() // the process binds it next; until here no one else could take it
	s.pg = newPostgres(bin, user, pgDir, opts.Host, pgPort, opts.Fsync, s.logFile("postgres.log"))
	s.redis = newRedis(redisBin, redisDir, opts.Host, redisPort, s.logFile("redis.log"))

	// Postgres takes most of the start time; the others start meanwhile.
	pgStart := time.Now()
	pgErr := make(chan error, 1)
	go func() {
		if err := s.pg.initdb(ctx); err != nil {
			pgErr <- err
			return
		}
		if err := s.pg.start(ctx); err != nil {
			pgErr <- err
			return
		}
		pgErr <- s.pg.createDatabase(ctx, Database)
	}()

	t := time.Now()
	if err := s.redis.start(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("start redis: %w", err), <-pgErr)
	}
	redisMS := ms(time.Since(t))
	t = time.Now()
	if s.mongo, err = startMongo(opts.Host, dir, s.logFile("mongo.log")); err != nil {
		return nil, errors.Join(err, <-pgErr)
	}
	mongoMS := ms(time.Since(t))
	t = time.Now()
	if s.px, err = startProxies(ctx, pxBin, dir, opts.Host, s.logFile("toxiproxy.log")); err != nil {
		return nil, errors.Join(err, <-pgErr)
	}
	pxMS := ms(time.Since(t))
	var extraServices []ExtraService
	for _, start := range extras {
		es, err := start(ctx, opts.Host)
		if err != nil {
			return nil, errors.Join(err, <-pgErr)
		}
		s.extras = append(s.extras, extra{close: es.Close})
		extraServices = append(extraServices, es)
	}
	if err := <-pgErr; err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	pgMS := ms(time.Since(pgStart))

	e := stack.Endpoints{
		Driver:       "embedded",
		PostgresURL:  s.pg.url(Database),
		RedisURL:     s.redis.url(),
		MongoURL:     s.mongo.uri,
		ToxiproxyURL: s.px.url,
		Links:        map[string]stack.Link{},
		Services: []stack.Service{
			{Name: stack.Postgres, Endpoint: netJoin(s.pg.host, s.pg.port), StartMS: pgMS, PID: s.pg.pid()},
			{Name: stack.Redis, Endpoint: s.redis.addr, StartMS: redisMS, PID: s.redis.pid()},
			{Name: stack.Mongo, Endpoint: hostPort(s.mongo.uri), StartMS: mongoMS},
			{Name: stack.Proxy, Endpoint: s.px.url, StartMS: pxMS, PID: s.px.pid()},
		},
	}
	for _, es := range extraServices {
		e.Services = append(e.Services, es.Services...)
		if es.Apply != nil {
			es.Apply(&e)
		}
	}
	upstreams := map[string]string{
		stack.Postgres: netJoin(s.pg.host, s.pg.port),
		stack.Redis:    s.redis.addr,
		stack.Mongo:    hostPort(s.mongo.uri),
	}
	for _, client := range opts.Clients {
		for _, svc := range stack.DataServices {
			l, err := s.px.add(stack.LinkName(client, svc), opts.Host, upstreams[svc])
			if err != nil {
				return nil, err
			}
			e.Links[l.Name] = l
		}
	}
	s.endpoints = e
	return s, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (s *Stack) logFile(name string) io.Writer {
	if s.opts.LogDir == "" {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(s.opts.LogDir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil
	}
	s.logs = append(s.logs, f)
	return f
}

// Endpoints returns how to reach every service.
func (s *Stack) Endpoints() stack.Endpoints { return s.endpoints }

// Postgres returns the database server's fault controls.
func (s *Stack) Postgres() stack.PostgresControl { return pgControl{s.pg} }

// Redis returns the cache's fault controls.
func (s *Stack) Redis() stack.RedisControl { return s.redis }

// Dir is the stack's temp directory (removed by Close).
func (s *Stack) Dir() string { return s.dir }

// Close stops every service and removes the temp dir.
func (s *Stack) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		for i := len(s.extras) - 1; i >= 0; i-- {
			if err := s.extras[i].close(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.px != nil {
			s.px.close()
		}
		if s.pg != nil {
			// SIGINT is Postgres's fast shutdown.
			if err := s.pg.stop(syscall.SIGINT, 10*time.Second); err != nil {
				errs = append(errs, fmt.Errorf("stop postgres: %w", err))
			}
		}
		if s.mongo != nil {
			s.mongo.close()
		}
		if s.redis != nil {
			if err := s.redis.stop(syscall.SIGTERM, 5*time.Second); err != nil {
				errs = append(errs, fmt.Errorf("stop redis: %w", err))
			}
		}
		for _, f := range s.logs {
			_ = f.Close()
		}
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove stack dir: %w", err))
		}
		if s.dog != nil {
			s.dog.stop()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// hostPort extracts host:port from a mongodb://host:port/ URI.
func hostPort(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	return u.Host
}

// Processes names the stack's server processes (Postgres, Redis,
// Toxiproxy) by pid, for the accounting of the rehearsal machine; the
// Mongo-wire server runs inside the harness process. A server that does
// not run (Postgres during a crash) is left out.
func (s *Stack) Processes() []machine.Process {
	var out []machine.Process
	for _, p := range []machine.Process{
		{Name: stack.Postgres, PID: s.pg.pid()},
		{Name: stack.Redis, PID: s.redis.pid()},
		{Name: stack.Proxy, PID: s.px.pid()},
	} {
		if p.PID > 0 {
			out = append(out, p)
		}
	}
	return out
}
