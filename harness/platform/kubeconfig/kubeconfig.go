// Package kubeconfig is the `kubeconfig` target platform: an existing
// cluster (EKS, GKE, a lab cluster) reached through a kubeconfig context.
// It deploys the same manifests and runs the same faults as kind (package
// kube does both), in a namespace of its own that it creates and deletes
// afterwards. It refuses to run unless the context is named explicitly: a
// rehearsal never lands on whatever cluster the current context happens to
// point at.
package kubeconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
	"github.com/cutover/cutover/harness/platform/internal/relay"
)

// Options configure the kubeconfig platform.
type Options struct {
	// Kubeconfig is the kubeconfig file; empty means the usual loading
	// rules ($KUBECONFIG, then ~/.kube/config).
	Kubeconfig string
	// Context is the kubeconfig context to use. Required.
	Context string
	// Manifest configures the objects. Namespace defaults to
	// "cutover-<unix time>"; ServiceType to LoadBalancer.
	Manifest kube.Manifest
	// ServiceType, when set, overrides Manifest.ServiceType.
	ServiceType corev1.ServiceType
	// Endpoint is the host:port clients use; empty means the
	// LoadBalancer Service's ingress once it has one.
	Endpoint string
	// StackHost is an address of this host that the cluster's pods reach
	// (for a kind cluster, its network's gateway; for a remote one, the
	// address of a VPN or peering interface). The stack's servers, the
	// target's fault links and the partner listen on loopback: each
	// loopback endpoint in the service's environment is relayed from a
	// port on StackHost (package relay), so the bytes still cross the
	// target's fault links. Deploy refuses a loopback endpoint without it.
	StackHost string
	// Egress is the source address of the relayed connections (the
	// target's egress, the one a partner allow-lists). Empty: the kernel
	// chooses.
	Egress string
	// Addr, when set, is the host:port on this host where the harness
	// reaches the Service: connections to it are relayed to Endpoint (or
	// the LoadBalancer's ingress), as a load balancer in front of the
	// cluster forwards to it, and Endpoint reports Addr.
	Addr string
	// Log receives the pods' lifecycle lines.
	Log io.Writer
	// RolloutTimeout bounds each rollout wait. Default 5 min.
	RolloutTimeout time.Duration
}

// Platform is the service on the cluster of a kubeconfig context. Its
// faults (KillReplica, Restart, Scale, DrainNode, Uncordon) are package
// kube's.
type Platform struct {
	*kube.Platform
	opts Options
	rest *rest.Config

	stackMu sync.Mutex // held while the stack's relay is started

	mu     sync.Mutex
	stack  *relay.Relay   // the stack's relay, also in relays
	relays []*relay.Relay // the stack's relay, the front door's
}

var (
	_ platform.Platform      = (*Platform)(nil)
	_ platform.ReplicaKiller = (*Platform)(nil)
	_ platform.Restarter     = (*Platform)(nil)
	_ platform.JobRunner     = (*Platform)(nil)
)

// ErrNoContext is returned when Options.Context is empty.
var ErrNoContext = errors.New("kubeconfig: refusing to use the current context; name the context explicitly (scenario aws.kube_context)")

// New loads the named context of the kubeconfig and returns a Platform on
// its cluster. Nothing is sent to the cluster until Deploy.
func New(opts Options) (*Platform, error) {
	if opts.Context == "" {
		return nil, ErrNoContext
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if opts.Kubeconfig != "" {
		rules.ExplicitPath = opts.Kubeconfig
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: opts.Context})
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: load: %w", err)
	}
	if _, ok := raw.Contexts[opts.Context]; !ok {
		var names []string
		for n := range raw.Contexts {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("kubeconfig: no context %q (contexts: %s)", opts.Context, strings.Join(names, ", "))
	}
	rc, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: context %s: %w", opts.Context, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: client for context %s: %w", opts.Context, err)
	}
	p := newPlatform(cs, rc, opts)
	return p, nil
}

func newPlatform(cs kubernetes.Interface, rc *rest.Config, opts Options) *Platform {
	m := opts.Manifest
	if m.Namespace == "" {
		m.Namespace = "cutover-" + strconv.FormatInt(time.Now().Unix(), 36)
	}
	if opts.ServiceType != "" {
		m.ServiceType = opts.ServiceType
	}
	if m.ServiceType == "" {
		m.ServiceType = corev1.ServiceTypeLoadBalancer
	}
	opts.Manifest = m
	return &Platform{
		opts: opts,
		rest: rc,
		Platform: kube.New(cs, kube.Options{
			REST:           rc,
			Name:           "kubeconfig",
			Manifest:       m,
			Endpoint:       opts.Endpoint,
			Log:            opts.Log,
			RolloutTimeout: opts.RolloutTimeout,
		}),
	}
}

// Context is the kubeconfig context in use.
func (p *Platform) Context() string { return p.opts.Context }

// Name is the platform's implementation name.
func (p *Platform) Name() string { return "kubeconfig" }

// Server is the API server URL of the context's cluster.
func (p *Platform) Server() string {
	if p.rest == nil {
		return ""
	}
	return p.rest.Host
}

