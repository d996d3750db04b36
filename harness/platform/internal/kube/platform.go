package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cutover/cutover/harness/platform"
)

// FieldManager is the server-side apply field manager of cutover.
const FieldManager = "cutover"

// Options configure a Platform.
type Options struct {
	// Name is the platform's implementation name ("kind", "kubeconfig").
	Name     string
	Manifest Manifest
	// Endpoint is the host:port clients use. Empty with a LoadBalancer
	// Service means: the Service's load balancer ingress, once it has one.
	Endpoint string
	// Log receives the pods' lifecycle lines; nil drops them.
	Log io.Writer
	// REST is the client configuration of the cluster, for port-forwards
	// to single pods (ProbeReplicas); nil: none can be opened.
	REST *rest.Config
	// KeepNamespace leaves the namespace in place at Close.
	KeepNamespace bool
	// PollInterval is how often rollouts and deletions are polled.
	// Default 500 ms.
	PollInterval time.Duration
	// RolloutTimeout bounds each wait for a rollout. Default 5 min.
	RolloutTimeout time.Duration
	// EvictRetry is the pause before retrying an eviction refused by the
	// PodDisruptionBudget (HTTP 429), as `kubectl drain` does. Default 1 s.
	EvictRetry time.Duration
}

func (o Options) withDefaults() Options {
	o.Manifest = o.Manifest.WithDefaults()
	if o.Name == "" {
		o.Name = "kube"
	}
	if o.PollInterval == 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.RolloutTimeout == 0 {
		o.RolloutTimeout = 5 * time.Minute
	}
	if o.EvictRetry == 0 {
		o.EvictRetry = time.Second
	}
	return o
}

// Platform runs the service as a Deployment behind a Service in a namespace
// of its own, which it creates at Deploy and deletes at Close.
type Platform struct {
	client kubernetes.Interface
	opts   Options

	nsMu sync.Mutex // held while the namespace is being created

	mu        sync.Mutex
	objs      Objects
	nsCreated bool
	endpoint  string
	events    *EventLog
	cordoned  map[string]bool
	jobs      []*JobRun
	closed    bool
}

var (
	_ platform.Platform      = (*Platform)(nil)
	_ platform.ReplicaKiller = (*Platform)(nil)
	_ platform.Restarter     = (*Platform)(nil)
)

// New returns a Platform that deploys through client.
func New(client kubernetes.Interface, opts Options) *Platform {
	opts = opts.withDefaults()
	return &Platform{client: client, opts: opts, endpoint: opts.Endpoint, cordoned: map[string]bool{}}
}

// Name is the implementation name given in Options.
func (p *Platform) Name() string { return p.opts.Name }

// Namespace is the namespace the platform owns.
func (p *Platform) Namespace() string { return p.opts.Manifest.Namespace }

// Client is the clientset the platform uses (for tests and diagnostics).
func (p *Platform) Client() kubernetes.Interface { return p.client }

// Objects returns the manifests of the last Deploy (for the results folder).
func (p *Platform) Objects() Objects {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.objs
}

// Endpoint is the host:port clients send requests to.
func (p *Platform) Endpoint() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.endpoint
}

// Deploy creates the namespace (refusing one that already exists: a run
// never takes over somebody else's namespace), applies the manifests with
// server-side apply and waits for the rollout.
func (p *Platform) Deploy(ctx context.Context, spec platform.ServiceSpec, replicas int) error {
	objs, err := BuildObjects(spec, int32(replicas), p.opts.Manifest)
	if err != nil {
		return err
	}
	if err := p.ensureNamespace(ctx); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	for _, obj := range objs.List()[1:] {
		if err := p.apply(ctx, obj); err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
	}
	p.mu.Lock()
	p.objs = objs
	p.mu.Unlock()
	if err := p.waitRollout(ctx); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if p.Endpoint() == "" && objs.Service.Spec.Type == corev1.ServiceTypeLoadBalancer {
		ep, err := p.waitLoadBalancer(ctx)
		if err != nil {
			return fmt.Errorf("deploy: %w", err)
		}
		p.mu.Lock()
		p.endpoint = ep
		p.mu.Unlock()
	}
	return nil
}

