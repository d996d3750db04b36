package kind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/cluster"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
	"github.com/cutover/cutover/harness/platform/internal/relay"
	"github.com/cutover/cutover/internal/dockerengine"
)

// Options configure the kind platform.
type Options struct {
	// ClusterName is the kind cluster's name. Default "cutover".
	ClusterName string
	// Reuse deploys into an existing cluster of that name instead of
	// creating one; a reused cluster is never deleted. Its control-plane
	// node must publish the Service's NodePort (an extraPortMapping). When
	// that mapping is not Addr, a front door on Addr forwards to it (as a
	// load balancer in front of the cluster would), so clients and the
	// weighted record still find the target on Addr.
	Reuse bool
	// NodeImage is the node image of a created cluster. Default
	// DefaultNodeImage (the kind release's default).
	NodeImage string
	// Workers is the number of worker nodes. Default 1, so a drained
	// node's pods have somewhere to go.
	Workers int
	// ControlPlaneOnly creates no worker: the control-plane node runs the
	// pods (Workers must be 0).
	ControlPlaneOnly bool
	// Addr is the host:port on the host where the Service answers (the
	// listenAddress and hostPort of the extraPortMapping). Default
	// 127.0.0.3:8080.
	Addr string
	// Keep leaves the cluster (and the namespace) in place at Close.
	Keep bool
	// LogDir receives the cluster's logs (`kind export logs`) when Deploy
	// fails; CollectLogs writes them on demand.
	LogDir string
	// StackHost is the address of the host the relay listens on: each
	// loopback endpoint in the service's environment (the stack's servers
	// and fault links, the partner) is relayed from a port on it (package
	// relay), and the environment names the relay's address. Default: the
	// gateway of Network, the host as the nodes see it.
	StackHost string
	// Network is the Docker network of the kind nodes. Default "kind".
	Network string
	// Egress is the source address of relayed connections: the target's
	// egress address, the one a partner's allow-list names. Empty: the
	// kernel chooses.
	Egress string
	// Manifest configures the Kubernetes objects. The Service is always a
	// NodePort; Namespace defaults to "cutover-<unix time>".
	Manifest kube.Manifest
	// Log receives the cluster's and the pods' lifecycle lines.
	Log io.Writer
	// WaitForReady bounds the wait for a created cluster's control plane.
	// Default 3 min.
	WaitForReady time.Duration
	// RolloutTimeout bounds each rollout wait. Default 5 min.
	RolloutTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.ClusterName == "" {
		o.ClusterName = "cutover"
	}
	if o.NodeImage == "" {
		o.NodeImage = DefaultNodeImage
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.3:8080"
	}
	if o.Network == "" {
		o.Network = "kind"
	}
	if o.Manifest.Namespace == "" {
		o.Manifest.Namespace = "cutover-" + strconv.FormatInt(time.Now().Unix(), 36)
	}
	o.Manifest.ServiceType = corev1.ServiceTypeNodePort
	o.Manifest = o.Manifest.WithDefaults()
	if o.Log == nil {
		o.Log = io.Discard
	}
	if _, ok := o.Log.(*lockedWriter); !ok {
		o.Log = &lockedWriter{w: o.Log}
	}
	if o.WaitForReady == 0 {
		o.WaitForReady = 3 * time.Minute
	}
	return o
}

// workers is the number of worker nodes to create.
func (o Options) workers() int {
	switch {
	case o.ControlPlaneOnly:
		return 0
	case o.Workers == 0:
		return 1
	}
	return o.Workers
}

// Platform is the service on a kind cluster.
type Platform struct {
	opts Options
	cfg  []byte

	deployMu sync.Mutex // one Deploy at a time

	mu            sync.Mutex
	docker        *client.Client
	provider      *cluster.Provider
	kubeconfigDir string
	created       bool
	kp            *kube.Platform
	relay         *relay.Relay // forwards pods' connections to the stack
	front         *relay.Relay // Addr → a reused cluster's own mapping
	closed        bool
}

var (
	_ platform.Platform      = (*Platform)(nil)
	_ platform.ReplicaKiller = (*Platform)(nil)
	_ platform.Restarter     = (*Platform)(nil)
	_ platform.JobRunner     = (*Platform)(nil)
)

