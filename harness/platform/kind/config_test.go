package kind

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/cutover/cutover/harness/platform/kube"
)

// decodeLikeKind decodes a config file the way kind's own loader does
// (go.yaml.in/yaml/v3 with KnownFields: unknown fields are errors).
func decodeLikeKind(raw []byte) (*v1alpha4.Cluster, error) {
	d := yaml.NewDecoder(bytes.NewReader(raw))
	d.KnownFields(true)
	cfg := &v1alpha4.Cluster{}
	return cfg, d.Decode(cfg)
}

func TestDefaultNodeImageIsTheKindRelease(t *testing.T) {
	require.Equal(t, defaults.Image, DefaultNodeImage)
	require.True(t, strings.HasPrefix(DefaultNodeImage, "kindest/node:v"), DefaultNodeImage)
	require.Contains(t, DefaultNodeImage, "@sha256:", "pinned by digest, as kind pins it")
}

func TestClusterConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		nodes   int
		image   string
		mapping v1alpha4.PortMapping
	}{
		{
			name: "defaults", opts: Options{}, nodes: 1, image: defaults.Image,
			mapping: v1alpha4.PortMapping{ContainerPort: 30080, HostPort: 8080, ListenAddress: "127.0.0.3", Protocol: "TCP"},
		},
		{
			name: "multi-node for drains",
			opts: Options{ClusterName: "rehearsal", Workers: 2, NodeImage: "kindest/node:v1.36.1", Addr: "127.0.0.4:18080",
				Manifest: kube.Manifest{NodePort: 31000}},
			nodes: 3, image: "kindest/node:v1.36.1",
			mapping: v1alpha4.PortMapping{ContainerPort: 31000, HostPort: 18080, ListenAddress: "127.0.0.4", Protocol: "TCP"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ClusterConfig(tc.opts)
			require.NoError(t, err)
			y, err := ConfigYAML(cfg)
			require.NoError(t, err)
			decoded, err := decodeLikeKind(y)
			require.NoError(t, err, "%s", y)
			require.Equal(t, cfg, decoded)

			require.Equal(t, "Cluster", decoded.Kind)
			require.Equal(t, "kind.x-k8s.io/v1alpha4", decoded.APIVersion)
			require.Len(t, decoded.Nodes, tc.nodes)
			require.Equal(t, v1alpha4.ControlPlaneRole, decoded.Nodes[0].Role)
			require.Equal(t, []v1alpha4.PortMapping{tc.mapping}, decoded.Nodes[0].ExtraPortMappings)
			for _, n := range decoded.Nodes[1:] {
				require.Equal(t, v1alpha4.WorkerRole, n.Role)
				require.Empty(t, n.ExtraPortMappings)
			}
			for _, n := range decoded.Nodes {
				require.Equal(t, tc.image, n.Image)
			}
		})
	}
}

func TestClusterConfigYAMLReadsLikeTheDocs(t *testing.T) {
	cfg, err := ClusterConfig(Options{ClusterName: "c", NodeImage: "kindest/node:v1.37.0"})
	require.NoError(t, err)
	y, err := ConfigYAML(cfg)
	require.NoError(t, err)
	require.Equal(t, `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: c
nodes:
  - role: control-plane
    image: kindest/node:v1.37.0
    extraPortMappings:
      - containerPort: 30080
        hostPort: 8080
        listenAddress: 127.0.0.3
        protocol: TCP
`, string(y))
}

func TestDecodeLikeKindIsStrict(t *testing.T) {
	_, err := decodeLikeKind([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMapping: []\n"))
	require.ErrorContains(t, err, "extraPortMapping")
}

func TestClusterConfigRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Addr: "127.0.0.3"}, "addr"},
		{Options{Addr: "127.0.0.3:0"}, "port"},
		{Options{Addr: "localhost:80"}, "IP address"},
		{Options{Workers: -1}, "workers"},
	} {
		_, err := ClusterConfig(tc.opts)
		require.ErrorContains(t, err, tc.want)
		_, err = New(tc.opts)
		require.ErrorContains(t, err, tc.want, "New checks the options before anything starts")
	}
}
