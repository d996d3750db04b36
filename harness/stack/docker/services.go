package docker

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/localstack"
	"github.com/testcontainers/testcontainers-go/modules/mongodb"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/docker/engine"
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
	ctr *engine.Container
	// published maps a container port ("5432/tcp") to its host address.
	published map[string]string
	ready     func(ctx context.Context) error
	startMS   float64
}

// addr returns the host address of container port p ("5432/tcp").
func (svc *service) addr(p string) string { return svc.published[p] }

// containerSpec is what every container of the stack gets beyond what a
// testcontainers module sets.
type containerSpec struct {
	service string
	aliases []string
	img     resolvedImage
	// ports are the container ports to publish on the stack's host, each
	// on a free host port; a "N/udp" next to "N/tcp" gets the same one.
	ports []string
	// waitLog is the line the service logs once it serves, and how often.
	waitLog    string
	occurrence int
}

// customize returns the testcontainers options for spec and the host
// address chosen for each of its ports. Host ports are fixed (not chosen by
// Docker) so a stopped and restarted container keeps its address.
func (s *Stack) customize(ctx context.Context, spec containerSpec) ([]testcontainers.ContainerCustomizer, map[string]string, error) {
	host := s.opts.Host
	bindings := mobynet.PortMap{}
	published := map[string]string{}
	byNumber := map[string]int{}
	hostIP, err := netip.ParseAddr(host)
	if err != nil {
		return nil, nil, fmt.Errorf("stack host %q: %w", host, err)
	}
	for _, p := range spec.ports {
		port, err := mobynet.ParsePort(p)
		if err != nil {
			return nil, nil, fmt.Errorf("port %s: %w", p, err)
		}
		hp, ok := byNumber[port.Port()]
		if !ok {
			if hp, err = freePortTCPUDP(host); err != nil {
				return nil, nil, err
			}
			byNumber[port.Port()] = hp
		}
		bindings[port] = []mobynet.PortBinding{{HostIP: hostIP, HostPort: strconv.Itoa(hp)}}
		published[p] = net.JoinHostPort(host, strconv.Itoa(hp))
	}

	mounts, err := s.volumes(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	occ := max(spec.occurrence, 1)
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithName(fmt.Sprintf("cutover-%s-%s", s.run, spec.service)),
		testcontainers.WithLabels(engine.Labels(s.run, spec.service)),
		network.WithNetworkName(spec.aliases, s.network),
		testcontainers.WithExposedPorts(spec.ports...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = bindings
			hc.Mounts = append(hc.Mounts, mounts...)
			// No service here needs the Docker socket (LocalStack's module
			// mounts it for Lambda; Route53 has no use for it).
			hc.Binds = nil
		}),
		testcontainers.WithWaitStrategy(wait.ForLog(spec.waitLog).WithOccurrence(occ).WithStartupTimeout(s.opts.StartTimeout)),
		testcontainers.WithLogger(tcLogger{}),
	}
	return opts, published, nil
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
			Labels: engine.Labels(s.run, spec.service),
		}); err != nil {
			return nil, fmt.Errorf("create volume %s for %s: %w", name, p, err)
		}
		out = append(out, mount.Mount{Type: mount.TypeVolume, Source: name, Target: p})
	}
	return out, nil
}

// newService wraps a started testcontainers container.
func (s *Stack) newService(name string, tc testcontainers.Container, published map[string]string) *service {
	if tc == nil {
		return nil
	}
	return &service{
		name:      name,
		tc:        tc,
		ctr:       engine.NewContainer(s.cli, tc.GetContainerID(), name),
		published: published,
	}
}

func (s *Stack) startPostgres(ctx context.Context, img resolvedImage) (*service, error) {
	opts, published, err := s.customize(ctx, containerSpec{
		service: stack.Postgres, aliases: []string{"postgres"}, img: img,
		ports: []string{"5432/tcp"},
		// The entrypoint starts a temporary server to initialise, then
		// the real one: the line appears twice, as upstream.
		waitLog: "database system is ready to accept connections", occurrence: 2,
	})
	if err != nil {
		return nil, err
	}
	cmd := []string{"postgres", "-c", "max_connections=300"}
	if !s.opts.Fsync {
		cmd = append(cmd, "-c", "fsync=off")
	}
	opts = append(opts,
		postgres.WithDatabase(pgDatabase),
		postgres.WithUsername(pgUser),
		postgres.WithPassword(pgPassword),
		testcontainers.WithCmd(cmd...),
	)
	c, err := postgres.Run(ctx, img.Ref, opts...)
	var tc testcontainers.Container
	if c != nil {
		tc = c
	}
	svc := s.newService(stack.Postgres, tc, published)
	if err != nil {
		return svc, err
	}
	url := s.postgresURL(svc)
	svc.ready = func(ctx context.Context) error {
		return poll(ctx, "postgres "+svc.addr("5432/tcp"), func(ctx context.Context) error { return queryPostgres(ctx, url) })
	}
	return svc, nil
}