// New checks opts and returns a Platform; the cluster is created (or
// found) by Deploy.
func New(opts Options) (*Platform, error) {
	opts = opts.withDefaults()
	cfg, err := ClusterConfig(opts, Adaptations{})
	if err != nil {
		return nil, err
	}
	y, err := ConfigYAML(cfg)
	if err != nil {
		return nil, err
	}
	return &Platform{opts: opts, cfg: y}, nil
}

// Name is "kind".
func (p *Platform) Name() string { return "kind" }

// ConfigYAML is the cluster configuration a created cluster uses.
func (p *Platform) ConfigYAML() []byte { return slices.Clone(p.cfg) }

// Endpoint is where the Service answers on the host: Addr, through the
// front door for a reused cluster that maps its node port elsewhere.
func (p *Platform) Endpoint() string {
	p.mu.Lock()
	kp, front := p.kp, p.front
	p.mu.Unlock()
	if kp != nil && front == nil {
		return kp.Endpoint()
	}
	return p.opts.Addr
}

func (p *Platform) kube() *kube.Platform {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kp
}

// Kube is the Kubernetes side of the platform once deployed (nil before):
// manifests, drain, the client.
func (p *Platform) Kube() *kube.Platform { return p.kube() }

// Deploy creates the cluster (or finds the reused one), loads spec.Image
// into its nodes, rewrites the stack endpoints for the pods and deploys
// through package kube. On failure the cluster's logs go to LogDir.
func (p *Platform) Deploy(ctx context.Context, spec platform.ServiceSpec, replicas int) (err error) {
	p.deployMu.Lock()
	defer p.deployMu.Unlock()
	defer func() {
		if err != nil && p.opts.LogDir != "" {
			if cerr := p.CollectLogs(p.opts.LogDir); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
	}()
	if spec.Image == "" {
		return fmt.Errorf("kind deploy: service %q has no image (the docker driver builds it)", spec.Name)
	}
	if _, err := p.ensureCluster(ctx); err != nil {
		return err
	}
	if err := p.load(ctx, spec.Image); err != nil {
		return fmt.Errorf("kind deploy: %w", err)
	}
	p.mu.Lock()
	docker, kp := p.docker, p.kp
	p.mu.Unlock()

	if spec.Env, err = p.relayEnv(ctx, docker, spec.Env); err != nil {
		return fmt.Errorf("kind deploy: %w", err)
	}

	if kp == nil {
		if kp, err = p.newKube(ctx); err != nil {
			return err
		}
	}
	if err := kp.Deploy(ctx, spec, replicas); err != nil {
		return fmt.Errorf("kind deploy: %w", err)
	}
	// Deploy returns once the Service answers on the host where clients
	// reach it (see kube.WaitServing).
	if err := kp.WaitServing(ctx, p.Endpoint(), spec.ReadyPath, replicas); err != nil {
		return fmt.Errorf("kind deploy: %w", err)
	}
	if replicas > 0 {
		p.logf("Serving", "the Service answers on %s", p.Endpoint())
	}
	return nil
}

// Load loads an image of the local Docker engine into every node of the
// cluster, as `kind load docker-image` does: for a cluster used through
// its kubeconfig (the kubeconfig target), where nothing else would.
// Call Up first.
func (p *Platform) Load(ctx context.Context, image string) error {
	p.deployMu.Lock()
	defer p.deployMu.Unlock()
	return p.load(ctx, image)
}

func (p *Platform) load(ctx context.Context, image string) error {
	p.mu.Lock()
	docker, provider := p.docker, p.provider
	p.mu.Unlock()
	if provider == nil {
		return errors.New("kind: no cluster yet (Up creates it)")
	}
	nodeList, err := provider.ListInternalNodes(p.opts.ClusterName)
	if err != nil {
		return fmt.Errorf("list nodes of %s: %w", p.opts.ClusterName, err)
	}
	loaded, err := LoadImage(ctx, docker, nodeList, image)
	if err != nil {
		return err
	}
	p.logf("ImageLoaded", "loaded %s into %d nodes %v", image, len(loaded), loaded)
	return nil
}

// KubeconfigPath is the file holding the kubeconfig (context "kind-" +
// the cluster's name) of a cluster Up created.
func (p *Platform) KubeconfigPath() string { return p.kubeconfigPath() }

// stackRelay starts, once, the relay on StackHost, by default the nodes'
// network gateway, through which pods reach the harness's loopback
// endpoints.
func (p *Platform) stackRelay(ctx context.Context, docker *client.Client) (*relay.Relay, error) {
	p.mu.Lock()
	rl := p.relay
	p.mu.Unlock()
	if rl != nil {
		return rl, nil
	}
	host := p.opts.StackHost
	if host == "" {
		gw, err := NetworkGateway(ctx, docker, p.opts.Network)
		if err != nil {
			return nil, fmt.Errorf("find the host address for pods: %w", err)
		}
		host = gw
	}
	rl, err := relay.New(relay.Options{Host: host, Egress: p.opts.Egress})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.relay = rl
	p.mu.Unlock()
	return rl, nil
}

// relayEnv returns env with every loopback endpoint replaced by its
// relayed address (see stackRelay).
func (p *Platform) relayEnv(ctx context.Context, docker *client.Client, env map[string]string) (map[string]string, error) {
	rl, err := p.stackRelay(ctx, docker)
	if err != nil {
		return nil, err
	}
	out, err := kube.ExposeEnv(env, rl)
	if err != nil {
		return nil, err
	}
	p.logRelayed(rl)
	return out, nil
}

// logRelayed logs each upstream the relay exposes and where.
func (p *Platform) logRelayed(rl *relay.Relay) {
	exposed := rl.Exposed()
	ups := make([]string, 0, len(exposed))
	for up := range exposed {
		ups = append(ups, up)
	}
	slices.Sort(ups)
	for _, up := range ups {
		p.logf("Relay", "pods reach %s at %s", up, exposed[up])
	}
}

// StartIndexedJob runs j as a Kubernetes Indexed Job on the cluster (see
// kube.Platform.StartIndexedJob), in the platform's namespace: it creates
// the cluster if Deploy or Up has not, loads j.Image into the nodes (it is
// never pulled), and relays the loopback endpoints of j's environment and
// arguments (a coordinator's URL) as Deploy does the service's.
func (p *Platform) StartIndexedJob(ctx context.Context, j platform.IndexedJob) (platform.Job, error) {
	p.deployMu.Lock()
	defer p.deployMu.Unlock()
	if j.Image == "" {
		return nil, fmt.Errorf("kind job %s: no image", j.Name)
	}
	if _, err := p.ensureCluster(ctx); err != nil {
		return nil, err
	}
	if err := p.load(ctx, j.Image); err != nil {
		return nil, fmt.Errorf("kind job %s: %w", j.Name, err)
	}
	p.mu.Lock()
	docker, kp := p.docker, p.kp
	p.mu.Unlock()
	rl, err := p.stackRelay(ctx, docker)
	if err != nil {
		return nil, fmt.Errorf("kind job %s: %w", j.Name, err)
	}
	if j.Env, err = kube.ExposeEnv(j.Env, rl); err != nil {
		return nil, fmt.Errorf("kind job %s: %w", j.Name, err)
	}
	if j.Args, err = kube.ExposeArgs(j.Args, rl); err != nil {
		return nil, fmt.Errorf("kind job %s: %w", j.Name, err)
	}
	p.logRelayed(rl)
	if kp == nil {
		if kp, err = p.newKube(ctx); err != nil {
			return nil, err
		}
	}
	r, err := kp.StartIndexedJob(ctx, j)
	if err != nil {
		return nil, fmt.Errorf("kind job: %w", err)
	}
	return r, nil
}

// Up creates the cluster (or finds the reused one) without deploying
// anything; Deploy calls it. It returns how long a created cluster took
// from the first node container to the control plane's Ready (0 for a
// reused or already running one).
func (p *Platform) Up(ctx context.Context) (time.Duration, error) {
	p.deployMu.Lock()
	defer p.deployMu.Unlock()
	return p.ensureCluster(ctx)
}

// ensureCluster runs under deployMu; p.mu is only held to read and set
// fields, never across the (long) cluster creation.
func (p *Platform) ensureCluster(ctx context.Context) (time.Duration, error) {
	p.mu.Lock()
	closed, ready := p.closed, p.provider != nil
	p.mu.Unlock()
	if closed {
		return 0, errors.New("kind: platform is closed")
	}
	if ready {
		return 0, nil
	}
	docker, err := dockerengine.Connect(ctx)
	if err != nil {
		return 0, fmt.Errorf("kind: %w", err)
	}
	provider := cluster.NewProvider(cluster.ProviderWithLogger(logger{p}), cluster.ProviderWithDocker())
	dir, err := os.MkdirTemp("", "cutover-kind-")
	if err != nil {
		_ = docker.Close()
		return 0, fmt.Errorf("kind: %w", err)
	}
	p.mu.Lock()
	p.docker, p.provider, p.kubeconfigDir = docker, provider, dir
	p.mu.Unlock()

	name := p.opts.ClusterName
	existing, err := provider.List()
	if err != nil {
		return 0, fmt.Errorf("kind: list clusters: %w", err)
	}
	exists := slices.Contains(existing, name)
	switch {
	case p.opts.Reuse && !exists:
		return 0, fmt.Errorf("kind: no cluster %q to reuse (clusters: %v)", name, existing)
	case !p.opts.Reuse && exists:
		return 0, fmt.Errorf("kind: a cluster %q already exists; reuse it or name another one (it is not ours to delete)", name)
	}
	image := p.opts.NodeImage
	if p.opts.Reuse {
		res, err := docker.ContainerInspect(ctx, name+"-control-plane", client.ContainerInspectOptions{})
		if err != nil {
			return 0, fmt.Errorf("kind: reused cluster %s: %w", name, err)
		}
		image = res.Container.Image
	}
	a, err := p.adapt(ctx, docker, image, filepath.Join(dir, "bin"))
	if err != nil {
		return 0, err
	}
	if p.opts.Reuse {
		p.logf("Reuse", "using the existing cluster %s", name)
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("kind: create cluster %s: %w", name, err)
	}
	cfg, err := ClusterConfig(p.opts, a)
	if err != nil {
		return 0, err
	}
	y, err := ConfigYAML(cfg)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	p.cfg = y
	p.mu.Unlock()
	p.logf("Create", "creating cluster %s with node image %s (%d workers)", name, p.opts.NodeImage, p.opts.workers())
	start := time.Now()
	// Whatever Create leaves behind is ours to delete, even on failure.
	p.mu.Lock()
	p.created = true
	p.mu.Unlock()
	// Create takes no context; WaitForReady bounds its wait.
	err = provider.Create(name,
		cluster.CreateWithV1Alpha4Config(cfg),
		cluster.CreateWithNodeImage(p.opts.NodeImage),
		cluster.CreateWithKubeconfigPath(p.kubeconfigPath()),
		cluster.CreateWithWaitForReady(p.opts.WaitForReady),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	)
	if err != nil {
		return 0, fmt.Errorf("kind: create cluster %s: %w", name, err)
	}
	// kind waited for the control plane; the workers are Ready a moment
	// later, and a cluster is ready when every node is.
	_, cs, err := p.client()
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, max(p.opts.WaitForReady-time.Since(start), 0))
	defer cancel()
	if err := kube.WaitNodesReady(wctx, cs, 1+p.opts.workers(), 250*time.Millisecond); err != nil {
		return 0, fmt.Errorf("kind: create cluster %s: %w", name, err)
	}
	took := time.Since(start)
	p.logf("Created", "cluster %s ready in %s (kubeconfig %s)", name, took.Round(time.Millisecond), p.kubeconfigPath())
	return took, nil
}