// ensureNamespace creates the platform's namespace and starts its event
// log, the first time it is called (by Deploy or StartIndexedJob). It
// refuses a namespace that already exists: a run never takes over somebody
// else's namespace.
func (p *Platform) ensureNamespace(ctx context.Context) error {
	p.nsMu.Lock()
	defer p.nsMu.Unlock()
	p.mu.Lock()
	closed, created := p.closed, p.nsCreated
	p.mu.Unlock()
	if closed {
		return errors.New("platform is closed")
	}
	if created {
		return nil
	}
	ns := p.Namespace()
	if _, err := p.client.CoreV1().Namespaces().Create(ctx, namespaceObject(ns), metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %q already exists; cutover runs in a namespace of its own, name another one", ns)
		}
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	p.mu.Lock()
	p.nsCreated = true
	p.mu.Unlock()
	events, err := StartEventLog(p.client, ns, p.opts.Log)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.events = events
	p.mu.Unlock()
	return nil
}

// apply sends obj as a server-side apply patch (`kubectl apply
// --server-side --force-conflicts`), so a second Deploy updates in place.
func (p *Platform) apply(ctx context.Context, obj runtime.Object) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode %T: %w", obj, err)
	}
	ns := p.Namespace()
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)}
	var kind, name string
	switch o := obj.(type) {
	case *appsv1.Deployment:
		kind, name = "deployment", o.Name
		_, err = p.client.AppsV1().Deployments(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case *corev1.Service:
		kind, name = "service", o.Name
		_, err = p.client.CoreV1().Services(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case *policyv1.PodDisruptionBudget:
		kind, name = "poddisruptionbudget", o.Name
		_, err = p.client.PolicyV1().PodDisruptionBudgets(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	case *autoscalingv2.HorizontalPodAutoscaler:
		kind, name = "horizontalpodautoscaler", o.Name
		_, err = p.client.AutoscalingV2().HorizontalPodAutoscalers(ns).Patch(ctx, name, types.ApplyPatchType, body, opts)
	default:
		return fmt.Errorf("apply: unsupported object %T", obj)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", kind, ns, name, err)
	}
	return nil
}

func (p *Platform) appName() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs.Deployment == nil {
		return ""
	}
	return p.objs.Deployment.Name
}

// waitRollout waits, within RolloutTimeout, until the Deployment's rollout
// is complete and the API server lists exactly the wanted number of pods,
// all ready and none terminating. The Deployment status alone lags a pod
// deletion; it also waits for the informer cache to show the same ready
// pods, so Replicas is current when a fault returns.
func (p *Platform) waitRollout(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.RolloutTimeout)
	defer cancel()
	ns, name := p.Namespace(), p.appName()
	if err := WaitRollout(ctx, p.client, ns, name, p.opts.PollInterval); err != nil {
		return err
	}
	t := time.NewTicker(p.opts.PollInterval)
	defer t.Stop()
	selector := labels.SelectorFromSet(labels.Set{LabelName: name}).String()
	for {
		d, err := p.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("rollout of %s/%s: %w", ns, name, err)
		}
		want := 1
		if d.Spec.Replicas != nil {
			want = int(*d.Spec.Replicas)
		}
		_, done, err := RolloutStatus(d)
		if err != nil {
			return fmt.Errorf("rollout of %s/%s: %w", ns, name, err)
		}
		list, err := p.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return fmt.Errorf("rollout of %s/%s: list pods: %w", ns, name, err)
		}
		ready := 0
		for i := range list.Items {
			if podReady(&list.Items[i]) {
				ready++
			}
		}
		if done && ready == want && len(list.Items) == want && p.cacheHas(list.Items) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rollout of %s/%s: %w (%d pods, %d of %d ready)", ns, name, ctx.Err(), len(list.Items), ready, want)
		case <-t.C:
		}
	}
}

