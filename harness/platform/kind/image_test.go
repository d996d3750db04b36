package kind

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/cutover/cutover/internal/dockerengine"
)

// dockerOrSkip connects to the Docker engine or skips the test.
func dockerOrSkip(t testing.TB) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cli, err := dockerengine.Connect(ctx)
	if err != nil {
		t.Skipf("needs a Docker engine: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// buildImage builds tag from a Dockerfile and files (a scratch image needs
// no pull, so it builds on a machine without a registry) and removes it
// when the test ends.
func buildImage(t *testing.T, cli *client.Client, tag, dockerfile string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files["Dockerfile"] = []byte(dockerfile)
	for name, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body))}))
		_, err := tw.Write(body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	require.NoError(t, err)
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		require.Empty(t, msg.Error, "build %s", tag)
	}
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
}

// fakeNode answers the commands kind's nodeutils sends to a node container
// the way a kind node's containerd and crictl do.
type fakeNode struct {
	name    string
	imageID string // what `crictl inspecti` reports; "" = not present

	mu       sync.Mutex
	imported []byte
	ctrArgs  []string
}

func (n *fakeNode) String() string              { return n.name }
func (n *fakeNode) Role() (string, error)       { return "worker", nil }
func (n *fakeNode) IP() (string, string, error) { return "172.18.0.9", "", nil }
func (n *fakeNode) SerialLogs(io.Writer) error  { return nil }
func (n *fakeNode) Command(c string, a ...string) kindexec.Cmd {
	return &fakeCmd{node: n, args: append([]string{c}, a...)}
}
func (n *fakeNode) CommandContext(_ context.Context, c string, a ...string) kindexec.Cmd {
	return n.Command(c, a...)
}

type fakeCmd struct {
	node   *fakeNode
	args   []string
	stdin  io.Reader
	stdout io.Writer
}

func (c *fakeCmd) SetEnv(...string) kindexec.Cmd      { return c }
func (c *fakeCmd) SetStdin(r io.Reader) kindexec.Cmd  { c.stdin = r; return c }
func (c *fakeCmd) SetStdout(w io.Writer) kindexec.Cmd { c.stdout = w; return c }
func (c *fakeCmd) SetStderr(io.Writer) kindexec.Cmd   { return c }
func (c *fakeCmd) Run() error {
	out := c.stdout
	if out == nil {
		out = io.Discard
	}
	switch cmd := strings.Join(c.args, " "); {
	case strings.HasPrefix(cmd, "crictl inspecti "):
		if c.node.imageID == "" {
			return errors.New("no such image")
		}
		_, err := fmt.Fprintf(out, `{"status":{"id":%q}}`, c.node.imageID)
		return err
	case cmd == "containerd config dump":
		_, err := io.WriteString(out, "version = 3\n[plugins]\n  [plugins.\"io.containerd.cri.v1.images\"]\n    snapshotter = \"overlayfs\"\n")
		return err
	case strings.HasPrefix(cmd, "ctr --namespace=k8s.io images import "):
		b, err := io.ReadAll(c.stdin)
		c.node.mu.Lock()
		c.node.imported, c.node.ctrArgs = b, c.args
		c.node.mu.Unlock()
		return err
	}
	return fmt.Errorf("unexpected command %v", c.args)
}

func TestLoadImageImportsTheSavedArchiveIntoNodesThatLackIt(t *testing.T) {
	cli := dockerOrSkip(t)
	tag := fmt.Sprintf("cutover-test/kind-load:%d", time.Now().UnixNano())
	buildImage(t, cli, tag, "FROM scratch\nCOPY hello /hello\n", map[string][]byte{"hello": []byte("hi")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inspect, err := cli.ImageInspect(ctx, tag)
	require.NoError(t, err)

	lacking := &fakeNode{name: "cutover-worker"}
	holding := &fakeNode{name: "cutover-worker2", imageID: inspect.ID}
	stale := &fakeNode{name: "cutover-control-plane", imageID: "sha256:old"}
	loaded, err := LoadImage(ctx, cli, []nodes.Node{lacking, holding, stale}, tag)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"cutover-worker", "cutover-control-plane"}, loaded)
	require.Nil(t, holding.imported, "a node with the same image ID is skipped")
	require.Equal(t, []string{"ctr", "--namespace=k8s.io", "images", "import", "--all-platforms", "--digests", "--snapshotter=overlayfs", "-"}, lacking.ctrArgs)

	// What the node received is a `docker save` archive of the image.
	tr := tar.NewReader(bytes.NewReader(lacking.imported))
	var manifest []struct{ RepoTags []string }
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if h.Name == "manifest.json" {
			require.NoError(t, json.NewDecoder(tr).Decode(&manifest))
		}
	}
	require.Len(t, manifest, 1)
	require.Equal(t, []string{tag}, manifest[0].RepoTags)
	require.Equal(t, lacking.imported, stale.imported)
}

func TestLoadImageNamesAMissingImage(t *testing.T) {
	cli := dockerOrSkip(t)
	_, err := LoadImage(context.Background(), cli, []nodes.Node{&fakeNode{name: "n"}}, "cutover-test/absent:never")
	require.ErrorContains(t, err, "not present in the local Docker engine")
}

func TestNetworkGateway(t *testing.T) {
	cli := dockerOrSkip(t)
	gw, err := NetworkGateway(context.Background(), cli, "bridge")
	require.NoError(t, err)
	ip := net.ParseIP(gw)
	require.NotNil(t, ip, gw)
	// The host holds the gateway address (docker0 on the default bridge).
	l, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	require.NoError(t, err, "the gateway %s is an address of this host", gw)
	require.NoError(t, l.Close())
	_, err = NetworkGateway(context.Background(), cli, "cutover-no-such-network")
	require.Error(t, err)
}