// client is a Kubernetes client for the cluster, from its kubeconfig.
func (p *Platform) client() (*rest.Config, *kubernetes.Clientset, error) {
	p.mu.Lock()
	provider := p.provider
	p.mu.Unlock()
	name := p.opts.ClusterName
	raw, err := provider.KubeConfig(name, false)
	if err != nil {
		return nil, nil, fmt.Errorf("kind: kubeconfig of %s: %w", name, err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("kind: kubeconfig of %s: %w", name, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("kind: client for %s: %w", name, err)
	}
	return rc, cs, nil
}

// adapt finds what the node image and the engine ask of the cluster: the
// image repository of the node image's preloaded images (its label), and
// whether the engine runs privileged containers. When it does not, kind's
// docker CLI calls go through the docker wrapper (written into binDir, see
// useDockerWrapper) and the nodes are configured for a missing
// CAP_SYS_RESOURCE. image must be in the local engine.
func (p *Platform) adapt(ctx context.Context, docker *client.Client, image, binDir string) (Adaptations, error) {
	var a Adaptations
	inspect, err := docker.ImageInspect(ctx, image)
	if err != nil {
		return a, fmt.Errorf("kind: node image %s is not in the local Docker engine (`make kind-image` builds %s): %w", image, DefaultNodeImage, err)
	}
	if inspect.Config != nil {
		a.ImageRepository = inspect.Config.Labels[LabelImageRepository]
	}
	ok, reason, err := PrivilegedWorks(ctx, docker, image)
	if err != nil {
		return a, fmt.Errorf("kind: %w", err)
	}
	if ok {
		return a, nil
	}
	a.Unprivileged = true
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return a, fmt.Errorf("kind: %w", err)
	}
	if err := useDockerWrapper(binDir); err != nil {
		return a, fmt.Errorf("kind: %w", err)
	}
	p.logf("Warning Unprivileged", "this Docker engine refuses --privileged containers (%s): kind's docker calls go through %s, which runs the nodes with %s instead; kubelet gets the KubeletInUserNamespace feature gate and containerd restrict_oom_score_adj = true, as in kind's rootless mode",
		reason, filepath.Join(binDir, "docker"), strings.Join(UnprivilegedRunArgs, " "))
	return a, nil
}

func (p *Platform) kubeconfigPath() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return filepath.Join(p.kubeconfigDir, "kubeconfig")
}