func (s *Stack) startRedis(ctx context.Context, img resolvedImage) (*service, error) {
	opts, published, err := s.customize(ctx, containerSpec{
		service: stack.Redis, aliases: []string{"redis"}, img: img,
		ports: []string{"6379/tcp"}, waitLog: "Ready to accept connections",
	})
	if err != nil {
		return nil, err
	}
	// No persistence: a restarted Redis comes back empty, like a
	// restarted cache.
	opts = append(opts, testcontainers.WithCmd("redis-server", "--save", "", "--appendonly", "no"))
	c, err := tcredis.Run(ctx, img.Ref, opts...)
	var tc testcontainers.Container
	if c != nil {
		tc = c
	}
	svc := s.newService(stack.Redis, tc, published)
	if err != nil {
		return svc, err
	}
	url := "redis://" + svc.addr("6379/tcp") + "/0"
	svc.ready = func(ctx context.Context) error {
		return poll(ctx, "redis "+svc.addr("6379/tcp"), func(ctx context.Context) error { return pingRedis(ctx, url) })
	}
	return svc, nil
}

func (s *Stack) startMongo(ctx context.Context, img resolvedImage) (*service, error) {
	opts, published, err := s.customize(ctx, containerSpec{
		service: stack.Mongo, aliases: []string{"mongo"}, img: img,
		ports: []string{"27017/tcp"}, waitLog: "Waiting for connections",
	})
	if err != nil {
		return nil, err
	}
	c, err := mongodb.Run(ctx, img.Ref, opts...)
	var tc testcontainers.Container
	if c != nil {
		tc = c
	}
	svc := s.newService(stack.Mongo, tc, published)
	if err != nil {
		return svc, err
	}
	url := mongoURL(svc.addr("27017/tcp"))
	svc.ready = func(ctx context.Context) error {
		return poll(ctx, "mongo "+svc.addr("27017/tcp"), func(ctx context.Context) error { return pingMongo(ctx, url) })
	}
	return svc, nil
}

// startRoute53 runs LocalStack with Route53 only (or the emulator image
// standing in for it): API and health on 4566, DNS on 53/udp and 53/tcp.
func (s *Stack) startRoute53(ctx context.Context, img resolvedImage) (*service, error) {
	opts, published, err := s.customize(ctx, containerSpec{
		service: stack.Route53, aliases: []string{"localstack", "route53"}, img: img,
		ports:   []string{"4566/tcp", "53/tcp", "53/udp"},
		waitLog: "Ready.",
	})
	if err != nil {
		return nil, err
	}
	opts = append(opts, testcontainers.WithEnv(map[string]string{
		"SERVICES":              "route53",
		"EAGER_SERVICE_LOADING": "1",
	}))
	if isRoute53Emulator(img) {
		opts = append(opts, testcontainers.WithCmd("-api", ":4566", "-dns", ":53", "-seed", strconv.FormatUint(s.opts.Seed, 10)))
	}
	c, err := localstack.Run(ctx, img.Ref, opts...)
	var tc testcontainers.Container
	if c != nil {
		tc = c
	}
	svc := s.newService(stack.Route53, tc, published)
	if err != nil {
		return svc, err
	}
	health := "http://" + svc.addr("4566/tcp") + "/_localstack/health"
	svc.ready = func(ctx context.Context) error {
		return poll(ctx, "route53 "+svc.addr("4566/tcp"), func(ctx context.Context) error { return localstackRoute53Up(ctx, health) })
	}
	return svc, nil
}

// isRoute53Emulator reports whether img is cutover's emulator image rather
// than LocalStack: its DNS server applies the weights.
func isRoute53Emulator(img resolvedImage) bool {
	return img.Labels[engine.LabelImage] == "localstack"
}

func (s *Stack) startToxiproxy(ctx context.Context, img resolvedImage) (*service, error) {
	ports := []string{"8474/tcp"}
	for _, l := range s.links {
		ports = append(ports, fmt.Sprintf("%d/tcp", l.port))
	}
	opts, published, err := s.customize(ctx, containerSpec{
		service: stack.Proxy, aliases: []string{"toxiproxy"}, img: img,
		ports: ports, waitLog: "Starting Toxiproxy HTTP server",
	})
	if err != nil {
		return nil, err
	}
	opts = append(opts, testcontainers.WithCmd("-host=0.0.0.0", "-seed="+strconv.FormatInt(int64(s.opts.Seed), 10)))
	c, err := testcontainers.Run(ctx, img.Ref, opts...)
	var tc testcontainers.Container
	if c != nil {
		tc = c
	}
	svc := s.newService(stack.Proxy, tc, published)
	if err != nil {
		return svc, err
	}
	api := "http://" + svc.addr("8474/tcp")
	svc.ready = func(ctx context.Context) error {
		if err := poll(ctx, "toxiproxy "+api, func(ctx context.Context) error { return httpOK(ctx, api+"/version") }); err != nil {
			return err
		}
		return populateProxies(api, s.links)
	}
	return svc, nil
}

