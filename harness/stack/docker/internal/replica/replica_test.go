package replica_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/stack/docker/internal/replica"
	"github.com/cutover/cutover/internal/dockerengine"
	"github.com/cutover/cutover/internal/machine"
	"github.com/cutover/cutover/internal/proc"
	"github.com/cutover/cutover/internal/testsupport"
)

// output collects an instance's lines.
type output struct {
	mu    sync.Mutex
	lines []string
}

func (o *output) add(stream, line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, stream+": "+line)
}

func (o *output) text() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n")
}

type fixture struct {
	runner *replica.Runner
	image  string
	run    string
	t      *testing.T
}

func newFixture(t *testing.T, opts replica.Options) *fixture {
	cli := testsupport.Engine(t)
	img := testsupport.ServiceImage(t, cli)
	run := fmt.Sprintf("rt%d", time.Now().UnixNano()%1_000_000_000)
	opts.Run = run
	r := replica.New(cli, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, r.Close(ctx))
		left, err := dockerengine.List(ctx, cli, run)
		require.NoError(t, err)
		require.Empty(t, left, "replica containers left behind")
	})
	return &fixture{runner: r, image: img, run: run, t: t}
}

func (f *fixture) start(ctx context.Context, name string, env map[string]string, out *output) *replica.Instance {
	f.t.Helper()
	return f.startAt(ctx, "127.0.0.1", name, env, out)
}

func (f *fixture) startAt(ctx context.Context, host, name string, env map[string]string, out *output) *replica.Instance {
	f.t.Helper()
	port, release, err := proc.FreePort(host)
	require.NoError(f.t, err)
	release()
	cfg := proc.InstanceConfig{Name: name, Addr: fmt.Sprintf("%s:%d", host, port), Env: env, Egress: host}
	if out != nil {
		cfg.Output = out.add
	}
	inst, err := f.runner.Start(ctx, proc.Spec{Name: "probe", Image: f.image}, cfg)
	require.NoError(f.t, err)
	require.NoError(f.t, proc.WaitListening(ctx, inst))
	ri := inst.(*replica.Instance)
	require.Eventually(f.t, func() bool { _, err := get(ctx, ri, "/healthz"); return err == nil }, 20*time.Second, 20*time.Millisecond)
	return ri
}