func (p *Platform) newKube(ctx context.Context) (*kube.Platform, error) {
	p.mu.Lock()
	docker := p.docker
	p.mu.Unlock()
	name := p.opts.ClusterName
	rc, cs, err := p.client()
	if err != nil {
		return nil, err
	}
	endpoint := p.opts.Addr
	var front *relay.Relay
	if p.opts.Reuse {
		if endpoint, err = MappedAddr(ctx, docker, name+"-control-plane", p.opts.Manifest.NodePort); err != nil {
			return nil, fmt.Errorf("kind: reused cluster %s: %w", name, err)
		}
		if endpoint != p.opts.Addr {
			if front, err = frontDoor(p.opts.Addr, endpoint); err != nil {
				return nil, fmt.Errorf("kind: reused cluster %s: %w", name, err)
			}
			p.logf("FrontDoor", "the cluster maps node port %d to %s; forwarding %s to it", p.opts.Manifest.NodePort, endpoint, p.opts.Addr)
		}
	}
	kp := kube.New(cs, kube.Options{
		Name:     "kind",
		Manifest: p.opts.Manifest,
		Endpoint: endpoint,
		Log:      p.opts.Log,
		REST:     rc,
		// A deleted cluster takes its namespace along; a kept one keeps it.
		KeepNamespace:  p.opts.Keep || !p.opts.Reuse,
		RolloutTimeout: p.opts.RolloutTimeout,
	})
	p.mu.Lock()
	p.kp, p.front = kp, front
	p.mu.Unlock()
	return kp, nil
}

