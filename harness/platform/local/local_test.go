package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/internal/testsupport"

	"github.com/cutover/cutover/harness/platform"
)

// testsvc is the test service binary, built once in TestMain.
var testsvc string

func TestMain(m *testing.M) {
	bin, err := testsupport.BuildService()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testsvc = bin
	os.Exit(m.Run())
}

// fastOptions are Kubernetes' settings scaled down for tests.
func fastOptions(log io.Writer) Options {
	return Options{
		Readiness: Probe{Period: 20 * time.Millisecond, Timeout: 200 * time.Millisecond, FailureThreshold: 1},
		// The liveness probe waits a second after each start, as
		// initialDelaySeconds does: without it a replica that is slow to
		// bind on a loaded machine is killed before it ever listens.
		Liveness:            Probe{InitialDelay: time.Second, Period: 20 * time.Millisecond, Timeout: 200 * time.Millisecond, FailureThreshold: 2},
		TerminationGrace:    2 * time.Second,
		DeregistrationDelay: 2 * time.Second,
		BackoffBase:         100 * time.Millisecond,
		BackoffMax:          400 * time.Millisecond,
		RolloutTimeout:      15 * time.Second,
		Log:                 log,
	}
}

func spec(env map[string]string) platform.ServiceSpec {
	return platform.ServiceSpec{Name: "coupon", Command: []string{testsvc}, Env: env}
}

func start(t *testing.T, opts Options) *Platform {
	t.Helper()
	p, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, p.Close(ctx))
	})
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func get(url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

type replicaCounts struct {
	Served         int64 `json:"served"`
	ServedNotReady int64 `json:"served_not_ready"`
	PID            int64 `json:"pid"`
}

func replicaStats(t *testing.T, addr string) replicaCounts {
	t.Helper()
	code, body, err := get("http://" + addr + "/stats")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	var s replicaCounts
	require.NoError(t, json.Unmarshal([]byte(body), &s))
	return s
}

// load sends requests from workers until stop is closed (or maxPerWorker
// requests each) and counts the failures.
type load struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	errors       []string
	stop         chan struct{}
	wg           sync.WaitGroup
}

func startLoad(url string, workers, maxPerWorker int) *load {
	l := &load{stop: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			for range maxPerWorker {
				select {
				case <-l.stop:
					return
				default:
				}
				l.sent.Add(1)
				code, body, err := get(url)
				if err != nil || code != http.StatusOK {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errors) < 5 {
						l.errors = append(l.errors, fmt.Sprintf("%d %q %v", code, body, err))
					}
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

func (l *load) finish() {
	close(l.stop)
	l.wg.Wait()
}

func upCount(rs []platform.Replica) int {
	n := 0
	for _, r := range rs {
		if r.State == platform.Up {
			n++
		}
	}
	return n
}

func TestDeployServesThroughTheLoadBalancer(t *testing.T) {
	log := &testsupport.SyncBuffer{}
	p := start(t, fastOptions(log))
	require.True(t, strings.HasPrefix(p.Endpoint(), "127.0.0.3:"), p.Endpoint())
	code, _, err := get("http://" + p.Endpoint() + "/")
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, code, "no replica yet")

	require.NoError(t, p.Deploy(testCtx(t), spec(nil), 3))
	rs := p.Replicas()
	require.Len(t, rs, 3)
	require.Equal(t, 3, upCount(rs))
	seen := map[string]bool{}
	for range 30 {
		code, body, err := get("http://" + p.Endpoint() + "/")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		seen[body] = true
	}
	require.Len(t, seen, 3, "every replica gets traffic")
	for _, r := range rs {
		require.Equal(t, "127.0.0.30", r.Egress)
		require.Positive(t, r.PID)
		require.True(t, strings.HasPrefix(r.Addr, "127.0.0.1:"), r.Addr)
	}
	s := log.String()
	require.Contains(t, s, " pod/coupon-1: Started: Started container coupon")
	require.Contains(t, s, " pod/coupon-3: Ready: Readiness probe succeeded")
	require.Contains(t, s, " pod/coupon-2: stdout: listening on 127.0.0.1:")
}

func TestReadinessGatesTraffic(t *testing.T) {
	p := start(t, fastOptions(nil))
	ctx := testCtx(t)
	// Every replica answers /readyz 503 for its first 400 ms while already
	// serving "/": any request reaching it then is counted by the replica.
	require.NoError(t, p.Deploy(ctx, spec(map[string]string{"READY_DELAY": "400ms"}), 1))
	l := startLoad("http://"+p.Endpoint()+"/", 4, 100000)
	require.NoError(t, p.Scale(ctx, 3))
	time.Sleep(300 * time.Millisecond) // the new replicas take load
	l.finish()
	require.Zero(t, l.failed.Load(), "%v", l.errors)
	for _, r := range p.Replicas() {
		s := replicaStats(t, r.Addr)
		require.Zero(t, s.ServedNotReady, "%s served %d requests before it was ready", r.Name, s.ServedNotReady)
		require.Positive(t, s.Served, "%s got traffic once ready", r.Name)
	}

	// A replica failing readiness leaves the rotation; it keeps running.
	victim := p.Replicas()[0]
	code, _, err := get("http://" + victim.Addr + "/admin/ready?on=false")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Eventually(t, func() bool { return p.Replicas()[0].State == platform.Starting }, 5*time.Second, 10*time.Millisecond)
	before := replicaStats(t, victim.Addr).Served
	for range 50 {
		code, _, err := get("http://" + p.Endpoint() + "/")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
	}
	require.Equal(t, before, replicaStats(t, victim.Addr).Served, "no traffic to a not-ready replica")
	require.Equal(t, victim.PID, p.Replicas()[0].PID, "readiness never restarts")
}

func TestKilledReplicaIsRestarted(t *testing.T) {
	log := &testsupport.SyncBuffer{}
	p := start(t, fastOptions(log))
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, spec(nil), 2))
	victim := p.Replicas()[0]
	require.NoError(t, p.KillReplica(ctx, victim.Name))
	require.Eventually(t, func() bool {
		r := p.Replicas()[0]
		return r.State == platform.Up && r.Restarts == 1 && r.PID != victim.PID
	}, 10*time.Second, 10*time.Millisecond, "restarted at once after the first crash")
	require.Equal(t, victim.Addr, p.Replicas()[0].Addr, "a container restart keeps the pod's address")

	// A second crash in a row waits out the back-off (100 ms here).
	killed := time.Now()
	require.NoError(t, p.KillReplica(ctx, victim.Name))
	require.Eventually(t, func() bool {
		r := p.Replicas()[0]
		return r.State == platform.Up && r.Restarts == 2
	}, 10*time.Second, 10*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(killed), 100*time.Millisecond)
	require.Contains(t, log.String(), "pod/coupon-1: BackOff: Back-off 100ms restarting failed container")
	require.Equal(t, 2, strings.Count(log.String(), "pod/coupon-1: Killing: SIGKILL"))
	require.ErrorContains(t, p.KillReplica(ctx, "coupon-9"), "no replica")
}

