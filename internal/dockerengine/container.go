package dockerengine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Container is one container of a run and the faults it can suffer. Every
// method acts through the Docker API and returns once the engine did it.
type Container struct {
	cli  *client.Client
	id   string
	name string
}

// NewContainer wraps the container id (named name in errors) of cli.
func NewContainer(cli *client.Client, id, name string) *Container {
	return &Container{cli: cli, id: id, name: name}
}

// ID is the container's id.
func (c *Container) ID() string { return c.id }

// Name is the container's name in this run (postgres, web.1, ...).
func (c *Container) Name() string { return c.name }

// State is what the engine knows of a container.
type State struct {
	Running   bool
	Paused    bool
	OOMKilled bool
	ExitCode  int
	// Pid is the container's init process as seen by the host (0 when
	// it does not run).
	Pid int
	// MemoryLimit is the cgroup memory limit in bytes, 0 for none.
	MemoryLimit int64
}

// State inspects the container.
func (c *Container) State(ctx context.Context) (State, error) {
	res, err := c.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{})
	if err != nil {
		return State{}, fmt.Errorf("inspect %s: %w", c.name, err)
	}
	var st State
	if s := res.Container.State; s != nil {
		st = State{Running: s.Running, Paused: s.Paused, OOMKilled: s.OOMKilled, ExitCode: s.ExitCode, Pid: s.Pid}
	}
	if hc := res.Container.HostConfig; hc != nil {
		st.MemoryLimit = hc.Memory
	}
	return st, nil
}

// Signal sends sig (a name such as "SIGTERM" or a number) to the
// container's init process.
func (c *Container) Signal(ctx context.Context, sig string) error {
	if _, err := c.cli.ContainerKill(ctx, c.id, client.ContainerKillOptions{Signal: sig}); err != nil {
		return fmt.Errorf("signal %s %s: %w", sig, c.name, err)
	}
	return nil
}

// Kill kills the container at once (SIGKILL) and returns once it stopped.
func (c *Container) Kill(ctx context.Context) error {
	if err := c.Signal(ctx, "SIGKILL"); err != nil {
		return err
	}
	return c.WaitStopped(ctx)
}

// Stop sends the image's stop signal (SIGTERM) and SIGKILL after grace,
// and returns once the container stopped.
func (c *Container) Stop(ctx context.Context, grace time.Duration) error {
	secs := int(grace / time.Second)
	if _, err := c.cli.ContainerStop(ctx, c.id, client.ContainerStopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop %s: %w", c.name, err)
	}
	return nil
}

// Start starts a stopped container again, with the same filesystem,
// volumes and published ports. It does not wait for the service inside.
func (c *Container) Start(ctx context.Context) error {
	if _, err := c.cli.ContainerStart(ctx, c.id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	return nil
}

// Restart stops the container (SIGKILL after grace) and starts it again.
func (c *Container) Restart(ctx context.Context, grace time.Duration) error {
	secs := int(grace / time.Second)
	if _, err := c.cli.ContainerRestart(ctx, c.id, client.ContainerRestartOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("restart %s: %w", c.name, err)
	}
	return nil
}

// Pause freezes every process of the container (the cgroup freezer): it
// keeps its connections and memory but answers nothing, like a hung dyno.
func (c *Container) Pause(ctx context.Context) error {
	if _, err := c.cli.ContainerPause(ctx, c.id, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", c.name, err)
	}
	return nil
}

// Unpause thaws a paused container.
func (c *Container) Unpause(ctx context.Context) error {
	if _, err := c.cli.ContainerUnpause(ctx, c.id, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause %s: %w", c.name, err)
	}
	return nil
}

// LimitMemory sets the container's cgroup memory limit to bytes, with no
// swap: past it the kernel's OOM killer kills the biggest process of the
// container (a real R15). bytes <= 0 lifts the limit (Docker cannot remove a
// limit, so it is raised to the engine's total memory).
func (c *Container) LimitMemory(ctx context.Context, bytes int64) error {
	if bytes <= 0 {
		info, err := c.cli.Info(ctx, client.InfoOptions{})
		if err != nil {
			return fmt.Errorf("lift memory limit of %s: engine info: %w", c.name, err)
		}
		bytes = info.Info.MemTotal
	}
	_, err := c.cli.ContainerUpdate(ctx, c.id, client.ContainerUpdateOptions{
		Resources: &container.Resources{Memory: bytes, MemorySwap: bytes},
	})
	if err != nil {
		return fmt.Errorf("limit memory of %s to %d bytes: %w", c.name, bytes, err)
	}
	return nil
}

// RSS is the resident memory of every process of the container, in bytes,
// from the engine's stats (anonymous memory: cgroup v1 "total_rss", cgroup
// v2 "anon").
func (c *Container) RSS(ctx context.Context) (int64, error) {
	res, err := c.cli.ContainerStats(ctx, c.id, client.ContainerStatsOptions{})
	if err != nil {
		return 0, fmt.Errorf("stats of %s: %w", c.name, err)
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("decode stats of %s: %w", c.name, err)
	}
	m := st.MemoryStats
	for _, k := range []string{"total_rss", "rss", "anon"} {
		if v, ok := m.Stats[k]; ok {
			return int64(v), nil
		}
	}
	if m.Usage == 0 {
		return 0, fmt.Errorf("stats of %s: no memory figures (is it running?)", c.name)
	}
	return int64(m.Usage), nil
}

// WaitStopped returns once the container does not run (or ctx ends).
func (c *Container) WaitStopped(ctx context.Context) error {
	for wait := 5 * time.Millisecond; ; {
		st, err := c.State(ctx)
		if err != nil {
			return err
		}
		if !st.Running {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to stop: %w", c.name, ctx.Err())
		case <-time.After(wait):
		}
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}

// Remove removes the container (killing it if it runs) with its anonymous
// volumes. A container already gone is not an error.
func (c *Container) Remove(ctx context.Context) error {
	_, err := c.cli.ContainerRemove(ctx, c.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !isRemovalInProgress(err) {
		return fmt.Errorf("remove %s: %w", c.name, err)
	}
	return nil
}

func isRemovalInProgress(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}
