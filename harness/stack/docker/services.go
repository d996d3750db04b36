package docker

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/localstack"
	"github.com/testcontainers/testcontainers-go/modules/mongodb"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/internal/dockerengine"
)

// Ports of the services inside the run's network.
const (
	postgresPort   = 5432
	redisPort      = 6379
	mongoPort      = 27017
	localstackPort = 4566
	dnsPort        = 53
	toxiproxyPort  = 8474
	// firstLinkPort is Toxiproxy's listen port of the first proxy link
	// inside its container; the others follow.
	firstLinkPort = 20000
)

// service is one started container of the stack.
type service struct {
	name string
	// tc is testcontainers' handle; ctr the same container for faults.
	tc  testcontainers.Container
	ctr *dockerengine.Container
	// host is the service's own loopback address.
	host    string
	ready   func(ctx context.Context) error
	startMS float64
}

// addr returns the service's "address:port" for port.
func (svc *service) addr(port int) string { return net.JoinHostPort(svc.host, strconv.Itoa(port)) }

// containerSpec is what every container of the stack gets beyond what a
// testcontainers module sets.
type containerSpec struct {
	service string
	slot    int
	img     resolvedImage
	// waitLog is the line the service logs once it serves, and how often.
	waitLog    string
	occurrence int
}

// customize returns the testcontainers options every container of the
// stack gets: its name and labels, the host's network (see addrs.go),
// labelled volumes for the image's declared ones, and the log line to wait
// for. hostNetwork must also come last among the options of a module (it
// takes back the ports the module exposes).
func (s *Stack) customize(ctx context.Context, spec containerSpec) ([]testcontainers.ContainerCustomizer, error) {
	mounts, err := s.volumes(ctx, spec)
	if err != nil {
		return nil, err
	}
	occ := max(spec.occurrence, 1)
	return []testcontainers.ContainerCustomizer{
		testcontainers.WithName(fmt.Sprintf("cutover-%s-%s", s.run, spec.service)),
		testcontainers.WithLabels(dockerengine.Labels(s.run, spec.service)),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
			hc.PortBindings = nil
			hc.Mounts = append(hc.Mounts, mounts...)
			// No service here needs the Docker socket (LocalStack's module
			// mounts it for Lambda; Route53 has no use for it).
			hc.Binds = nil
		}),
		testcontainers.WithWaitStrategy(wait.ForLog(spec.waitLog).WithOccurrence(occ).WithStartupTimeout(s.opts.StartTimeout)),
		testcontainers.WithLogger(tcLogger{}),
	}, nil
}

// hostNetwork takes back what a module sets that the host's network does
// not have: exposed (published) ports, networks, aliases.
func hostNetwork() testcontainers.ContainerCustomizer {
	return testcontainers.CustomizeRequestOption(func(req *testcontainers.GenericContainerRequest) error {
		req.ExposedPorts = nil
		req.Networks = nil
		req.NetworkAliases = nil
		return nil
	})
}

// volumes creates a labelled volume for each volume the image declares, so
// no anonymous volume escapes the run's labels. (An image that must be
// pulled first declares its volumes unseen: those become anonymous and are
// removed with their container.)
func (s *Stack) volumes(ctx context.Context, spec containerSpec) ([]mount.Mount, error) {
	paths := make([]string, 0, len(spec.img.Volumes))
	for p := range spec.img.Volumes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []mount.Mount
	for i, p := range paths {
		name := fmt.Sprintf("cutover-%s-%s-%d", s.run, spec.service, i)
		if _, err := s.cli.VolumeCreate(ctx, client.VolumeCreateOptions{
			Name:   name,
			Labels: dockerengine.Labels(s.run, spec.service),
		}); err != nil {
			return nil, fmt.Errorf("create volume %s for %s: %w", name, p, err)
		}
		out = append(out, mount.Mount{Type: mount.TypeVolume, Source: name, Target: p})
	}
	return out, nil
}

