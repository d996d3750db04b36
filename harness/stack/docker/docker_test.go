package docker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/miekg/dns"
	"github.com/moby/moby/client"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/docker"
	"github.com/cutover/cutover/internal/dockerengine"
	"github.com/cutover/cutover/internal/proc"
	"github.com/cutover/cutover/internal/testsupport"
)

// requireLocalImages skips unless the infrastructure images of `make
// images` are present.
func requireLocalImages(t testing.TB, cli *client.Client) {
	t.Helper()
	local := docker.LocalImages()
	testsupport.RequireImages(t, cli, local.Postgres, local.Redis, local.Mongo, local.LocalStack, local.Toxiproxy)
}

func runID(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

// leftover creates a network and a volume labelled as a run whose process
// is gone, as a crashed run leaves them.
func leftover(t *testing.T, cli *client.Client, run string) {
	t.Helper()
	ctx := context.Background()
	// A process that has exited: its pid no longer names it.
	host, _ := os.Hostname()
	labels := dockerengine.Labels(run, "leftover")
	labels[dockerengine.LabelOwner] = fmt.Sprintf("%s/%d/%d", host, deadPID(t), 1)
	_, err := cli.NetworkCreate(ctx, "cutover-"+run, client.NetworkCreateOptions{Driver: "bridge", Labels: labels})
	require.NoError(t, err)
	_, err = cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "cutover-" + run + "-v", Labels: labels})
	require.NoError(t, err)
}

func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	require.NoError(t, err)
	_, err = p.Wait()
	require.NoError(t, err)
	return p.Pid
}

