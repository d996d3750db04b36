// Package docker is the docker stack driver: Postgres, Redis, Mongo,
// Route53 (LocalStack, or this module's emulator in its place) and Toxiproxy
// in containers started by testcontainers-go, in the host's network
// namespace, each bound to a loopback address of the run's own (addrs.go).
// It implements stack.Stack, so a scenario does not change when `--infra
// docker` is given.
//
// Every container and volume carries the labels of package engine. The
// stack removes them on Close; when the harness dies without closing it (a
// SIGKILL), the run's reaper container (cmd/reaper, started first) removes
// them within seconds; and the next Start removes what runs whose process
// died left anyway (`cutover infra prune` does the same by hand).
// testcontainers' own reaper, Ryuk, is turned off: it cannot be had on
// every machine, and it would not know the replica containers.
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"golang.org/x/sync/errgroup"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/docker/internal/replica"
	"github.com/cutover/cutover/internal/dockerengine"
)

// Credentials of the stack's Postgres.
const (
	pgUser     = "cutover"
	pgPassword = "cutover"
	pgDatabase = "cutover"
)

// Options configure a docker stack.
type Options struct {
	stack.Options
	// Images are the images to run; zero fields take DefaultImages.
	Images Images
	// Run is the run's id, part of every container and volume name and
	// label; default a random one.
	Run string
	// Seed seeds Toxiproxy's toxics (toxicity draws) and the Route53
	// emulator's ids and weighted answers, for repeatable runs.
	Seed uint64
	// StartTimeout bounds each service's start; default 2 minutes.
	StartTimeout time.Duration
	// Logf receives what the driver wants a person to know (images used,
	// the reaper, cleanup); default the standard logger.
	Logf func(format string, args ...any)
}

// Stack is a running docker stack.
type Stack struct {
	cli      *client.Client
	run      string
	opts     Options
	logf     func(string, ...any)
	addrs    addresses
	services map[string]*service
	// images are the images each service runs, by stack service name.
	images map[string]resolvedImage
	links  []link
	// service is the resolved image of the service under test.
	service resolvedImage
	runners []*replica.Runner
	reaper  *reaper
	mu      sync.Mutex
	ep      stack.Endpoints

	closeOnce sync.Once
	closeErr  error
}

var _ stack.Stack = (*Stack)(nil)

// Start brings every service up healthy, checked with its real client, and
// returns the stack. On error nothing it created is left behind.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	opts.Options = opts.Options.WithDefaults()
	if opts.Run == "" {
		opts.Run = newRunID()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	logf := opts.Logf
	if logf == nil {
		logf = log.Printf
	}
	im, err := DefaultImages().Apply(nonEmpty(opts.Images))
	if err != nil {
		return nil, err
	}
	opts.Images = im

	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker stack: %w", err)
	}
	s := &Stack{
		cli:      cli,
		run:      opts.Run,
		opts:     opts,
		logf:     logf,
		services: map[string]*service{},
		images:   map[string]resolvedImage{},
	}

	// Leftovers of runs whose process died (a crash, a SIGKILL).
	if rep, err := dockerengine.Prune(ctx, cli, dockerengine.PruneOptions{}); err != nil {
		logf("docker stack: removing leftovers of dead runs: %v", err)
	} else if len(rep.Removed) > 0 {
		logf("docker stack: removed %d leftovers of dead runs", len(rep.Removed))
	}
	if err := s.up(ctx); err != nil {
		cerr := s.Close(context.WithoutCancel(ctx))
		return nil, errors.Join(fmt.Errorf("docker stack: %w", err), cerr)
	}
	return s, nil
}