func (p *Platform) pods() []*corev1.Pod {
	p.mu.Lock()
	events := p.events
	p.mu.Unlock()
	name := p.appName()
	if events == nil || name == "" {
		return nil
	}
	pods, err := events.Pods().Pods(p.Namespace()).List(labels.SelectorFromSet(labels.Set{LabelName: name}))
	if err != nil {
		return nil
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

// cacheHas reports whether the informer cache holds exactly pods, ready.
func (p *Platform) cacheHas(pods []corev1.Pod) bool {
	cached := p.pods()
	if len(cached) != len(pods) {
		return false
	}
	want := make(map[string]types.UID, len(pods))
	for i := range pods {
		want[pods[i].Name] = pods[i].UID
	}
	for _, c := range cached {
		if uid, ok := want[c.Name]; !ok || uid != c.UID || !podReady(c) {
			return false
		}
	}
	return true
}

func (p *Platform) waitLoadBalancer(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.RolloutTimeout)
	defer cancel()
	ns, name := p.Namespace(), p.appName()
	t := time.NewTicker(p.opts.PollInterval)
	defer t.Stop()
	for {
		svc, err := p.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, in := range svc.Status.LoadBalancer.Ingress {
				host := in.IP
				if host == "" {
					host = in.Hostname
				}
				if host != "" {
					return net.JoinHostPort(host, strconv.Itoa(int(p.opts.Manifest.ServicePort))), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for the load balancer of service %s/%s: %w", ns, name, ctx.Err())
		case <-t.C:
		}
	}
}

// Replicas lists the service's pods from the informer cache.
func (p *Platform) Replicas() []platform.Replica {
	port := strconv.Itoa(int(p.opts.Manifest.ContainerPort))
	var out []platform.Replica
	for _, pod := range p.pods() {
		r := platform.Replica{Name: pod.Name, State: podState(pod), Restarts: restarts(pod)}
		if pod.Status.PodIP != "" {
			r.Addr = net.JoinHostPort(pod.Status.PodIP, port)
		}
		if pod.Status.StartTime != nil {
			r.Started = pod.Status.StartTime.Time
		}
		out = append(out, r)
	}
	return out
}

func podState(pod *corev1.Pod) platform.ReplicaState {
	if pod.DeletionTimestamp != nil {
		return platform.Stopping
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return platform.Down
	case corev1.PodFailed:
		return platform.Crashed
	case corev1.PodRunning:
		if podReady(pod) {
			return platform.Up
		}
		for _, c := range pod.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				return platform.Crashed
			}
		}
	}
	return platform.Starting
}

// Scale sets the Deployment's replica count (and an HPA's floor, so the
// autoscaler does not undo it) and waits for the rollout.
func (p *Platform) Scale(ctx context.Context, replicas int) error {
	name := p.appName()
	if name == "" {
		return errors.New("scale: nothing deployed")
	}
	if replicas < 0 {
		return fmt.Errorf("scale: replicas %d < 0", replicas)
	}
	ns := p.Namespace()
	body := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	if _, err := p.client.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("scale %s/%s to %d: %w", ns, name, replicas, err)
	}
	if hpa := p.Objects().HPA; hpa != nil && replicas > 0 {
		body := fmt.Appendf(nil, `{"spec":{"minReplicas":%d,"maxReplicas":%d}}`, replicas, max(int(hpa.Spec.MaxReplicas), replicas))
		if _, err := p.client.AutoscalingV2().HorizontalPodAutoscalers(ns).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
			return fmt.Errorf("scale %s/%s: set hpa floor: %w", ns, name, err)
		}
	}
	p.logf("deployment/"+name, "Scale", "replicas set to %d", replicas)
	if err := p.waitRollout(ctx); err != nil {
		return fmt.Errorf("scale %s/%s to %d: %w", ns, name, replicas, err)
	}
	return nil
}

// KillReplica deletes one pod with a grace period of zero: its containers
// get SIGKILL, and the ReplicaSet replaces it. It does not wait.
func (p *Platform) KillReplica(ctx context.Context, name string) error {
	if err := p.ownPod(ctx, name); err != nil {
		return fmt.Errorf("kill replica: %w", err)
	}
	p.logf("pod/"+name, "Kill", "deleting with grace period 0")
	err := p.client.CoreV1().Pods(p.Namespace()).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	if err != nil {
		return fmt.Errorf("kill replica %s: %w", name, err)
	}
	return nil
}

