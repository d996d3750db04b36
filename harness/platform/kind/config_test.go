package kind

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/cutover/cutover/harness/platform/internal/kube"
)

// decodeLikeKind decodes a config file the way kind's own loader does
// (go.yaml.in/yaml/v3 with KnownFields: unknown fields are errors).
func decodeLikeKind(raw []byte) (*v1alpha4.Cluster, error) {
	d := yaml.NewDecoder(bytes.NewReader(raw))
	d.KnownFields(true)
	cfg := &v1alpha4.Cluster{}
	return cfg, d.Decode(cfg)
}

func TestDefaultNodeImageIsWhatMakeKindImageBuilds(t *testing.T) {
	// images/kind/build.sh tags the node image with the Kubernetes version
	// its wrapper module pins.
	raw, err := os.ReadFile("../../../images/kind/kubernetes/go.mod")
	require.NoError(t, err)
	f, err := modfile.ParseLax("go.mod", raw, nil)
	require.NoError(t, err)
	var version string
	for _, r := range f.Require {
		if r.Mod.Path == "k8s.io/kubernetes" {
			version = r.Mod.Version
		}
	}
	require.NotEmpty(t, version, "images/kind/kubernetes/go.mod requires k8s.io/kubernetes")
	require.Equal(t, "cutover-local/kind-node:"+version, DefaultNodeImage)
	require.NotEqual(t, defaults.Image, DefaultNodeImage, "kind's own image cannot be pulled here")
}

func TestClusterConfig(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       Options
		adapt      Adaptations
		nodes      int
		image      string
		mapping    v1alpha4.PortMapping
		kubeadm    []string
		containerd []string
	}{
		{
			name: "defaults: a control plane and a worker", opts: Options{}, nodes: 2, image: DefaultNodeImage,
			mapping: v1alpha4.PortMapping{ContainerPort: 30080, HostPort: 8080, ListenAddress: "127.0.0.3", Protocol: "TCP"},
			kubeadm: []string{UntaintControlPlanePatch},
		},
		{
			name: "control plane only", opts: Options{ControlPlaneOnly: true}, nodes: 1, image: DefaultNodeImage,
			mapping: v1alpha4.PortMapping{ContainerPort: 30080, HostPort: 8080, ListenAddress: "127.0.0.3", Protocol: "TCP"},
		},
		{
			name: "cutover's node image on an engine that refuses --privileged", opts: Options{},
			adapt: Adaptations{ImageRepository: "cutover-local", Unprivileged: true}, nodes: 2, image: DefaultNodeImage,
			mapping: v1alpha4.PortMapping{ContainerPort: 30080, HostPort: 8080, ListenAddress: "127.0.0.3", Protocol: "TCP"},
			kubeadm: []string{
				UntaintControlPlanePatch,
				"kind: ClusterConfiguration\nimageRepository: cutover-local\n",
				"kind: KubeletConfiguration\nfeatureGates:\n  KubeletInUserNamespace: true\n",
			},
			containerd: []string{"[plugins.\"io.containerd.grpc.v1.cri\"]\n  restrict_oom_score_adj = true\n"},
		},
		{
			name: "multi-node for drains",
			opts: Options{ClusterName: "rehearsal", Workers: 2, NodeImage: "kindest/node:v1.36.1", Addr: "127.0.0.4:18080",
				Manifest: kube.Manifest{NodePort: 31000}},
			nodes: 3, image: "kindest/node:v1.36.1",
			mapping: v1alpha4.PortMapping{ContainerPort: 31000, HostPort: 18080, ListenAddress: "127.0.0.4", Protocol: "TCP"},
			kubeadm: []string{UntaintControlPlanePatch},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ClusterConfig(tc.opts, tc.adapt)
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
			require.Equal(t, tc.kubeadm, decoded.KubeadmConfigPatches)
			require.Equal(t, tc.containerd, decoded.ContainerdConfigPatches)
			for _, patch := range decoded.KubeadmConfigPatches {
				var doc map[string]any
				require.NoError(t, yaml.Unmarshal([]byte(patch), &doc), "a kubeadm patch is YAML")
				require.NotContains(t, doc, "apiVersion", "kind applies a patch without apiVersion to every version of its kind")
			}
		})
	}
}

func TestClusterConfigYAMLReadsLikeTheDocs(t *testing.T) {
	cfg, err := ClusterConfig(Options{ClusterName: "c", NodeImage: "kindest/node:v1.37.0", ControlPlaneOnly: true}, Adaptations{})
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
		{Options{Workers: 2, ControlPlaneOnly: true}, "control-plane only"},
	} {
		_, err := ClusterConfig(tc.opts, Adaptations{})
		require.ErrorContains(t, err, tc.want)
		_, err = New(tc.opts)
		require.ErrorContains(t, err, tc.want, "New checks the options before anything starts")
	}
}
