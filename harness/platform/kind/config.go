// Package kind is the `kind` target platform: a real Kubernetes cluster in
// Docker containers, created (or reused) through the kind Go library
// (sigs.k8s.io/kind/pkg/cluster, no kind binary), with the service image
// loaded into its nodes the way `kind load docker-image` does, and the
// service deployed, faulted and observed by package kube.
//
// How pods reach the stack: the harness's stack endpoints (the servers, the
// target's fault links, the partner endpoint) are loopback addresses, which
// a pod cannot reach. Deploy relays each of them from a port on the gateway
// of the "kind" Docker network (the host as seen from the nodes; package
// relay) and gives the pods those addresses, so the bytes still cross the
// target's fault links; StackHost names another address for the relay.
// Either stack driver serves: the embedded one's servers are on loopback
// too. The service image comes from the docker driver's build.
package kind

import (
	"bytes"
	"fmt"
	"net"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// DefaultNodeImage is the node image `make kind-image` builds
// (images/kind/build.sh): Kubernetes of the images/kind/kubernetes wrapper
// module, its control-plane images preloaded under cutover-local. This
// machine cannot pull kind's own kindest/node images; any other node image
// can be named in Options.NodeImage.
const DefaultNodeImage = "cutover-local/kind-node:v1.34.4"

// Node image labels set by images/kind/build.sh.
const (
	// LabelImageRepository names the image repository the node image's
	// preloaded control-plane images are tagged under.
	LabelImageRepository = "org.cutover.kind.image-repository"
	// LabelKubernetesVersion is the node image's Kubernetes version.
	LabelKubernetesVersion = "org.cutover.kind.kubernetes-version"
)

// UntaintControlPlanePatch is the kubeadm patch that registers the
// control-plane node without taints.
const UntaintControlPlanePatch = "kind: InitConfiguration\nnodeRegistration:\n  taints: []\n"

// Adaptations are what the node image and the Docker engine ask of a
// cluster's configuration beyond Options.
type Adaptations struct {
	// ImageRepository is where kubeadm takes the control-plane images from
	// (its ClusterConfiguration imageRepository). cutover's node image
	// preloads them under the name in its LabelImageRepository label. Empty:
	// kubeadm's default, for node images that preload those.
	ImageRepository string
	// Unprivileged: the engine refuses --privileged containers, so the
	// nodes run without CAP_SYS_RESOURCE (see UnprivilegedRunArgs) and may
	// not lower an oom_score_adj. Kubelet and containerd are configured as
	// kind's rootless mode configures them: the KubeletInUserNamespace
	// feature gate and containerd's restrict_oom_score_adj.
	Unprivileged bool
}

// ClusterConfig is the kind cluster configuration for o: one control-plane
// node (plus o.Workers workers) running o.NodeImage, with the Service's
// NodePort mapped to o.Addr on the host, so clients reach the service on
// the target's own address; with a's patches for kubeadm and containerd.
func ClusterConfig(o Options, a Adaptations) (*v1alpha4.Cluster, error) {
	o = o.withDefaults()
	host, portStr, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("kind config: addr %q: %w", o.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("kind config: addr %q: port must be 1-65535", o.Addr)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("kind config: addr %q: host must be an IP address", o.Addr)
	}
	if o.Workers < 0 {
		return nil, fmt.Errorf("kind config: workers %d < 0", o.Workers)
	}
	if o.ControlPlaneOnly && o.Workers > 0 {
		return nil, fmt.Errorf("kind config: control-plane only, but %d workers", o.Workers)
	}
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     o.ClusterName,
		Nodes: []v1alpha4.Node{{
			Role:  v1alpha4.ControlPlaneRole,
			Image: o.NodeImage,
			ExtraPortMappings: []v1alpha4.PortMapping{{
				ContainerPort: o.Manifest.NodePort,
				HostPort:      int32(port),
				ListenAddress: host,
				Protocol:      v1alpha4.PortMappingProtocolTCP,
			}},
		}},
	}
	for range o.workers() {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: o.NodeImage})
	}
	if o.workers() > 0 {
		// kubeadm taints the control-plane node when it is not alone; here
		// it runs pods too, so a drained worker's pods have somewhere to go.
		cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches, UntaintControlPlanePatch)
	}
	if a.ImageRepository != "" {
		cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches,
			"kind: ClusterConfiguration\nimageRepository: "+a.ImageRepository+"\n")
	}
	if a.Unprivileged {
		cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches,
			"kind: KubeletConfiguration\nfeatureGates:\n  KubeletInUserNamespace: true\n")
		cfg.ContainerdConfigPatches = append(cfg.ContainerdConfigPatches,
			"[plugins.\"io.containerd.grpc.v1.cri\"]\n  restrict_oom_score_adj = true\n")
	}
	return cfg, nil
}

// ConfigYAML renders cfg as the YAML file `kind create cluster --config`
// reads (the run writes it to the results folder).
func ConfigYAML(cfg *v1alpha4.Cluster) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("encode kind config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode kind config: %w", err)
	}
	return buf.Bytes(), nil
}
