package docker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/stack/docker"
	"github.com/cutover/cutover/internal/dockerengine"
	"github.com/cutover/cutover/internal/proc"
	"github.com/cutover/cutover/internal/testsupport"
)

// When this variable is set the test binary acts as a harness: it starts
// a docker stack and a replica container, prints the run id and the
// replica's address, and waits to be killed (see TestKilledHarnessLeavesNothing).
const childEnv = "CUTOVER_DOCKER_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := child(os.Getenv(childEnv)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		select {} // until killed
	}
	os.Exit(m.Run())
}

type childReport struct {
	Run     string `json:"run"`
	Replica string `json:"replica"`
}

func child(run string) error {
	ctx := context.Background()
	s, err := docker.Start(ctx, docker.Options{Run: run, Logf: func(string, ...any) {}})
	if err != nil {
		return err
	}
	port, release, err := proc.FreePort("127.0.0.1")
	if err != nil {
		return err
	}
	release() // the process binds it next; until here no one else could take it
	urls, err := s.Endpoints().For("heroku")
	if err != nil {
		return err
	}
	env := map[string]string{"DATABASE_URL": urls.PostgresURL, "REDIS_URL": urls.RedisURL, "MONGODB_URL": urls.MongoURL, "APP_ID": "t", "APP_TOKEN": "t"}
	inst, err := s.Runner(docker.RunnerOptions{}).Start(ctx,
		proc.Spec{Name: "couponapi", Image: s.ServiceImage(), Env: env},
		proc.InstanceConfig{Name: "web.1", Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	if err != nil {
		return err
	}
	if err := proc.WaitListening(ctx, inst); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(childReport{Run: s.Run(), Replica: inst.Addr()})
}

// TestKilledHarnessLeavesNothing kills a harness that runs a docker stack
// and a replica container with SIGKILL — no Close, no deferred cleanup —
// and checks that its reaper removes every container, network and volume
// of the run within 10 s.
func TestKilledHarnessLeavesNothing(t *testing.T) {
	cli := testsupport.Engine(t)
	requireLocalImages(t, cli)
	testsupport.RequireImages(t, cli, docker.ReaperImage, docker.LocalImages().Service)
	run := runID("kill")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+run)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// Whatever the test found, leave nothing of this run behind.
		_, _ = dockerengine.Prune(context.Background(), cli, dockerengine.PruneOptions{Run: run})
	})

	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	require.NoError(t, err, "the child harness did not report")
	var got childReport
	require.NoError(t, json.Unmarshal(line, &got))
	require.Equal(t, run, got.Run)

	ctx := context.Background()
	before, err := dockerengine.List(ctx, cli, run)
	require.NoError(t, err)
	kinds := map[string]int{}
	for _, r := range before {
		kinds[r.Kind]++
	}
	// Five services, the reaper, the replica; the services' data volumes.
	require.Equal(t, 7, kinds[dockerengine.KindContainer], "%v", before)
	require.Positive(t, kinds[dockerengine.KindVolume], "%v", before)

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	killed := time.Now()
	var left []dockerengine.Resource
	require.Eventually(t, func() bool {
		left, err = dockerengine.List(ctx, cli, run)
		return err == nil && len(left) == 0
	}, 10*time.Second, 100*time.Millisecond, "left 10 s after the kill: %v", left)
	t.Logf("nothing of run %s left %.1f s after SIGKILL (%d resources removed)", run, time.Since(killed).Seconds(), len(before))
}