// frontDoor listens on addr and forwards each connection to upstream.
func frontDoor(addr, upstream string) (*relay.Relay, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("front door on %q: %w", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("front door on %q: port: %w", addr, err)
	}
	rl, err := relay.New(relay.Options{Host: host})
	if err != nil {
		return nil, fmt.Errorf("front door: %w", err)
	}
	if _, err := rl.ExposeOn(n, upstream); err != nil {
		return nil, errors.Join(fmt.Errorf("front door: %w", err), rl.Close())
	}
	return rl, nil
}

// ProbeReplicas opens a port-forward to each pod that is up (see
// kube.Platform.ProbeReplicas): pod IPs are not reachable from the host.
func (p *Platform) ProbeReplicas(ctx context.Context) ([]string, func(), error) {
	kp := p.kube()
	if kp == nil {
		return nil, func() {}, errors.New("kind: nothing deployed")
	}
	return kp.ProbeReplicas(ctx)
}

// Scale sets the number of pods and waits for them to be ready.
func (p *Platform) Scale(ctx context.Context, replicas int) error {
	kp := p.kube()
	if kp == nil {
		return errors.New("kind scale: nothing deployed")
	}
	return kp.Scale(ctx, replicas)
}

// Replicas lists the pods.
func (p *Platform) Replicas() []platform.Replica {
	if kp := p.kube(); kp != nil {
		return kp.Replicas()
	}
	return nil
}

// KillReplica deletes a pod with grace period 0.
func (p *Platform) KillReplica(ctx context.Context, name string) error {
	kp := p.kube()
	if kp == nil {
		return errors.New("kind kill: nothing deployed")
	}
	return kp.KillReplica(ctx, name)
}

