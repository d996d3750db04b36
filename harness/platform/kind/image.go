package kind

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

// LoadImage copies image from the host's Docker engine into every node, as
// `kind load docker-image` does: the engine exports the image (what `docker
// save` does) to an archive in a temp dir, and each node that does not
// already hold that image ID imports it into containerd
// (nodeutils.LoadImageArchive, `ctr images import`). It returns the names
// of the nodes it loaded.
func LoadImage(ctx context.Context, cli *client.Client, nodeList []nodes.Node, image string) ([]string, error) {
	inspect, err := cli.ImageInspect(ctx, image)
	if err != nil {
		return nil, fmt.Errorf("load image %s: not present in the local Docker engine: %w", image, err)
	}
	var todo []nodes.Node
	for _, n := range nodeList {
		// Same check as kind: skip nodes whose containerd has the same ID.
		if id, err := nodeutils.ImageID(n, image); err == nil && id == inspect.ID {
			continue
		}
		todo = append(todo, n)
	}
	if len(todo) == 0 {
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "cutover-image-")
	if err != nil {
		return nil, fmt.Errorf("load image %s: %w", image, err)
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "image.tar")
	if err := SaveImage(ctx, cli, image, archive); err != nil {
		return nil, fmt.Errorf("load image %s: %w", image, err)
	}
	g, _ := errgroup.WithContext(ctx)
	loaded := make([]string, len(todo))
	for i, n := range todo {
		g.Go(func() error {
			f, err := os.Open(archive)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := nodeutils.LoadImageArchive(n, f); err != nil {
				return fmt.Errorf("node %s: %w", n, err)
			}
			loaded[i] = n.String()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("load image %s: %w", image, err)
	}
	return loaded, nil
}

// SaveImage writes the engine's export of image (a `docker save` archive)
// to path.
func SaveImage(ctx context.Context, cli *client.Client, image, path string) error {
	rc, err := cli.ImageSave(ctx, []string{image})
	if err != nil {
		return fmt.Errorf("save image %s: %w", image, err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save image %s: %w", image, err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("save image %s: %w", image, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save image %s: %w", image, err)
	}
	return nil
}

// NetworkGateway is the gateway address of a Docker network (IPv4 first):
// the host as seen from containers on that network.
func NetworkGateway(ctx context.Context, cli *client.Client, network string) (string, error) {
	res, err := cli.NetworkInspect(ctx, network, client.NetworkInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect docker network %s: %w", network, err)
	}
	var v6 string
	for _, c := range res.Network.IPAM.Config {
		gw := c.Gateway
		if !gw.IsValid() && c.Subnet.IsValid() {
			// Docker gives the gateway the subnet's first address when the
			// IPAM config does not name it (the default bridge).
			gw = c.Subnet.Masked().Addr().Next()
		}
		switch {
		case !gw.IsValid():
		case gw.Is4():
			return gw.String(), nil
		case v6 == "":
			v6 = gw.String()
		}
	}
	if v6 != "" {
		return v6, nil
	}
	return "", fmt.Errorf("docker network %s has no gateway", network)
}

// MappedAddr is the host address Docker publishes containerPort/tcp of
// container on, as host:port (an unspecified host becomes 127.0.0.1).
func MappedAddr(ctx context.Context, cli *client.Client, container string, containerPort int32) (string, error) {
	res, err := cli.ContainerInspect(ctx, container, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect container %s: %w", container, err)
	}
	if res.Container.NetworkSettings == nil {
		return "", fmt.Errorf("container %s has no network settings", container)
	}
	want := fmt.Sprintf("%d/tcp", containerPort)
	for port, bindings := range res.Container.NetworkSettings.Ports {
		if port.String() != want {
			continue
		}
		for _, b := range bindings {
			host := "127.0.0.1"
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				host = b.HostIP.String()
			}
			if b.HostPort != "" {
				return net.JoinHostPort(host, strings.TrimSpace(b.HostPort)), nil
			}
		}
	}
	return "", fmt.Errorf("container %s does not publish port %s (the cluster needs an extraPortMapping for the Service's node port)", container, want)
}