// TestDockerStack starts the stack once and checks, in order: every service
// with its real client, the proxy links, Route53 through the AWS SDK and
// weighted DNS, replica containers on the run's network, each container
// fault, and that Close leaves nothing labelled behind.
func TestDockerStack(t *testing.T) {
	cli := testsupport.Engine(t)
	requireLocalImages(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dead := runID("dead")
	leftover(t, cli, dead)

	run := runID("t")
	before, err := dockerengine.List(ctx, cli, run)
	require.NoError(t, err)
	require.Empty(t, before)

	// Default images: upstream where present, else the local builds.
	logDir := t.TempDir()
	s, err := docker.Start(ctx, docker.Options{Options: stack.Options{LogDir: logDir}, Run: run, Seed: 7, Logf: t.Logf})
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = s.Close(context.Background())
		}
	})
	ep := s.Endpoints()

	t.Run("leftovers of dead runs are removed on start", func(t *testing.T) {
		left, err := dockerengine.List(ctx, cli, dead)
		require.NoError(t, err)
		require.Empty(t, left)
	})

	t.Run("everything the run created carries its labels", func(t *testing.T) {
		res, err := dockerengine.List(ctx, cli, run)
		require.NoError(t, err)
		kinds := map[string]int{}
		for _, r := range res {
			kinds[r.Kind]++
			require.True(t, dockerengine.OwnerAlive(r.Owner), "%s owned by this process", r)
		}
		require.Equal(t, 6, kinds[dockerengine.KindContainer], "five services and the reaper: %v", res)
		require.Zero(t, kinds[dockerengine.KindNetwork], "the stack runs on the host's network: %v", res)
		require.GreaterOrEqual(t, kinds[dockerengine.KindVolume], 3, "postgres, redis and mongo data: %v", res)
	})

	t.Run("each service on a loopback address of its own, nothing published", func(t *testing.T) {
		hosts := map[string]bool{}
		for _, svc := range ep.Services {
			if svc.Name == stack.DNS {
				continue // the Route53 container's
			}
			host := endpointHost(t, svc.Endpoint)
			require.True(t, strings.HasPrefix(host, "127."), "%s on %s", svc.Name, host)
			require.False(t, hosts[host], "%s shares %s", svc.Name, host)
			hosts[host] = true
			c, err := s.Container(svc.Name)
			require.NoError(t, err)
			info, err := cli.ContainerInspect(ctx, c.ID(), client.ContainerInspectOptions{})
			require.NoError(t, err)
			require.Equal(t, "host", string(info.Container.HostConfig.NetworkMode), svc.Name)
			// (testcontainers asks to publish what an image exposes; on
			// the host's network Docker discards it: no docker-proxy.)
			for port, bindings := range info.Container.NetworkSettings.Ports {
				require.Empty(t, bindings, "%s publishes %s", svc.Name, port)
			}
		}
		for name, l := range ep.Links {
			require.True(t, strings.HasPrefix(l.Listen, endpointHost(t, ep.ToxiproxyURL)+":"), "link %s listens on toxiproxy's address: %s", name, l.Listen)
		}
	})

	t.Run("every service answers its real client", func(t *testing.T) {
		require.Equal(t, "docker", ep.Driver)
		require.NoError(t, stack.Healthy(stack.Check(ctx, ep)))
		require.Len(t, ep.Links, 6)
		require.NotEmpty(t, ep.DNSAddr, "the emulator image's DNS applies weights")
		for _, svc := range ep.Services {
			require.Positive(t, svc.StartMS, svc.Name)
		}
	})

	t.Run("proxy links carry traffic and toxics", func(t *testing.T) {
		urls, err := ep.For("heroku")
		require.NoError(t, err)
		viaLink := redisClient(t, urls.RedisURL)
		direct := redisClient(t, ep.RedisURL)
		require.NoError(t, viaLink.Set(ctx, "k", "through the link", 0).Err())
		require.Equal(t, "through the link", direct.Get(ctx, "k").Val())

		tp := toxiproxy.NewClient(ep.ToxiproxyURL)
		p, err := tp.Proxy(stack.LinkName("heroku", stack.Redis))
		require.NoError(t, err)
		_, err = p.AddToxic("slow", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 300})
		require.NoError(t, err)
		t0 := time.Now()
		require.NoError(t, viaLink.Ping(ctx).Err())
		require.GreaterOrEqual(t, time.Since(t0), 300*time.Millisecond)
		require.NoError(t, p.RemoveToxic("slow"))

		pg, err := pgx.Connect(ctx, mustFor(t, ep, "aws").PostgresURL)
		require.NoError(t, err)
		defer pg.Close(ctx)
		var one int
		require.NoError(t, pg.QueryRow(ctx, "SELECT 1").Scan(&one))
		// The same database as the embedded driver's: initdb --locale=C.
		var collate string
		require.NoError(t, pg.QueryRow(ctx, "SELECT datcollate FROM pg_database WHERE datname = current_database()").Scan(&collate))
		require.Equal(t, "C", collate)
	})

	t.Run("route53 api through the AWS SDK and weighted DNS", func(t *testing.T) {
		api := route53.New(route53.Options{
			Region:           "us-east-1",
			BaseEndpoint:     aws.String(ep.Route53URL),
			Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
			RetryMaxAttempts: 1,
		})
		zone, err := api.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
			Name: aws.String("cutover.test"), CallerReference: aws.String(run),
		})
		require.NoError(t, err)
		setWeights := func(heroku, aws int64) {
			_, err := api.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
				HostedZoneId: zone.HostedZone.Id,
				ChangeBatch: &types.ChangeBatch{Changes: []types.Change{
					weightedA("heroku", heroku, "127.0.0.2"),
					weightedA("aws", aws, "127.0.0.3"),
				}},
			})
			require.NoError(t, err)
		}
		setWeights(1, 0)
		require.Equal(t, "127.0.0.2", resolveA(t, ep.DNSAddr, "api.cutover.test."))
		setWeights(0, 1)
		require.Equal(t, "127.0.0.3", resolveA(t, ep.DNSAddr, "api.cutover.test."))
	})

	t.Run("replica containers reach the services by the same URLs", func(t *testing.T) {
		img := testsupport.ServiceImage(t, cli)
		runner := s.Runner(docker.RunnerOptions{})
		port, release, err := proc.FreePort("127.0.0.1")
		require.NoError(t, err)
		release()
		urls := mustFor(t, ep, "aws")
		inst, err := runner.Start(ctx, proc.Spec{Name: "probe", Image: img, Env: map[string]string{"DATABASE_URL": urls.PostgresURL}},
			proc.InstanceConfig{Name: "web.1", Addr: fmt.Sprintf("127.0.0.1:%d", port)})
		require.NoError(t, err)
		require.NoError(t, proc.WaitListening(ctx, inst))
		var dbURL string
		require.Eventually(t, func() bool {
			dbURL, err = httpGet(ctx, "http://"+inst.Addr()+"/env?k=DATABASE_URL")
			return err == nil
		}, 20*time.Second, 50*time.Millisecond)
		require.Equal(t, urls.PostgresURL, dbURL, "the same URL as a process gets")
		u, err := pgconn.ParseConfig(dbURL)
		require.NoError(t, err)
		body, err := httpGet(ctx, fmt.Sprintf("http://%s/dial?addr=%s:%d", inst.Addr(), u.Host, u.Port))
		require.NoError(t, err, body)
		require.NoError(t, inst.Kill())
		<-inst.Done()
	})

	t.Run("the service image serves through the proxy links", func(t *testing.T) {
		testsupport.RequireImages(t, cli, s.ServiceImage())
		urls := mustFor(t, ep, "heroku")
		runner := s.Runner(docker.RunnerOptions{MemoryLimit: 512 << 20})
		port, release, err := proc.FreePort("127.0.0.1")
		require.NoError(t, err)
		release()
		inst, err := runner.Start(ctx, proc.Spec{Name: "couponapi", Image: s.ServiceImage(), Env: map[string]string{
			"DATABASE_URL": urls.PostgresURL, "REDIS_URL": urls.RedisURL, "MONGODB_URL": urls.MongoURL,
			"APP_ID": "test", "APP_TOKEN": "test",
		}}, proc.InstanceConfig{Name: "web.1", Addr: fmt.Sprintf("127.0.0.1:%d", port)})
		require.NoError(t, err)
		require.NoError(t, proc.WaitListening(ctx, inst))
		require.Eventually(t, func() bool {
			_, err := httpGet(ctx, "http://"+inst.Addr()+"/readyz")
			return err == nil
		}, 30*time.Second, 100*time.Millisecond, "readyz: postgres, redis and mongo reached through heroku's links")
		forced, err := proc.Stop(ctx, inst, 10*time.Second)
		require.NoError(t, err)
		require.False(t, forced, "SIGTERM shuts the service down within the grace")
	})

	t.Run("postgres crash keeps committed data", func(t *testing.T) {
		pg := pgConn(t, ep.PostgresURL)
		_, err := pg.Exec(ctx, "CREATE TABLE crash_test (v text); INSERT INTO crash_test VALUES ('committed')")
		require.NoError(t, err)
		require.NoError(t, s.Postgres().Crash(ctx))
		require.Error(t, pg.Ping(ctx), "the server is gone")
		require.NoError(t, s.Postgres().Start(ctx))
		pg = pgConn(t, ep.PostgresURL)
		var v string
		require.NoError(t, pg.QueryRow(ctx, "SELECT v FROM crash_test").Scan(&v))
		require.Equal(t, "committed", v)
	})

	t.Run("postgres read-only fails writes with 25006", func(t *testing.T) {
		pg := pgConn(t, ep.PostgresURL)
		_, err := pg.Exec(ctx, "CREATE TABLE IF NOT EXISTS ro_test (v int)")
		require.NoError(t, err)
		require.NoError(t, s.Postgres().SetReadOnly(ctx, true))
		require.Error(t, pg.Ping(ctx), "existing backends are terminated")
		pg = pgConn(t, ep.PostgresURL)
		_, err = pg.Exec(ctx, "INSERT INTO ro_test VALUES (1)")
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "%v", err)
		require.Equal(t, "25006", pgErr.Code)
		require.NoError(t, s.Postgres().SetReadOnly(ctx, false))
		pg = pgConn(t, ep.PostgresURL)
		_, err = pg.Exec(ctx, "INSERT INTO ro_test VALUES (1)")
		require.NoError(t, err)
	})

	t.Run("redis restart comes back empty, flush empties", func(t *testing.T) {
		rd := redisClient(t, ep.RedisURL)
		require.NoError(t, rd.Set(ctx, "k", "v", 0).Err())
		require.NoError(t, s.Redis().Restart(ctx))
		require.Equal(t, int64(0), rd.Exists(ctx, "k").Val())
		require.NoError(t, rd.Set(ctx, "k", "v", 0).Err())
		require.NoError(t, s.Redis().Flush(ctx))
		require.Equal(t, int64(0), rd.DBSize(ctx).Val())
	})

	t.Run("pause freezes mongo, unpause thaws it", func(t *testing.T) {
		c, err := s.Container(stack.Mongo)
		require.NoError(t, err)
		require.NoError(t, c.Pause(ctx))
		st, err := c.State(ctx)
		require.NoError(t, err)
		require.True(t, st.Paused)
		require.Error(t, pingMongo(ctx, ep.MongoURL, time.Second))
		require.NoError(t, c.Unpause(ctx))
		require.NoError(t, s.WaitReady(ctx, stack.Mongo))
		require.NoError(t, pingMongo(ctx, ep.MongoURL, 5*time.Second))
	})

	t.Run("mongo stop and start keeps its data and address", func(t *testing.T) {
		m := mongoClient(t, ep.MongoURL)
		coll := m.Database("cutover").Collection("events")
		_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "e1"}})
		require.NoError(t, err)
		c, err := s.Container(stack.Mongo)
		require.NoError(t, err)
		require.NoError(t, c.Stop(ctx, time.Second))
		require.Error(t, pingMongo(ctx, ep.MongoURL, time.Second))
		require.NoError(t, c.Start(ctx))
		require.NoError(t, s.WaitReady(ctx, stack.Mongo))
		n, err := mongoClient(t, ep.MongoURL).Database("cutover").Collection("events").CountDocuments(ctx, bson.D{})
		require.NoError(t, err)
		require.Equal(t, int64(1), n)
	})

	t.Run("toxiproxy kill and start: links are recreated", func(t *testing.T) {
		c, err := s.Container(stack.Proxy)
		require.NoError(t, err)
		require.NoError(t, c.Kill(ctx))
		link := ep.Links[stack.LinkName("aws", stack.Redis)].Listen
		require.Error(t, redisClient(t, "redis://"+link).Ping(ctx).Err())
		require.NoError(t, c.Start(ctx))
		require.NoError(t, s.WaitReady(ctx, stack.Proxy))
		require.NoError(t, redisClient(t, "redis://"+link).Ping(ctx).Err())
	})

	t.Run("route53 restart", func(t *testing.T) {
		c, err := s.Container(stack.Route53)
		require.NoError(t, err)
		require.NoError(t, c.Restart(ctx, time.Second))
		require.NoError(t, s.WaitReady(ctx, stack.Route53))
	})

	t.Run("memory limit: the kernel OOM-kills redis", func(t *testing.T) {
		c, err := s.Container(stack.Redis)
		require.NoError(t, err)
		require.NoError(t, c.LimitMemory(ctx, 32<<20))
		rd := redisClient(t, ep.RedisURL)
		value := strings.Repeat("x", 1<<20)
		for i := range 256 {
			if err := rd.Set(ctx, fmt.Sprintf("big%d", i), value, 0).Err(); err != nil {
				break // the server died under us
			}
		}
		require.NoError(t, c.WaitStopped(ctx))
		st, err := c.State(ctx)
		require.NoError(t, err)
		require.True(t, st.OOMKilled, "state %+v", st)
		require.NoError(t, c.LimitMemory(ctx, 0))
		require.NoError(t, c.Start(ctx))
		require.NoError(t, s.WaitReady(ctx, stack.Redis))
	})

	t.Run("close leaves nothing behind", func(t *testing.T) {
		require.NoError(t, s.Close(ctx))
		closed = true
		require.NoError(t, s.Close(ctx), "a second Close is harmless")
		after, err := dockerengine.List(ctx, cli, run)
		require.NoError(t, err)
		require.Empty(t, after)

		pgLog, err := os.ReadFile(filepath.Join(logDir, "postgres.log"))
		require.NoError(t, err)
		require.Contains(t, string(pgLog), "database system is ready to accept connections")
		for _, svc := range []string{stack.Redis, stack.Mongo, stack.Route53, stack.Proxy} {
			require.FileExists(t, filepath.Join(logDir, svc+".log"))
		}
	})
}

