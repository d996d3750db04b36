package docker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/stack/docker"
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
	_, pid := startToxiproxyContainer(ctx, t, cli, image, "flat")
	require.Contains(t, cpuCgroup(t, pid), "/docker/", "a container starts in a cpu group of its own")

	script, err := filepath.Abs("../../../scripts/flatcpu.sh")
	require.NoError(t, err)
	// The mover runs twice a second: the command waits for it (bounded).
	const cpuLine = `^[0-9]+:([a-z]+,)*cpu(,[a-z]+)*:` // the cpu controller's line of /proc/PID/cgroup
	probe := fmt.Sprintf(`for i in $(seq 1 40); do grep -Eq '%[1]s/$' /proc/%[2]d/cgroup && break; sleep 0.1; done
cat %[3]s; grep -E '%[1]s' /proc/%[2]d/cgroup`, cpuLine, pid, autogroup)
	out, err := exec.CommandContext(ctx, script, "sh", "-c", probe).CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Fields(string(out))
	require.Len(t, lines, 2, "%s", out)
	require.Equal(t, "0", lines[0], "autogroup is off while the command runs")
	require.Regexp(t, cpuLine+`/$`, lines[1], "the container's tasks are in the root cpu group")

	after, err := os.ReadFile(autogroup)
	require.NoError(t, err)
	require.Equal(t, string(before), string(after), "autogroup is restored")

	// The command's exit status is the script's.
	err = exec.CommandContext(ctx, script, "sh", "-c", "exit 7").Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 7, ee.ExitCode())
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