func (s *Stack) up(ctx context.Context) (err error) {
	if err := disableRyuk(); err != nil {
		return err
	}
	if s.addrs, err = reserveAddresses(len(s.opts.Clients) * len(stack.DataServices)); err != nil {
		return err
	}
	// The reaper first: from here on, whatever the run creates goes away
	// with it, however this process ends.
	if s.reaper, err = s.startReaper(ctx); err != nil {
		return err
	}
	images := map[string]resolvedImage{}
	for _, n := range []string{ImagePostgres, ImageRedis, ImageMongo, ImageLocalStack, ImageToxiproxy} {
		r, err := resolveImage(ctx, s.cli, n, s.opts.Images.Get(n), s.logf)
		if err != nil {
			return err
		}
		images[n] = r
	}
	for svc, n := range map[string]string{
		stack.Postgres: ImagePostgres, stack.Redis: ImageRedis, stack.Mongo: ImageMongo,
		stack.Route53: ImageLocalStack, stack.Proxy: ImageToxiproxy,
	} {
		s.images[svc] = images[n]
	}
	if s.service, err = resolveImage(ctx, s.cli, ImageService, s.opts.Images.Service, s.logf); err != nil {
		return err
	}
	s.links = s.planLinks(s.opts.Clients)
	starts := []struct {
		name string
		fn   func(context.Context, resolvedImage) (*service, error)
		img  string
	}{
		{stack.Postgres, s.startPostgres, ImagePostgres},
		{stack.Redis, s.startRedis, ImageRedis},
		{stack.Mongo, s.startMongo, ImageMongo},
		{stack.Route53, s.startRoute53, ImageLocalStack},
		{stack.Proxy, s.startToxiproxy, ImageToxiproxy},
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, st := range starts {
		g.Go(func() error {
			sctx, cancel := context.WithTimeout(gctx, s.opts.StartTimeout)
			defer cancel()
			t0 := time.Now()
			svc, err := st.fn(sctx, images[st.img])
			if svc != nil {
				mu.Lock()
				s.services[st.name] = svc
				mu.Unlock()
			}
			if err != nil {
				return fmt.Errorf("start %s (%s): %w", st.name, images[st.img].Ref, err)
			}
			if err := svc.ready(sctx); err != nil {
				return fmt.Errorf("start %s (%s): %w", st.name, images[st.img].Ref, err)
			}
			svc.startMS = float64(time.Since(t0).Microseconds()) / 1000
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	s.ep = s.endpoints()
	return nil
}

// Endpoints returns the addresses of the running stack.
func (s *Stack) Endpoints() stack.Endpoints { return s.ep }

// Run is the run id: part of every name and label of the stack.
func (s *Stack) Run() string { return s.run }

// ServiceImage is the image of the service under test the platforms
// should run (the Service setting, or its local build when the default is
// absent).
func (s *Stack) ServiceImage() string { return s.service.Ref }

// RunnerOptions choose how service containers run.
type RunnerOptions struct {
	// MemoryLimit is each instance's cgroup memory limit in bytes; past it
	// the kernel OOM-kills the service (a real R15). 0 for none.
	MemoryLimit int64
}

// Runner returns a proc.Runner that starts service instances as
// containers in the host's network namespace: they reach the stack, the
// partner endpoint and each other on loopback, as processes would. Close
// closes it.
func (s *Stack) Runner(opts RunnerOptions) *replica.Runner {
	r := replica.New(s.cli, replica.Options{
		Run:         s.run,
		MemoryLimit: opts.MemoryLimit,
	})
	s.mu.Lock()
	s.runners = append(s.runners, r)
	s.mu.Unlock()
	return r
}

// Container returns the container of service (stack.Postgres, stack.Redis,
// stack.Mongo, stack.Route53 or stack.Proxy), for container faults: kill,
// stop/start, pause/unpause, restart, memory limit. After starting or
// restarting one, call WaitReady.
func (s *Stack) Container(service string) (*dockerengine.Container, error) {
	svc, ok := s.services[service]
	if !ok {
		return nil, fmt.Errorf("docker stack has no service %q", service)
	}
	return svc.ctr, nil
}

// WaitReady waits until service answers its real client again (after a
// start, restart or unpause). For Toxiproxy it also recreates the proxy
// links, which a restarted Toxiproxy has forgotten.
func (s *Stack) WaitReady(ctx context.Context, service string) error {
	svc, ok := s.services[service]
	if !ok {
		return fmt.Errorf("docker stack has no service %q", service)
	}
	return svc.ready(ctx)
}

// Close stops and removes every container and volume of the run. It is safe to call twice.
func (s *Stack) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		// Everything that carries the run's label: the services, replica
		// containers, volumes, a container whose start failed half-way. Containers are removed with force (SIGKILL): nothing
		// of a finished run's data is kept.
		var errs []error
		if s.opts.LogDir != "" {
			if err := s.saveLogs(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		s.mu.Lock()
		runners := s.runners
		s.mu.Unlock()
		for _, r := range runners {
			if err := r.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if _, err := dockerengine.Prune(ctx, s.cli, dockerengine.PruneOptions{Run: s.run}); err != nil {
			errs = append(errs, err)
		}
		// The reaper's container went with the rest.
		s.reaper.release()
		if err := s.cli.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close docker client: %w", err))
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// saveLogs writes each service container's whole output (across restarts)
// to LogDir/<service>.log.
func (s *Stack) saveLogs(ctx context.Context) error {
	if err := os.MkdirAll(s.opts.LogDir, 0o755); err != nil {
		return fmt.Errorf("save service logs: %w", err)
	}
	var errs []error
	for name, svc := range s.services {
		if err := saveLog(ctx, s.cli, svc.ctr.ID(), filepath.Join(s.opts.LogDir, name+".log")); err != nil {
			errs = append(errs, fmt.Errorf("save %s log: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func saveLog(ctx context.Context, cli *client.Client, id, path string) error {
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := stdcopy.StdCopy(f, f, rc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// disableRyuk turns testcontainers' reaper off for this process
// (TESTCONTAINERS_RYUK_DISABLED=true, the only switch testcontainers reads,
// once per process) unless the user decided otherwise: the run's own
// reaper does its work.
func disableRyuk() error {
	if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); set {
		return nil
	}
	if err := os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true"); err != nil {
		return fmt.Errorf("disable ryuk: %w", err)
	}
	if !testcontainers.ReadConfig().RyukDisabled {
		return errors.New("testcontainers already read its configuration with Ryuk on: set TESTCONTAINERS_RYUK_DISABLED=true")
	}
	return nil
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// nonEmpty returns the set fields of im as overrides.
func nonEmpty(im Images) map[string]string {
	out := map[string]string{}
	for _, n := range ImageNames {
		if v := im.Get(n); v != "" {
			out[n] = v
		}
	}
	return out
}