// endpointHost is the host of a service endpoint: a URL or host:port.
func endpointHost(t *testing.T, endpoint string) string {
	t.Helper()
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		return u.Hostname()
	}
	host, _, err := net.SplitHostPort(endpoint)
	require.NoError(t, err, endpoint)
	return host
}

func weightedA(id string, weight int64, ip string) types.Change {
	return types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: &types.ResourceRecordSet{
		Name: aws.String("api.cutover.test"), Type: types.RRTypeA, SetIdentifier: aws.String(id),
		Weight: aws.Int64(weight), TTL: aws.Int64(1),
		ResourceRecords: []types.ResourceRecord{{Value: aws.String(ip)}},
	}}
}

func resolveA(t *testing.T, server, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	in, _, err := (&dns.Client{Net: "udp", Timeout: 2 * time.Second}).Exchange(m, server)
	require.NoError(t, err)
	require.Len(t, in.Answer, 1, "%v", in)
	return in.Answer[0].(*dns.A).A.String()
}

func mustFor(t *testing.T, ep stack.Endpoints, client string) stack.ClientURLs {
	t.Helper()
	u, err := ep.For(client)
	require.NoError(t, err)
	return u
}

func pgConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func redisClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	require.NoError(t, err)
	opt.MaxRetries = -1
	c := goredis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func mongoClient(t *testing.T, url string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(url))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func pingMongo(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return stack.PingMongo(ctx, url)
}

func httpGet(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b, err := stack.HTTPGet(ctx, url)
	return string(b), err
}
