// Package dockerengine is the Docker engine access shared by the docker stack
// driver, the container replica runner and the kind platform: the client, the labels every
// resource of a run carries, the faults a container can suffer (kill,
// stop/start, pause, restart, memory limit), and the pruning of what a run
// left behind.
package dockerengine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// Labels on every container, network and volume a run creates. Cleanup and
// `cutover infra prune` find leftovers by them, whether or not Ryuk runs.
const (
	// LabelManaged marks a resource as cutover's ("true").
	LabelManaged = "org.cutover.managed"
	// LabelRun is the id of the run that created the resource.
	LabelRun = "org.cutover.run"
	// LabelOwner identifies the process that created the resource, as
	// "host/pid/start", so a later start can tell a dead run's leftovers
	// from a live run's resources.
	LabelOwner = "org.cutover.owner"
	// LabelRole says what the resource is: postgres, redis, replica, ...
	LabelRole = "org.cutover.role"
	// LabelImage is set on images built by `make images`; its value names
	// what the image holds (couponapi, postgres, route53emu, ...).
	LabelImage = "org.cutover.image"
	// LabelInputs holds the content hash of an image's build inputs.
	LabelInputs = "org.cutover.inputs"
)

// Connect returns a client for the engine named by the environment
// (DOCKER_HOST, ...) once it answers a ping within ctx.
func Connect(ctx context.Context) (*client.Client, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("no Docker engine answers: %w", err)
	}
	return cli, nil
}

// Labels returns the labels of a resource of run with the given role.
func Labels(run, role string) map[string]string {
	return map[string]string{
		LabelManaged: "true",
		LabelRun:     run,
		LabelOwner:   Self(),
		LabelRole:    role,
	}
}

// Self is the owner label value of this process: host/pid/start, where
// start is the process start time in clock ticks since boot (so a reused
// pid does not look alive).
func Self() string {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return fmt.Sprintf("%s/%d/%d", host, pid, processStart(pid))
}

// OwnerAlive reports whether the process named by an owner label value is
// still running on this host. An owner on another host (a remote engine)
// counts as alive: we cannot tell, so we leave its resources alone.
func OwnerAlive(owner string) bool {
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return false
	}
	host, _ := os.Hostname()
	if parts[0] != host {
		return true
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	start, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return false
	}
	got := processStart(pid)
	return got != 0 && got == start
}

// processStart returns the start time of pid (field 22 of
// /proc/pid/stat), or 0 when the process does not exist.
func processStart(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields restart after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0
	}
	return v
}
