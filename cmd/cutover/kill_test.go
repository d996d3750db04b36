package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/stack/docker"
	"github.com/cutover/cutover/internal/dockerengine"
	"github.com/cutover/cutover/internal/testsupport"
)

// holding matches a progress line of a hold (the smoke scenario's are
// named stage-N-...) that is sending traffic.
var holding = regexp.MustCompile(`\| step \d+/\d+ stage-\S+ \| weights [^|]*\| ([0-9.]+) req/s`)

// TestKilledDockerRunLeavesNothing runs `cutover run --infra docker` (the
// smoke scenario) in a process of its own, kills it with SIGKILL while a
// stage replays traffic — no Close, no deferred cleanup, no signal handler
// — and checks that none of its containers, networks or volumes is left 10
// seconds later: the run's reaper removed them.
func TestKilledDockerRunLeavesNothing(t *testing.T) {
	cli := testsupport.Engine(t)
	local := docker.LocalImages()
	testsupport.RequireImages(t, cli, local.Postgres, local.Redis, local.Mongo, local.LocalStack, local.Toxiproxy, local.Service, docker.ReaperImage)
	dir := t.TempDir()
	bin := testsupport.Binary(t, "github.com/cutover/cutover/cmd/cutover")
	// The run wants the reference service's binary, although the docker
	// driver runs its image (built by make images).
	svc := testsupport.Binary(t, api.ServicePackage)

	cmd := exec.Command(bin, "run", "../../scenarios/smoke.yaml", "--infra", "docker", "--service-binary", svc, "--out", filepath.Join(dir, "results"))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s/%d/", host, cmd.Process.Pid)
	ctx := context.Background()
	ours := func() []dockerengine.Resource {
		all, err := dockerengine.List(ctx, cli, "")
		require.NoError(t, err)
		var mine []dockerengine.Resource
		for _, r := range all {
			if strings.HasPrefix(r.Owner, owner) {
				mine = append(mine, r)
			}
		}
		return mine
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// Whatever the test found, leave nothing of this run behind.
		for _, run := range runsOf(ours()) {
			_, _ = dockerengine.Prune(context.Background(), cli, dockerengine.PruneOptions{Run: run})
		}
	})

	// Wait for a hold that sends traffic (a stage under way).
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(3 * time.Minute)
	var seen []string
wait:
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the run ended before a stage sent traffic:\n%s\n%s", strings.Join(seen, "\n"), stderr.String())
			seen = append(seen, l)
			if m := holding.FindStringSubmatch(l); m != nil {
				if rate, _ := strconv.ParseFloat(m[1], 64); rate > 0 {
					break wait
				}
			}
		case <-deadline:
			t.Fatalf("no stage sent traffic within 3 minutes:\n%s\n%s", strings.Join(seen, "\n"), stderr.String())
		}
	}
	before := ours()
	kinds := map[string]int{}
	for _, r := range before {
		kinds[r.Kind]++
	}
	// The stack's five services, the reaper, two dynos and two replicas.
	require.GreaterOrEqual(t, kinds[dockerengine.KindContainer], 10, "%v", before)

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	killed := time.Now()
	go func() { // drain the pipe
		for range lines {
		}
	}()
	var left []dockerengine.Resource
	require.Eventually(t, func() bool {
		left = ours()
		return len(left) == 0
	}, 10*time.Second, 200*time.Millisecond, "left 10 s after the kill: %v", left)
	t.Logf("nothing of the run left %.1f s after SIGKILL mid-stage (%d resources removed: %d containers)",
		time.Since(killed).Seconds(), len(before), kinds[dockerengine.KindContainer])
}

// runsOf lists the run ids of resources.
func runsOf(rs []dockerengine.Resource) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if !seen[r.Run] {
			seen[r.Run] = true
			out = append(out, r.Run)
		}
	}
	return out
}