// Restart restarts gracefully. With a name it deletes that pod with its
// termination grace period and waits for a replacement to be ready; with ""
// it does what `kubectl rollout restart` does (a new pod-template
// annotation, so every pod is replaced by the rolling-update strategy) and
// waits for the rollout.
func (p *Platform) Restart(ctx context.Context, name string) error {
	app := p.appName()
	if app == "" {
		return errors.New("restart: nothing deployed")
	}
	ns := p.Namespace()
	if name == "" {
		body, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{RestartedAtAnnotation: time.Now().Format(time.RFC3339Nano)}},
		}}})
		if err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		if _, err := p.client.AppsV1().Deployments(ns).Patch(ctx, app, types.StrategicMergePatchType, body, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
			return fmt.Errorf("rolling restart of %s/%s: %w", ns, app, err)
		}
		p.logf("deployment/"+app, "RollingRestart", "pod template annotated %s", RestartedAtAnnotation)
		if err := p.waitRollout(ctx); err != nil {
			return fmt.Errorf("rolling restart of %s/%s: %w", ns, app, err)
		}
		return nil
	}
	if err := p.ownPod(ctx, name); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	pod, err := p.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	if err := p.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	if err := p.waitGone(ctx, map[string]types.UID{name: pod.UID}); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	if err := p.waitRollout(ctx); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	return nil
}

// ownPod checks that name is one of this service's pods, so a fault never
// touches anything else in a shared cluster.
func (p *Platform) ownPod(ctx context.Context, name string) error {
	app := p.appName()
	if app == "" {
		return errors.New("nothing deployed")
	}
	pod, err := p.client.CoreV1().Pods(p.Namespace()).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("pod %s: %w", name, err)
	}
	if pod.Labels[LabelName] != app {
		return fmt.Errorf("pod %s is not a replica of %s", name, app)
	}
	return nil
}

// waitGone polls until every named pod is gone (not found, or replaced by
// a pod of the same name with another UID).
func (p *Platform) waitGone(ctx context.Context, pods map[string]types.UID) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.RolloutTimeout)
	defer cancel()
	t := time.NewTicker(p.opts.PollInterval)
	defer t.Stop()
	for {
		for name, uid := range pods {
			pod, err := p.client.CoreV1().Pods(p.Namespace()).Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err), err == nil && pod.UID != uid:
				delete(pods, name)
			case err != nil && ctx.Err() == nil:
				return fmt.Errorf("wait for pod %s to go: %w", name, err)
			}
		}
		if len(pods) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d pods to go: %w", len(pods), ctx.Err())
		case <-t.C:
		}
	}
}

// DrainNode does what `kubectl drain` does, limited to this service's pods
// so that a shared cluster's other workloads are left alone: it cordons the
// node, evicts the pods through the Eviction API (which honours the
// PodDisruptionBudget; a refused eviction is retried), and waits until they
// are gone and replacements are ready. An empty node name drains the node
// running most of the service's pods. It returns the drained node's name.
// The node stays cordoned until Uncordon or Close.
func (p *Platform) DrainNode(ctx context.Context, node string) (string, error) {
	pods := p.pods()
	if node == "" {
		node = busiestNode(pods)
		if node == "" {
			return "", errors.New("drain: no pod of the service is scheduled on a node")
		}
	}
	if err := p.setUnschedulable(ctx, node, true); err != nil {
		return node, fmt.Errorf("drain %s: %w", node, err)
	}
	gone := map[string]types.UID{}
	for _, pod := range pods {
		if pod.Spec.NodeName != node || pod.DeletionTimestamp != nil {
			continue
		}
		if err := p.evict(ctx, pod); err != nil {
			return node, fmt.Errorf("drain %s: %w", node, err)
		}
		gone[pod.Name] = pod.UID
	}
	if err := p.waitGone(ctx, gone); err != nil {
		return node, fmt.Errorf("drain %s: %w", node, err)
	}
	if err := p.waitRollout(ctx); err != nil {
		return node, fmt.Errorf("drain %s: %w", node, err)
	}
	p.logf("node/"+node, "Drained", "service pods evicted")
	return node, nil
}

