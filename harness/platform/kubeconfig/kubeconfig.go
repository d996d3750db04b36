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
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
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
	// Endpoint is the host:port clients use; empty means the
	// LoadBalancer Service's ingress once it has one.
	Endpoint string
	// StackHost replaces loopback hosts in the service's environment: the
	// address at which the cluster reaches the stack. Deploy refuses a
	// loopback endpoint without it, since no pod can reach the harness's
	// loopback.
	StackHost string
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
}

var (
	_ platform.Platform      = (*Platform)(nil)
	_ platform.ReplicaKiller = (*Platform)(nil)
	_ platform.Restarter     = (*Platform)(nil)
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
	p := newPlatform(cs, opts)
	p.rest = rc
	return p, nil
}

func newPlatform(cs kubernetes.Interface, opts Options) *Platform {
	m := opts.Manifest
	if m.Namespace == "" {
		m.Namespace = "cutover-" + strconv.FormatInt(time.Now().Unix(), 36)
	}
	if m.ServiceType == "" {
		m.ServiceType = corev1.ServiceTypeLoadBalancer
	}
	opts.Manifest = m
	return &Platform{
		opts: opts,
		Platform: kube.New(cs, kube.Options{
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

// Deploy rewrites the stack's loopback endpoints to StackHost and deploys
// into the platform's own namespace.
func (p *Platform) Deploy(ctx context.Context, spec platform.ServiceSpec, replicas int) error {
	if p.opts.StackHost == "" {
		var loopback []string
		for k, v := range spec.Env {
			if kube.RewriteLoopback(v, "192.0.2.1") != v {
				loopback = append(loopback, k)
			}
		}
		if len(loopback) > 0 {
			sort.Strings(loopback)
			return fmt.Errorf("kubeconfig deploy: %s point at the harness's loopback, which pods on %s cannot reach; give the address the cluster reaches the stack at (StackHost)", strings.Join(loopback, ", "), p.opts.Context)
		}
	}
	spec.Env = kube.RewriteEnv(spec.Env, p.opts.StackHost)
	return p.Platform.Deploy(ctx, spec, replicas)
}
