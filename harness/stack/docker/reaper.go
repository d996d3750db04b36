package docker

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/cutover/cutover/internal/dockerengine"
)

// ReaperImage is the image of cmd/reaper that `make images` builds: the
// container every run starts first, which removes the run's containers,
// networks and volumes when the harness dies without closing its stack.
const ReaperImage = "cutover-local/reaper:latest"

// reaperPort is the port the reaper accepts the harness's connection on,
// at the run's own loopback address of slotReaper.
const reaperPort = 7070

// reaperConnectTimeout is how long the reaper waits for the harness's
// first connection before it acts as if the harness had died.
const reaperConnectTimeout = time.Minute

// reaper is the run's reaper container and the connection that keeps it
// from acting: the harness holds it open until it dies or closes the stack.
type reaper struct {
	ctr  *dockerengine.Container
	conn net.Conn
}

// startReaper starts the reaper container, connects to it and waits for
// its greeting: from then on a death of this process (even SIGKILL) removes
// everything the run labels, within seconds.
func (s *Stack) startReaper(ctx context.Context) (*reaper, error) {
	if _, ok, err := dockerengine.LocalImage(ctx, s.cli, ReaperImage); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("the reaper image %s is missing: run `make images` (it removes a killed run's containers)", ReaperImage)
	}
	hc := &container.HostConfig{NetworkMode: "host", AutoRemove: true}
	env, err := reaperEngineAccess(hc)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("cutover-%s-reaper", s.run)
	addr := s.addrs.hostPort(slotReaper, reaperPort)
	created, err := s.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image:  ReaperImage,
			Labels: dockerengine.Labels(s.run, "reaper"),
			Env:    env,
			Cmd: []string{"-listen", addr, "-run", s.run, "-self", name,
				"-connect-timeout", reaperConnectTimeout.String()},
		},
		HostConfig: hc,
	})
	if err != nil {
		return nil, fmt.Errorf("create reaper: %w", err)
	}
	r := &reaper{ctr: dockerengine.NewContainer(s.cli, created.ID, "reaper")}
	if err := r.ctr.Start(ctx); err != nil {
		_ = r.ctr.Remove(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("start reaper: %w", err)
	}
	err = poll(ctx, "reaper "+addr, func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ACK" {
			c.Close()
			return fmt.Errorf("no greeting from the reaper (%q): %w", line, err)
		}
		_ = c.SetReadDeadline(time.Time{})
		r.conn = c
		return nil
	})
	if err != nil {
		_ = r.ctr.Remove(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("connect to the reaper: %w", err)
	}
	return r, nil
}

// release drops the connection; call it once the run's resources are
// removed (the reaper's container with them), or the reaper removes them.
func (r *reaper) release() {
	if r != nil && r.conn != nil {
		r.conn.Close()
	}
}

// reaperEngineAccess gives the reaper the engine this process uses: the
// Unix socket of DOCKER_HOST (default /var/run/docker.sock) mounted at the
// default path, or a TCP DOCKER_HOST passed on (the reaper shares the
// host's network). TLS settings are not passed on.
func reaperEngineAccess(hc *container.HostConfig) ([]string, error) {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("reaper: DOCKER_HOST %q: %w", host, err)
	}
	switch u.Scheme {
	case "unix":
		hc.Binds = []string{u.Path + ":/var/run/docker.sock"}
		return nil, nil
	case "tcp":
		if os.Getenv("DOCKER_TLS_VERIFY") != "" {
			return nil, fmt.Errorf("reaper: DOCKER_HOST %s with TLS is not supported", host)
		}
		return []string{"DOCKER_HOST=" + host}, nil
	default:
		return nil, fmt.Errorf("reaper: DOCKER_HOST %s: unsupported scheme %q", host, u.Scheme)
	}
}