// Cordon marks node unschedulable (`kubectl cordon`): running pods stay,
// new ones go elsewhere. It stays cordoned until Uncordon or Close.
func (p *Platform) Cordon(ctx context.Context, node string) error {
	if err := p.setUnschedulable(ctx, node, true); err != nil {
		return fmt.Errorf("cordon %s: %w", node, err)
	}
	return nil
}

// Uncordon makes node schedulable again.
func (p *Platform) Uncordon(ctx context.Context, node string) error {
	if err := p.setUnschedulable(ctx, node, false); err != nil {
		return fmt.Errorf("uncordon %s: %w", node, err)
	}
	return nil
}

func (p *Platform) setUnschedulable(ctx context.Context, node string, on bool) error {
	body := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, on)
	if _, err := p.client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, body, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return err
	}
	p.mu.Lock()
	if on {
		p.cordoned[node] = true
	} else {
		delete(p.cordoned, node)
	}
	p.mu.Unlock()
	if on {
		p.logf("node/"+node, "Cordon", "node marked unschedulable")
	} else {
		p.logf("node/"+node, "Uncordon", "node marked schedulable")
	}
	return nil
}

func (p *Platform) evict(ctx context.Context, pod *corev1.Pod) error {
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}}
	for {
		err := p.client.CoreV1().Pods(pod.Namespace).EvictV1(ctx, ev)
		switch {
		case err == nil:
			p.logf("pod/"+pod.Name, "Evicted", "evicted from node %s", pod.Spec.NodeName)
			return nil
		case apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsTooManyRequests(err):
			return fmt.Errorf("evict %s: %w", pod.Name, err)
		}
		p.logf("pod/"+pod.Name, "Warning EvictionBlocked", "%v; retrying in %s", err, p.opts.EvictRetry)
		select {
		case <-ctx.Done():
			return fmt.Errorf("evict %s: %w (last refusal: %w)", pod.Name, ctx.Err(), err)
		case <-time.After(p.opts.EvictRetry):
		}
	}
}

// busiestNode is the node running most of pods, ties broken by name.
func busiestNode(pods []*corev1.Pod) string {
	count := map[string]int{}
	for _, pod := range pods {
		if pod.Spec.NodeName != "" && pod.DeletionTimestamp == nil {
			count[pod.Spec.NodeName]++
		}
	}
	best := ""
	for n, c := range count {
		if best == "" || c > count[best] || (c == count[best] && n < best) {
			best = n
		}
	}
	return best
}

func (p *Platform) logf(object, reason, format string, args ...any) {
	p.mu.Lock()
	events := p.events
	p.mu.Unlock()
	if events != nil {
		events.Logf(object, reason, format, args...)
	}
}

// Close stops the Indexed Jobs it started, uncordons the nodes it
// cordoned, stops the event log and deletes the namespace (unless
// KeepNamespace), waiting for it to go until ctx ends. It is safe to call
// twice.
func (p *Platform) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	nsCreated, jobs := p.nsCreated, p.jobs
	p.jobs = nil
	var nodes []string
	for n := range p.cordoned {
		nodes = append(nodes, n)
	}
	p.mu.Unlock()
	sort.Strings(nodes)
	var errs []error
	for _, r := range jobs {
		if err := r.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range nodes {
		if err := p.Uncordon(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	p.mu.Lock()
	events := p.events
	p.mu.Unlock()
	if events != nil {
		events.Stop()
	}
	if nsCreated && !p.opts.KeepNamespace {
		if err := p.deleteNamespace(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Platform) deleteNamespace(ctx context.Context) error {
	ns := p.Namespace()
	err := p.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationForeground)})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	t := time.NewTicker(p.opts.PollInterval)
	defer t.Stop()
	for {
		_, err := p.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delete namespace %s: still terminating: %w", ns, ctx.Err())
		case <-t.C:
		}
	}
}