func TestCrashLoopBackOffDoubles(t *testing.T) {
	log := &testsupport.SyncBuffer{}
	p := start(t, fastOptions(log))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := p.Deploy(ctx, platform.ServiceSpec{Name: "coupon", Command: []string{"/bin/sh", "-c", "echo boom; exit 3"}}, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	s := log.String()
	require.Contains(t, s, "pod/coupon-1: Exited: container exited with status 3")
	require.Contains(t, s, "pod/coupon-1: stdout: boom")
	i100 := strings.Index(s, "Back-off 100ms")
	i200 := strings.Index(s, "Back-off 200ms")
	i400 := strings.Index(s, "Back-off 400ms")
	require.True(t, i100 >= 0 && i200 > i100 && i400 > i200, "back-off doubles: %s", s)
	require.NotContains(t, s, "Back-off 800ms", "capped at BackoffMax")
	r := p.Replicas()[0]
	require.GreaterOrEqual(t, r.Restarts, 3)
}

func TestLivenessFailureRestarts(t *testing.T) {
	log := &testsupport.SyncBuffer{}
	p := start(t, fastOptions(log))
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, spec(nil), 1))
	r := p.Replicas()[0]
	code, _, err := get("http://" + r.Addr + "/admin/health?on=false")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.Eventually(t, func() bool {
		x := p.Replicas()[0]
		return x.Restarts == 1 && x.State == platform.Up && x.PID != r.PID
	}, 10*time.Second, 10*time.Millisecond)
	s := log.String()
	require.Contains(t, s, "pod/coupon-1: Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 500")
	require.Contains(t, s, "pod/coupon-1: Killing: Container coupon failed liveness probe, will be restarted")
	require.Contains(t, s, "pod/coupon-1: stdout: received terminated", "stopped with SIGTERM")
}

