package docker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/docker"
	"github.com/cutover/cutover/internal/dockerengine"
	"github.com/cutover/cutover/internal/proc"
	"github.com/cutover/cutover/internal/testsupport"
)

// scripts/flatcpu.sh (README, "Where it goes: the scheduler's groups") runs
// a command with the kernel's autogroup off and every cutover container's
// tasks in the root of the cpu controller, and restores autogroup after.
// Checked from inside the command it runs, against a real container.
func TestFlatCPUScriptFlattensTheRunsContainers(t *testing.T) {
	const autogroup = "/proc/sys/kernel/sched_autogroup_enabled"
	if os.Geteuid() != 0 {
		t.Skip("scripts/flatcpu.sh needs root")
	}
	before, err := os.ReadFile(autogroup)
	if err != nil {
		t.Skipf("no autogroup switch on this kernel (%v)", err)
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cgroup.procs"); err != nil {
		t.Skip("no cgroup v1 cpu controller at /sys/fs/cgroup/cpu: scripts/flatcpu.sh refuses such hosts")
	}
	cli := testsupport.Engine(t)
	image := docker.LocalImages().Toxiproxy
	testsupport.RequireImages(t, cli, image)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pid := startLabelledContainer(ctx, t, cli, image)
	require.Contains(t, cpuCgroup(t, pid), "/docker/", "a container starts in a cpu group of its own")

	script, err := filepath.Abs("../../../scripts/flatcpu.sh")
	require.NoError(t, err)
	// The mover runs twice a second: the command waits for it (bounded).
	probe := fmt.Sprintf(`for i in $(seq 1 40); do grep -Eq '^[0-9]+:([a-z]+,)*cpu(,[a-z]+)*:/$' /proc/%d/cgroup && break; sleep 0.1; done
cat %s; grep -E '^[0-9]+:([a-z]+,)*cpu(,[a-z]+)*:' /proc/%d/cgroup`, pid, autogroup, pid)
	out, err := exec.CommandContext(ctx, script, "sh", "-c", probe).CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Fields(string(out))
	require.Len(t, lines, 2, "%s", out)
	require.Equal(t, "0", lines[0], "autogroup is off while the command runs")
	require.Regexp(t, `^[0-9]+:([a-z]+,)*cpu(,[a-z]+)*:/$`, lines[1], "the container's tasks are in the root cpu group")

	after, err := os.ReadFile(autogroup)
	require.NoError(t, err)
	require.Equal(t, string(before), string(after), "autogroup is restored")

	// The command's exit status is the script's.
	err = exec.CommandContext(ctx, script, "sh", "-c", "exit 7").Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 7, ee.ExitCode())
}

// startLabelledContainer starts a Toxiproxy container labelled as a
// cutover run's and returns its pid.
func startLabelledContainer(ctx context.Context, t *testing.T, cli *client.Client, image string) int {
	t.Helper()
	port, release, err := proc.FreePort("127.0.0.1")
	require.NoError(t, err)
	release()
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: image, Cmd: []string{"-host=127.0.0.1", "-port=" + strconv.Itoa(port)}, Labels: dockerengine.Labels(runID("flat"), stack.Proxy)},
		HostConfig: &container.HostConfig{NetworkMode: "host"},
	})
	require.NoError(t, err)
	c := dockerengine.NewContainer(cli, created.ID, "flat")
	t.Cleanup(func() { _ = c.Remove(context.Background()) })
	require.NoError(t, c.Start(ctx))
	st, err := c.State(ctx)
	require.NoError(t, err)
	require.NotZero(t, st.Pid)
	return st.Pid
}

// cpuCgroup is pid's group in the cgroup v1 cpu controller.
func cpuCgroup(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.SplitN(l, ":", 3); len(f) == 3 && slices.Contains(strings.Split(f[1], ","), "cpu") {
			return f[2]
		}
	}
	t.Fatalf("pid %d has no cpu controller line in /proc/%d/cgroup", pid, pid)
	return ""
}