// Deploy relays the stack's loopback endpoints from StackHost, deploys
// into the platform's own namespace and opens the front door on Addr.
func (p *Platform) Deploy(ctx context.Context, spec platform.ServiceSpec, replicas int) error {
	if p.opts.StackHost == "" {
		if loopback := loopbackNames(spec.Env, nil); len(loopback) > 0 {
			return fmt.Errorf("kubeconfig deploy: %s point at the harness's loopback, which pods on %s cannot reach; give an address of this host the cluster reaches (StackHost, scenario aws.stack_host)", strings.Join(loopback, ", "), p.opts.Context)
		}
	} else {
		rl, err := p.stackRelay()
		if err != nil {
			return fmt.Errorf("kubeconfig deploy: %w", err)
		}
		if spec.Env, err = kube.ExposeEnv(spec.Env, rl); err != nil {
			return fmt.Errorf("kubeconfig deploy: %w", err)
		}
	}
	if err := p.Platform.Deploy(ctx, spec, replicas); err != nil {
		return err
	}
	if p.opts.Addr == "" {
		return p.waitServing(ctx, spec, replicas, p.Platform.Endpoint())
	}
	up := p.Platform.Endpoint()
	if up == "" {
		return fmt.Errorf("kubeconfig deploy: the Service has no endpoint to forward %s to: it has no LoadBalancer ingress (give the endpoint, scenario aws.endpoint)", p.opts.Addr)
	}
	host, port, err := net.SplitHostPort(p.opts.Addr)
	if err != nil {
		return fmt.Errorf("kubeconfig deploy: addr %q: %w", p.opts.Addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("kubeconfig deploy: addr %q: port: %w", p.opts.Addr, err)
	}
	front, err := p.newRelay(host, "")
	if err != nil {
		return fmt.Errorf("kubeconfig deploy: %w", err)
	}
	if _, err := front.ExposeOn(n, up); err != nil {
		return fmt.Errorf("kubeconfig deploy: front door: %w", err)
	}
	return p.waitServing(ctx, spec, replicas, p.opts.Addr)
}

// waitServing returns once the service answers through addr, the address
// clients are given (the front door, else the Service's): ready pods are
// not yet a programmed NodePort, and a seed import sent in between once
// got EOF through the front door (kube.WaitServing).
func (p *Platform) waitServing(ctx context.Context, spec platform.ServiceSpec, replicas int, addr string) error {
	if err := p.Platform.WaitServing(ctx, addr, spec.ReadyPath, replicas); err != nil {
		return fmt.Errorf("kubeconfig deploy: %w", err)
	}
	return nil
}

// StartIndexedJob runs j as a Kubernetes Indexed Job in the platform's
// namespace (see kube.Platform.StartIndexedJob), creating the namespace if
// Deploy has not. Loopback endpoints in j's environment and arguments (a
// coordinator's URL) are relayed from StackHost, as Deploy does the
// service's; without StackHost they are refused. The cluster must be able
// to pull j.Image.
func (p *Platform) StartIndexedJob(ctx context.Context, j platform.IndexedJob) (platform.Job, error) {
	if p.opts.StackHost == "" {
		if loopback := loopbackNames(j.Env, j.Args); len(loopback) > 0 {
			return nil, fmt.Errorf("kubeconfig job %s: %s point at the harness's loopback, which pods on %s cannot reach; give an address of this host the cluster reaches (StackHost, scenario aws.stack_host)", j.Name, strings.Join(loopback, ", "), p.opts.Context)
		}
	} else {
		rl, err := p.stackRelay()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig job %s: %w", j.Name, err)
		}
		if j.Env, err = kube.ExposeEnv(j.Env, rl); err != nil {
			return nil, fmt.Errorf("kubeconfig job %s: %w", j.Name, err)
		}
		if j.Args, err = kube.ExposeArgs(j.Args, rl); err != nil {
			return nil, fmt.Errorf("kubeconfig job %s: %w", j.Name, err)
		}
	}
	r, err := p.Platform.StartIndexedJob(ctx, j)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig job: %w", err)
	}
	return r, nil
}

// loopbackNames lists the variables of env and the arguments that point at
// the harness's loopback, sorted.
func loopbackNames(env map[string]string, args []string) []string {
	var out []string
	for k, v := range env {
		if kube.RewriteLoopback(v, "192.0.2.1") != v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return append(out, kube.LoopbackArgs(args)...)
}

// stackRelay starts, once, the relay on StackHost through which pods
// reach the harness's loopback endpoints.
func (p *Platform) stackRelay() (*relay.Relay, error) {
	p.stackMu.Lock()
	defer p.stackMu.Unlock()
	p.mu.Lock()
	rl := p.stack
	p.mu.Unlock()
	if rl != nil {
		return rl, nil
	}
	rl, err := p.newRelay(p.opts.StackHost, p.opts.Egress)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.stack = rl
	p.mu.Unlock()
	return rl, nil
}

// newRelay starts a relay that Close stops.
func (p *Platform) newRelay(host, egress string) (*relay.Relay, error) {
	rl, err := relay.New(relay.Options{Host: host, Egress: egress})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.relays = append(p.relays, rl)
	p.mu.Unlock()
	return rl, nil
}

// Endpoint is Addr when set (the front door), else the Service's.
func (p *Platform) Endpoint() string {
	if p.opts.Addr != "" {
		return p.opts.Addr
	}
	return p.Platform.Endpoint()
}

// Close stops the relays and deletes the namespace.
func (p *Platform) Close(ctx context.Context) error {
	p.mu.Lock()
	relays := p.relays
	p.relays, p.stack = nil, nil
	p.mu.Unlock()
	var errs []error
	for _, rl := range relays {
		errs = append(errs, rl.Close())
	}
	errs = append(errs, p.Platform.Close(ctx))
	return errors.Join(errs...)
}