func TestRollingRestartUnderLoadFailsNoRequest(t *testing.T) {
	log := &testsupport.SyncBuffer{}
	p := start(t, fastOptions(log))
	ctx := testCtx(t)
	// SHUTDOWN_DELAY: the service keeps serving a little after SIGTERM,
	// then drains, as a well-behaved service does.
	require.NoError(t, p.Deploy(ctx, spec(map[string]string{"SHUTDOWN_DELAY": "50ms", "READY_DELAY": "100ms"}), 3))
	before := p.Replicas()
	l := startLoad("http://"+p.Endpoint()+"/?sleep=2ms", 8, 100000)
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, p.Restart(ctx, ""))
	time.Sleep(100 * time.Millisecond)
	l.finish()
	require.Greater(t, l.sent.Load(), int64(200))
	require.Zero(t, l.failed.Load(), "failed %d of %d: %v", l.failed.Load(), l.sent.Load(), l.errors)
	after := p.Replicas()
	require.Len(t, after, 3)
	require.Equal(t, 3, upCount(after))
	for _, a := range after {
		for _, b := range before {
			require.NotEqual(t, b.Name, a.Name, "every replica was replaced")
		}
	}
	s := log.String()
	require.Contains(t, s, "deployment/coupon: RollingRestart")
	require.Contains(t, s, "pod/coupon-1: Stopped: container exited with status 0", "graceful exit")
	require.Contains(t, s, "pod/coupon-1: Deleted")
	// Surge one: coupon-4 was ready before coupon-1 was stopped.
	require.Less(t, strings.Index(s, "pod/coupon-4: Ready"), strings.Index(s, "pod/coupon-1: Killing"))

	// Restarting one replica by name replaces just that one.
	name := after[1].Name
	require.NoError(t, p.Restart(ctx, name))
	names := []string{}
	for _, r := range p.Replicas() {
		names = append(names, r.Name)
	}
	require.NotContains(t, names, name)
	require.Contains(t, names, after[0].Name)
	require.Len(t, names, 3)
}

func TestScaleUpAndDown(t *testing.T) {
	log := &testsupport.SyncBuffer{}
	p := start(t, fastOptions(log))
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, spec(nil), 1))
	require.NoError(t, p.Scale(ctx, 4))
	require.Equal(t, 4, upCount(p.Replicas()))
	require.NoError(t, p.Scale(ctx, 2))
	rs := p.Replicas()
	require.Len(t, rs, 2)
	require.Equal(t, []string{"coupon-1", "coupon-2"}, []string{rs[0].Name, rs[1].Name}, "the newest go first")
	require.Contains(t, log.String(), "pod/coupon-4: Deleted")
	require.NoError(t, p.Scale(ctx, 0))
	require.Empty(t, p.Replicas())
	code, _, err := get("http://" + p.Endpoint() + "/")
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Error(t, p.Scale(ctx, -1))
}

func TestEveryReplicaCallsOutFromTheFixedEgressAddress(t *testing.T) {
	// The partner's side: it reports the source address it sees.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		_, _ = io.WriteString(w, host)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	opts := fastOptions(nil)
	opts.Egress = "127.0.0.31"
	p := start(t, opts)
	require.NoError(t, p.Deploy(testCtx(t), spec(nil), 3))
	perReplica := map[string]string{}
	for _, r := range p.Replicas() {
		code, body, err := get("http://" + r.Addr + "/egress?url=http://" + ln.Addr().String() + "/")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
		perReplica[r.Name] = body
	}
	require.Equal(t, map[string]string{"coupon-1": "127.0.0.31", "coupon-2": "127.0.0.31", "coupon-3": "127.0.0.31"}, perReplica)
	for range 9 {
		_, body, err := get("http://" + p.Endpoint() + "/egress?url=http://" + ln.Addr().String() + "/")
		require.NoError(t, err)
		require.Equal(t, "127.0.0.31", body, "through the load balancer too")
	}
}

func TestLeastOutstandingRequests(t *testing.T) {
	p := start(t, fastOptions(nil))
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, spec(nil), 2))
	// Hold requests on whichever replica gets them; the balancer sends the
	// next ones to the other replica.
	var wg sync.WaitGroup
	ports := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			resp, err := client.Get("http://" + p.Endpoint() + "/?sleep=400ms")
			if err == nil {
				ports <- resp.Header.Get("X-Port")
				resp.Body.Close()
			}
		})
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	close(ports)
	count := map[string]int{}
	for port := range ports {
		count[port]++
	}
	require.Len(t, count, 2)
	for _, c := range count {
		require.Equal(t, 2, c, "four slow requests spread two and two: %v", count)
	}
}

func TestNewRejectsABadEgress(t *testing.T) {
	_, err := New(Options{Egress: "nat-gateway"})
	require.ErrorContains(t, err, "not an IP address")
}

func TestCloseStopsEverything(t *testing.T) {
	p, err := New(fastOptions(nil))
	require.NoError(t, err)
	require.NoError(t, p.Deploy(testCtx(t), spec(nil), 2))
	pids := []int{}
	for _, r := range p.Replicas() {
		pids = append(pids, r.PID)
	}
	require.NoError(t, p.Close(context.Background()))
	require.NoError(t, p.Close(context.Background()), "twice")
	for _, pid := range pids {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
		require.True(t, os.IsNotExist(err), "process %d is gone", pid)
	}
	_, err = net.DialTimeout("tcp", p.Endpoint(), time.Second)
	require.Error(t, err, "the load balancer stopped listening")
	require.Error(t, p.Deploy(testCtx(t), spec(nil), 1))
}