// link is one proxy link as Toxiproxy holds it inside its container.
type link struct {
	name     string
	service  string
	port     int    // listen port inside the Toxiproxy container
	upstream string // the data service inside the run's network
}

// planLinks lays out one link per client and data service.
func planLinks(clients []string) []link {
	upstream := map[string]string{
		stack.Postgres: fmt.Sprintf("postgres:%d", postgresPort),
		stack.Redis:    fmt.Sprintf("redis:%d", redisPort),
		stack.Mongo:    fmt.Sprintf("mongo:%d", mongoPort),
	}
	var out []link
	for _, c := range clients {
		for _, svc := range stack.DataServices {
			out = append(out, link{
				name:     stack.LinkName(c, svc),
				service:  svc,
				port:     firstLinkPort + len(out),
				upstream: upstream[svc],
			})
		}
	}
	return out
}

// endpoints gathers the stack's addresses once every service is up, and the
// map from host addresses to in-network ones.
func (s *Stack) endpoints() stack.Endpoints {
	pg, rd, mg := s.services[stack.Postgres], s.services[stack.Redis], s.services[stack.Mongo]
	r53, tx := s.services[stack.Route53], s.services[stack.Proxy]
	ep := stack.Endpoints{
		Driver:       "docker",
		PostgresURL:  s.postgresURL(pg),
		RedisURL:     "redis://" + rd.addr("6379/tcp") + "/0",
		MongoURL:     mongoURL(mg.addr("27017/tcp")),
		Route53URL:   "http://" + r53.addr("4566/tcp"),
		ToxiproxyURL: "http://" + tx.addr("8474/tcp"),
		Links:        map[string]stack.Link{},
	}
	s.netAddrs[pg.addr("5432/tcp")] = fmt.Sprintf("postgres:%d", postgresPort)
	s.netAddrs[rd.addr("6379/tcp")] = fmt.Sprintf("redis:%d", redisPort)
	s.netAddrs[mg.addr("27017/tcp")] = fmt.Sprintf("mongo:%d", mongoPort)
	s.netAddrs[r53.addr("4566/tcp")] = fmt.Sprintf("localstack:%d", localstackPort)
	s.netAddrs[r53.addr("53/tcp")] = fmt.Sprintf("localstack:%d", dnsPort)
	s.netAddrs[tx.addr("8474/tcp")] = fmt.Sprintf("toxiproxy:%d", toxiproxyPort)
	for _, l := range s.links {
		listen := tx.addr(fmt.Sprintf("%d/tcp", l.port))
		ep.Links[l.name] = stack.Link{Name: l.name, Listen: listen, Upstream: l.upstream}
		s.netAddrs[listen] = fmt.Sprintf("toxiproxy:%d", l.port)
	}
	// The emulator's DNS server applies the weights; LocalStack's does not
	// (its address is still listed among the services).
	if isRoute53Emulator(s.imageOf(stack.Route53)) {
		ep.DNSAddr = r53.addr("53/udp")
	}
	for _, sv := range []struct {
		name, endpoint string
		svc            *service
	}{
		{stack.Postgres, pg.addr("5432/tcp"), pg},
		{stack.Redis, rd.addr("6379/tcp"), rd},
		{stack.Mongo, mg.addr("27017/tcp"), mg},
		{stack.Route53, ep.Route53URL, r53},
		{stack.DNS, r53.addr("53/udp"), r53},
		{stack.Proxy, ep.ToxiproxyURL, tx},
	} {
		ep.Services = append(ep.Services, stack.Service{Name: sv.name, Endpoint: sv.endpoint, StartMS: sv.svc.startMS})
	}
	return ep
}

func (s *Stack) imageOf(service string) resolvedImage { return s.images[service] }

func (s *Stack) postgresURL(svc *service) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", pgUser, pgPassword, svc.addr("5432/tcp"), pgDatabase)
}

func mongoURL(addr string) string { return "mongodb://" + addr + "/?directConnection=true" }

// freePortTCPUDP finds a port free for both TCP and UDP on host.
func freePortTCPUDP(host string) (int, error) {
	var lastErr error
	for range 20 {
		p, err := stack.FreePort(host)
		if err != nil {
			return 0, err
		}
		u, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			u.Close()
			return p, nil
		}
		lastErr = err
	}
	return 0, fmt.Errorf("no port free for tcp and udp on %s: %w", host, lastErr)
}

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
			return fmt.Errorf("wait for %s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
		if wait < 250*time.Millisecond {
			wait *= 2
		}
	}
}