// Restart restarts one pod gracefully, or all of them ("") as a rolling
// restart.
func (p *Platform) Restart(ctx context.Context, name string) error {
	kp := p.kube()
	if kp == nil {
		return errors.New("kind restart: nothing deployed")
	}
	return kp.Restart(ctx, name)
}

// DrainNode cordons a node and evicts the service's pods from it ("" is
// the node running most of them) through the Eviction API, honouring the
// PodDisruptionBudget, and returns the node's name. The pods go to the
// other nodes (the control-plane node takes pods too).
func (p *Platform) DrainNode(ctx context.Context, node string) (string, error) {
	kp := p.kube()
	if kp == nil {
		return "", errors.New("kind drain: nothing deployed")
	}
	return kp.DrainNode(ctx, node)
}

// Cordon marks a node unschedulable; Close uncordons it.
func (p *Platform) Cordon(ctx context.Context, node string) error {
	kp := p.kube()
	if kp == nil {
		return errors.New("kind cordon: nothing deployed")
	}
	return kp.Cordon(ctx, node)
}

// Uncordon makes a node schedulable again.
func (p *Platform) Uncordon(ctx context.Context, node string) error {
	kp := p.kube()
	if kp == nil {
		return errors.New("kind uncordon: nothing deployed")
	}
	return kp.Uncordon(ctx, node)
}

// CollectLogs writes the cluster's logs (what `kind export logs` writes:
// journals, kubelet, containerd, pod logs) under dir.
func (p *Platform) CollectLogs(dir string) error {
	p.mu.Lock()
	provider := p.provider
	p.mu.Unlock()
	if provider == nil {
		return nil
	}
	if err := provider.CollectLogs(p.opts.ClusterName, filepath.Join(dir, "kind-logs")); err != nil {
		return fmt.Errorf("kind: collect logs of %s: %w", p.opts.ClusterName, err)
	}
	return nil
}

// Close removes the namespace (on a kept or reused cluster it stays
// clean) and deletes a cluster it created, unless Keep. Safe to call twice.
func (p *Platform) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	kp, provider, docker, created, dir := p.kp, p.provider, p.docker, p.created, p.kubeconfigDir
	relays := []*relay.Relay{p.relay, p.front}
	p.mu.Unlock()
	var errs []error
	if kp != nil {
		errs = append(errs, kp.Close(ctx))
	}
	for _, rl := range relays {
		if rl != nil {
			errs = append(errs, rl.Close())
		}
	}
	if created && !p.opts.Keep {
		p.logf("Delete", "deleting cluster %s", p.opts.ClusterName)
		if err := provider.Delete(p.opts.ClusterName, p.kubeconfigPath()); err != nil {
			errs = append(errs, fmt.Errorf("kind: delete cluster %s: %w", p.opts.ClusterName, err))
		}
	}
	if dir != "" && !(created && p.opts.Keep) { // a kept cluster keeps its kubeconfig
		errs = append(errs, os.RemoveAll(dir))
	}
	if docker != nil {
		errs = append(errs, docker.Close())
	}
	return errors.Join(errs...)
}

func (p *Platform) logf(reason, format string, args ...any) {
	_, _ = io.WriteString(p.opts.Log, platform.Event{Time: time.Now(), Object: "cluster/" + p.opts.ClusterName, Reason: reason, Message: fmt.Sprintf(format, args...)}.String())
}

// logger writes kind's own messages (V(0), warnings, errors) to the log.
type logger struct{ p *Platform }

func (l logger) Warn(m string)             { l.p.logf("Warning", "%s", m) }
func (l logger) Warnf(f string, a ...any)  { l.p.logf("Warning", f, a...) }
func (l logger) Error(m string)            { l.p.logf("Error", "%s", m) }
func (l logger) Errorf(f string, a ...any) { l.p.logf("Error", f, a...) }
func (l logger) V(v kindlog.Level) kindlog.InfoLogger {
	return infoLogger{p: l.p, enabled: v <= 0}
}

type infoLogger struct {
	p       *Platform
	enabled bool
}

func (l infoLogger) Info(m string) {
	if l.enabled {
		l.p.logf("kind", "%s", m)
	}
}

func (l infoLogger) Infof(f string, a ...any) {
	if l.enabled {
		l.p.logf("kind", f, a...)
	}
}

func (l infoLogger) Enabled() bool { return l.enabled }

// lockedWriter serialises the kind logger's and the event log's writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