func get(ctx context.Context, inst *replica.Instance, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+inst.Addr()+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

func waitDone(t *testing.T, inst *replica.Instance) {
	t.Helper()
	select {
	case <-inst.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("instance did not exit")
	}
}

func TestInstanceLifecycle(t *testing.T) {
	f := newFixture(t, replica.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("env, port and output", func(t *testing.T) {
		out := &output{}
		inst := f.start(ctx, "web.1", map[string]string{"DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db"}, out)
		got, err := get(ctx, inst, "/env?k=DATABASE_URL")
		require.NoError(t, err)
		require.Equal(t, "postgres://u:p@127.0.0.1:5432/db", got, "the environment as given")
		_, port, _ := strings.Cut(inst.Addr(), ":")
		got, err = get(ctx, inst, "/env?k=PORT")
		require.NoError(t, err)
		require.Equal(t, port, got)
		require.Positive(t, inst.PID())
		require.Eventually(t, func() bool { return strings.Contains(out.text(), ":"+port+" egress") }, 10*time.Second, 20*time.Millisecond)
		require.NoError(t, inst.Kill())
		waitDone(t, inst)
	})

	for _, tc := range []struct {
		name     string
		env      map[string]string
		act      func(inst *replica.Instance) error
		wantCode int
	}{
		{"SIGTERM kills an ungraceful service: 143", map[string]string{"ON_TERM": "die"}, func(i *replica.Instance) error { return i.Signal(syscall.SIGTERM) }, 143},
		{"SIGTERM stops a draining service: 0", nil, func(i *replica.Instance) error { return i.Signal(syscall.SIGTERM) }, 0},
		{"Kill: 137", nil, func(i *replica.Instance) error { return i.Kill() }, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst := f.start(ctx, "web.2", tc.env, nil)
			require.Equal(t, -1, inst.ExitCode())
			require.NoError(t, tc.act(inst))
			waitDone(t, inst)
			require.Equal(t, tc.wantCode, inst.ExitCode())
			require.False(t, inst.OOMKilled())
			require.NoError(t, inst.Kill(), "killing an exited instance is not an error")
			require.Error(t, inst.Signal(syscall.SIGTERM))
		})
	}

	t.Run("platform.Stop escalates to SIGKILL after the grace", func(t *testing.T) {
		inst := f.start(ctx, "web.3", map[string]string{"ON_TERM": "ignore"}, nil)
		forced, err := proc.Stop(ctx, inst, 300*time.Millisecond)
		require.NoError(t, err)
		require.True(t, forced, "exit %d", inst.ExitCode())
		require.Equal(t, 137, inst.ExitCode())
	})

	t.Run("SIGTERM to a paused instance is delivered once Docker thaws it", func(t *testing.T) {
		inst := f.start(ctx, "web.6", map[string]string{"ON_TERM": "die"}, nil)
		require.NoError(t, inst.Pause(ctx))
		forced, err := proc.Stop(ctx, inst, 5*time.Second)
		require.NoError(t, err)
		require.False(t, forced)
		require.Equal(t, 143, inst.ExitCode())
	})

	t.Run("pause freezes, unpause thaws", func(t *testing.T) {
		inst := f.start(ctx, "web.4", nil, nil)
		require.NoError(t, inst.Pause(ctx))
		_, err := get(ctx, inst, "/healthz")
		require.Error(t, err, "a paused container answers nothing")
		require.NoError(t, inst.Unpause(ctx))
		got, err := get(ctx, inst, "/healthz")
		require.NoError(t, err)
		require.Equal(t, "ok\n", got)
		require.NoError(t, inst.Kill())
		waitDone(t, inst)
	})

	t.Run("RSS grows with allocations", func(t *testing.T) {
		inst := f.start(ctx, "web.5", nil, nil)
		before, err := inst.RSS()
		require.NoError(t, err)
		require.Positive(t, before)
		_, err = get(ctx, inst, "/alloc?mb=64")
		require.NoError(t, err)
		after, err := inst.RSS()
		require.NoError(t, err)
		require.Greater(t, after-before, int64(50<<20), "RSS %d -> %d", before, after)
		// Read from the container's cgroup on this host, it is the
		// figure the engine's stats give.
		_, cg, err := machine.CgroupRSS(inst.PID())
		require.NoError(t, err)
		require.Contains(t, cg, inst.Container().ID(), "the container's own cgroup")
		engine, err := inst.Container().RSS(ctx)
		require.NoError(t, err)
		require.InEpsilon(t, engine, after, 0.05, "cgroup %d, engine %d", after, engine)
		require.NoError(t, inst.Kill())
		waitDone(t, inst)
		_, err = inst.RSS()
		require.Error(t, err)
	})
}

func TestMemoryLimitIsARealOOMKill(t *testing.T) {
	f := newFixture(t, replica.Options{MemoryLimit: 48 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("runner limit", func(t *testing.T) {
		inst := f.start(ctx, "web.1", nil, nil)
		st, err := inst.Container().State(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(48<<20), st.MemoryLimit)
		_, _ = get(ctx, inst, "/alloc?mb=128") // the answer never comes
		waitDone(t, inst)
		require.True(t, inst.OOMKilled(), "exit %d", inst.ExitCode())
		require.Equal(t, 137, inst.ExitCode())
	})

	t.Run("limit lowered on a running instance", func(t *testing.T) {
		inst := f.start(ctx, "web.2", nil, nil)
		require.NoError(t, inst.LimitMemory(ctx, 0), "lift the runner's limit")
		_, err := get(ctx, inst, "/alloc?mb=64")
		require.NoError(t, err, "64 MiB fit once the limit is lifted")
		require.NoError(t, inst.LimitMemory(ctx, 96<<20))
		_, _ = get(ctx, inst, "/alloc?mb=64")
		waitDone(t, inst)
		require.True(t, inst.OOMKilled())
	})
}

func TestHostNetworkReachesHostLoopback(t *testing.T) {
	f := newFixture(t, replica.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	harness := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer harness.Close()

	inst := f.startAt(ctx, "127.0.0.7", "web.1", map[string]string{"DATABASE_URL": "postgres://127.0.0.1:5432/db"}, nil)
	require.True(t, strings.HasPrefix(inst.Addr(), "127.0.0.7:"))
	got, err := get(ctx, inst, "/dial?addr="+harness.Listener.Addr().String())
	require.NoError(t, err, got)
	got, err = get(ctx, inst, "/env?k=EGRESS_ADDR")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.7", got)
	got, err = get(ctx, inst, "/env?k=DATABASE_URL")
	require.NoError(t, err)
	require.Equal(t, "postgres://127.0.0.1:5432/db", got, "nothing rewritten on the host's network")
	require.NoError(t, inst.Kill())
	waitDone(t, inst)
	require.Equal(t, 137, inst.ExitCode())
}