// newService wraps a started testcontainers container.
func (s *Stack) newService(name string, slot int, tc testcontainers.Container) *service {
	if tc == nil {
		return nil
	}
	return &service{
		name: name,
		tc:   tc,
		ctr:  dockerengine.NewContainer(s.cli, tc.GetContainerID(), name),
		host: s.addrs.of(slot),
	}
}

func (s *Stack) startPostgres(ctx context.Context, img resolvedImage) (*service, error) {
	opts, err := s.customize(ctx, containerSpec{
		service: stack.Postgres, slot: slotPostgres, img: img,
		// The entrypoint starts a temporary server to initialise, then
		// the real one: the line appears twice, as upstream.
		waitLog: "database system is ready to accept connections", occurrence: 2,
	})
	if err != nil {
		return nil, err
	}
	// The embedded driver's settings (harness/stack/embedded), so both
	// drivers run the same database: listening on its own loopback
	// address only, 400 connections (two platforms' pools, the harness's,
	// and room for a crash's reconnects), shared_buffers 128MB.
	cmd := []string{"postgres",
		"-c", "listen_addresses=" + s.addrs.of(slotPostgres),
		"-c", "port=" + strconv.Itoa(postgresPort),
		"-c", "max_connections=400",
		"-c", "shared_buffers=128MB",
	}
	if !s.opts.Fsync {
		cmd = append(cmd, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	opts = append(opts,
		postgres.WithDatabase(pgDatabase),
		postgres.WithUsername(pgUser),
		postgres.WithPassword(pgPassword),
		// initdb's locale as the embedded driver's (--locale=C), so text
		// sorts the same on both: the image's own default, C.UTF-8, is
		// not "C" to Postgres 15 (its comparisons go through strcoll).
		// Measured with pgbench on text keys, no difference in speed
		// beyond the noise (issue 17); this is about sameness.
		testcontainers.WithEnv(map[string]string{"POSTGRES_INITDB_ARGS": "--locale=C"}),
		testcontainers.WithCmd(cmd...),
		hostNetwork(),
	)
	c, err := postgres.Run(ctx, img.Ref, opts...)
	var tc testcontainers.Container
	if c != nil {
		tc = c
	}
	svc := s.newService(stack.Postgres, slotPostgres, tc)
	if err != nil {
		return svc, err
	}
	url := s.postgresURL(svc)
	svc.ready = func(ctx context.Context) error {
		return poll(ctx, "postgres "+svc.addr(postgresPort), func(ctx context.Context) error { return stack.PingPostgres(ctx, url) })
	}
	return svc, nil
}

func (s *Stack) startRedis(ctx context.Context, img resolvedImage) (*service, error) {
	opts, err := s.customize(ctx, containerSpec{
		service: stack.Redis, slot: slotRedis, img: img, waitLog: "Ready to accept connections",
	})
	if err != nil {
		return nil, err
	}
	// No persistence: a restarted Redis comes back empty, like a
	// restarted cache.
	opts = append(opts,
		testcontainers.WithCmd("redis-server", "--save", "", "--appendonly", "no",
			"--bind", s.addrs.of(slotRedis), "--port", strconv.Itoa(redisPort)),
		hostNetwork(),
	)
	c, err := tcredis.Run(ctx, img.Ref, opts...)
	var tc testcontainers.Container
	if c != nil {
		tc = c
	}
	svc := s.newService(stack.Redis, slotRedis, tc)
	if err != nil {
		return svc, err
	}
	url := "redis://" + svc.addr(redisPort) + "/0"
	svc.ready = func(ctx context.Context) error {
		return poll(ctx, "redis "+svc.addr(redisPort), func(ctx context.Context) error { return stack.PingRedis(ctx, url) })
	}
	return svc, nil
}

func (s *Stack) startMongo(ctx context.Context, img resolvedImage) (*service, error) {
	opts, err := s.customize(ctx, containerSpec{
		service: stack.Mongo, slot: slotMongo, img: img, waitLog: "Waiting for connections",
	})
	if err != nil {
		return nil, err
	}
	if isLocal(img, "mongo") {
		opts = append(opts, testcontainers.WithCmd("-listen", s.addrs.hostPort(slotMongo, mongoPort), "-data", "/data/db"))
	} else {
		opts = append(opts, testcontainers.WithCmd("mongod", "--bind_ip", s.addrs.of(slotMongo), "--port", strconv.Itoa(mongoPort)))
	}
	opts = append(opts, hostNetwork())
	c, err := mongodb.Run(ctx, img.Ref, opts...)
	var tc testcontainers.Container
	if c != nil {
		tc = c
	}
	svc := s.newService(stack.Mongo, slotMongo, tc)
	if err != nil {
		return svc, err
	}
	url := mongoURL(svc.addr(mongoPort))
	svc.ready = func(ctx context.Context) error {
		return poll(ctx, "mongo "+svc.addr(mongoPort), func(ctx context.Context) error { return stack.PingMongo(ctx, url) })
	}
	return svc, nil
}

// startRoute53 runs LocalStack with Route53 only (or the emulator image
// standing in for it): API and health on 4566, DNS on 53/udp and 53/tcp.
func (s *Stack) startRoute53(ctx context.Context, img resolvedImage) (*service, error) {
	opts, err := s.customize(ctx, containerSpec{
		service: stack.Route53, slot: slotRoute53, img: img, waitLog: "Ready.",
	})
	if err != nil {
		return nil, err
	}
	api, dnsAddr := s.addrs.hostPort(slotRoute53, localstackPort), s.addrs.hostPort(slotRoute53, dnsPort)
	opts = append(opts, testcontainers.WithEnv(map[string]string{
		"SERVICES":              "route53",
		"EAGER_SERVICE_LOADING": "1",
		// LocalStack's own settings for where it listens.
		"GATEWAY_LISTEN": api,
		"DNS_ADDRESS":    s.addrs.of(slotRoute53),
	}))
	if isRoute53Emulator(img) {
		opts = append(opts, testcontainers.WithCmd("-api", api, "-dns", dnsAddr, "-seed", strconv.FormatUint(s.opts.Seed, 10)))
	}
	opts = append(opts, hostNetwork())
	c, err := localstack.Run(ctx, img.Ref, opts...)
	var tc testcontainers.Container
	if c != nil {
		tc = c
	}
	svc := s.newService(stack.Route53, slotRoute53, tc)
	if err != nil {
		return svc, err
	}
	health := "http://" + svc.addr(localstackPort) + "/_localstack/health"
	svc.ready = func(ctx context.Context) error {
		return poll(ctx, "route53 "+svc.addr(localstackPort), func(ctx context.Context) error { return localstackRoute53Up(ctx, health) })
	}
	return svc, nil
}

// isRoute53Emulator reports whether img is cutover's emulator image rather
// than LocalStack: its DNS server applies the weights.
func isRoute53Emulator(img resolvedImage) bool { return isLocal(img, "localstack") }

// isLocal reports whether img is the build of `make images` called name
// (images/build.sh labels each).
func isLocal(img resolvedImage, name string) bool { return img.Labels[dockerengine.LabelImage] == name }

func (s *Stack) startToxiproxy(ctx context.Context, img resolvedImage) (*service, error) {
	opts, err := s.customize(ctx, containerSpec{
		service: stack.Proxy, slot: slotToxiproxy, img: img, waitLog: "Starting Toxiproxy HTTP server",
	})
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		testcontainers.WithCmd("-host="+s.addrs.of(slotToxiproxy), "-port="+strconv.Itoa(toxiproxyPort),
			"-seed="+strconv.FormatInt(int64(s.opts.Seed), 10)),
		hostNetwork(),
	)
	c, err := testcontainers.Run(ctx, img.Ref, opts...)
	var tc testcontainers.Container
	if c != nil {
		tc = c
	}
	svc := s.newService(stack.Proxy, slotToxiproxy, tc)
	if err != nil {
		return svc, err
	}
	api := "http://" + svc.addr(toxiproxyPort)
	svc.ready = func(ctx context.Context) error {
		if err := poll(ctx, "toxiproxy "+api, func(ctx context.Context) error { return stack.HTTPOK(ctx, api+"/version") }); err != nil {
			return err
		}
		return populateProxies(api, s.links)
	}
	return svc, nil
}

// link is one proxy link as Toxiproxy holds it.
type link struct {
	name    string
	service string
	// listen and upstream are host:port on the run's loopback addresses.
	listen   string
	upstream string
}

// planLinks lays out one link per client and data service.
func (s *Stack) planLinks(clients []string) []link {
	upstream := map[string]string{
		stack.Postgres: s.addrs.hostPort(slotPostgres, postgresPort),
		stack.Redis:    s.addrs.hostPort(slotRedis, redisPort),
		stack.Mongo:    s.addrs.hostPort(slotMongo, mongoPort),
	}
	var out []link
	for _, c := range clients {
		for _, svc := range stack.DataServices {
			out = append(out, link{
				name:     stack.LinkName(c, svc),
				service:  svc,
				listen:   s.addrs.hostPort(slotToxiproxy, firstLinkPort+len(out)),
				upstream: upstream[svc],
			})
		}
	}
	return out
}

// endpoints gathers the stack's addresses once every service is up.
func (s *Stack) endpoints() stack.Endpoints {
	pg, rd, mg := s.services[stack.Postgres], s.services[stack.Redis], s.services[stack.Mongo]
	r53, tx := s.services[stack.Route53], s.services[stack.Proxy]
	ep := stack.Endpoints{
		Driver:       "docker",
		PostgresURL:  s.postgresURL(pg),
		RedisURL:     "redis://" + rd.addr(redisPort) + "/0",
		MongoURL:     mongoURL(mg.addr(mongoPort)),
		Route53URL:   "http://" + r53.addr(localstackPort),
		ToxiproxyURL: "http://" + tx.addr(toxiproxyPort),
		Links:        map[string]stack.Link{},
	}
	for _, l := range s.links {
		ep.Links[l.name] = stack.Link{Name: l.name, Listen: l.listen, Upstream: l.upstream}
	}
	// The emulator's DNS server applies the weights; LocalStack's does not
	// (its address is still listed among the services).
	if isRoute53Emulator(s.imageOf(stack.Route53)) {
		ep.DNSAddr = r53.addr(dnsPort)
	}
	for _, sv := range []struct {
		name, endpoint string
		svc            *service
	}{
		{stack.Postgres, pg.addr(postgresPort), pg},
		{stack.Redis, rd.addr(redisPort), rd},
		{stack.Mongo, mg.addr(mongoPort), mg},
		{stack.Route53, ep.Route53URL, r53},
		{stack.DNS, r53.addr(dnsPort), r53},
		{stack.Proxy, ep.ToxiproxyURL, tx},
	} {
		ep.Services = append(ep.Services, stack.Service{Name: sv.name, Endpoint: sv.endpoint, StartMS: sv.svc.startMS})
	}
	return ep
}

func (s *Stack) imageOf(service string) resolvedImage { return s.images[service] }

func (s *Stack) postgresURL(svc *service) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", pgUser, pgPassword, svc.addr(postgresPort), pgDatabase)
}

func mongoURL(addr string) string { return "mongodb://" + addr + "/?directConnection=true" }

// tcLogger drops testcontainers' chatter; the driver logs what matters.
type tcLogger struct{}

func (tcLogger) Printf(string, ...any) {}

// poll calls check until it succeeds or ctx ends, and returns the last
// error with what was being checked.
func poll(ctx context.Context, what string, check func(context.Context) error) error {
	wait := 20 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %w)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
		if wait < 250*time.Millisecond {
			wait *= 2
		}
	}
}
