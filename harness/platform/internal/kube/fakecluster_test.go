package kube

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeCluster stands in for the control plane around client-go's fake
// clientset: a deployment controller, scheduler and kubelet in one loop
// (pods appear one step at a time, become ready at once, go on the
// schedulable node with the fewest pods, and old-template pods are replaced
// one by one), and the API server's eviction subresource, which refuses
// with 429 an eviction the PodDisruptionBudget does not allow.
type fakeCluster struct {
	cs *fake.Clientset

	mu      sync.Mutex
	seq     int
	evicted []string
}

func newFakeCluster(t *testing.T, nodes ...string) *fakeCluster {
	t.Helper()
	c := &fakeCluster{cs: fake.NewClientset()}
	for _, n := range nodes {
		_, err := c.cs.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	c.cs.PrependReactor("create", "pods", c.evict)
	c.cs.PrependReactor("patch", "deployments", c.bumpGeneration)
	c.cs.PrependReactor("update", "deployments", c.bumpGeneration)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.reconcile(ctx)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

var (
	podsGVR        = corev1.SchemeGroupVersion.WithResource("pods")
	deploymentsGVR = appsv1.SchemeGroupVersion.WithResource("deployments")
	pdbsGVR        = policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets")
)

// prependReactor adds a reactor while the control loop runs: under the
// fake clientset's lock, which Invokes holds while it reads the chain.
func (c *fakeCluster) prependReactor(verb, resource string, fn k8stesting.ReactionFunc) {
	c.cs.Lock()
	defer c.cs.Unlock()
	c.cs.PrependReactor(verb, resource, fn)
}

// Reactors run under the fake clientset's lock, so they use the tracker,
// never the clientset.

func (c *fakeCluster) evict(action k8stesting.Action) (bool, runtime.Object, error) {
	if action.GetSubresource() != "eviction" {
		return false, nil, nil
	}
	ev := action.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
	tr := c.cs.Tracker()
	ns := action.GetNamespace()
	obj, err := tr.Get(podsGVR, ns, ev.Name)
	if err != nil {
		return true, nil, err
	}
	app := obj.(*corev1.Pod).Labels[LabelName]
	if obj, err := tr.Get(pdbsGVR, ns, app); err == nil {
		pdb := obj.(*policyv1.PodDisruptionBudget)
		obj, err := tr.Get(deploymentsGVR, ns, app)
		if err != nil {
			return true, nil, err
		}
		list, err := tr.List(podsGVR, corev1.SchemeGroupVersion.WithKind("Pod"), ns)
		if err != nil {
			return true, nil, err
		}
		ready := 0
		for _, p := range list.(*corev1.PodList).Items {
			if p.Labels[LabelName] == app && podReady(&p) {
				ready++
			}
		}
		if int(*obj.(*appsv1.Deployment).Spec.Replicas)-(ready-1) > pdb.Spec.MaxUnavailable.IntValue() {
			return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		}
	}
	if err := tr.Delete(podsGVR, ns, ev.Name); err != nil {
		return true, nil, err
	}
	c.mu.Lock()
	c.evicted = append(c.evicted, ev.Name)
	c.mu.Unlock()
	return true, ev, nil
}

// bumpGeneration does what the API server does on a spec change: it
// increments metadata.generation, so rollouts wait for the controller.
func (c *fakeCluster) bumpGeneration(action k8stesting.Action) (bool, runtime.Object, error) {
	if action.GetSubresource() != "" {
		return false, nil, nil
	}
	tr := c.cs.Tracker()
	ns := action.GetNamespace()
	var name string
	switch a := action.(type) {
	case k8stesting.PatchAction:
		name = a.GetName()
	case k8stesting.UpdateAction:
		name = a.GetObject().(*appsv1.Deployment).Name
	default:
		return false, nil, nil
	}
	before, err := tr.Get(deploymentsGVR, ns, name)
	if err != nil {
		return false, nil, nil // a create through apply: nothing to bump
	}
	handled, ret, err := k8stesting.ObjectReaction(tr)(action)
	if err != nil || !handled {
		return handled, ret, err
	}
	after, err := tr.Get(deploymentsGVR, ns, name)
	if err != nil {
		return true, nil, err
	}
	d := after.(*appsv1.Deployment)
	if !equality.Semantic.DeepEqual(before.(*appsv1.Deployment).Spec, d.Spec) {
		d.Generation = before.(*appsv1.Deployment).Generation + 1
		if err := tr.Update(deploymentsGVR, d, ns); err != nil {
			return true, nil, err
		}
	}
	return true, d, nil
}

func (c *fakeCluster) podsOf(ns, app string) []*corev1.Pod {
	list, err := c.cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{LabelName: app}).String(),
	})
	if err != nil {
		return nil
	}
	out := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c *fakeCluster) reconcile(ctx context.Context) {
	deps, err := c.cs.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range deps.Items {
		c.reconcileDeployment(ctx, &deps.Items[i])
	}
}

func (c *fakeCluster) reconcileDeployment(ctx context.Context, d *appsv1.Deployment) {
	app := d.Name
	rev := d.Spec.Template.Annotations[RestartedAtAnnotation]
	var live, old []*corev1.Pod
	for _, p := range c.podsOf(d.Namespace, app) {
		if p.Annotations[RestartedAtAnnotation] == rev {
			live = append(live, p)
		} else {
			old = append(old, p)
		}
	}
	want := int(*d.Spec.Replicas)
	pods := c.cs.CoreV1().Pods(d.Namespace)
	switch {
	case len(live) < want:
		node := c.scheduleNode(ctx)
		if node == "" {
			break
		}
		c.mu.Lock()
		c.seq++
		name := fmt.Sprintf("%s-%d", app, c.seq)
		c.mu.Unlock()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: d.Namespace, UID: types.UID(name + "-uid"),
				Labels:      copyMap(d.Spec.Template.Labels),
				Annotations: map[string]string{RestartedAtAnnotation: rev},
			},
			Spec: *d.Spec.Template.Spec.DeepCopy(),
			Status: corev1.PodStatus{
				Phase:      corev1.PodRunning,
				PodIP:      fmt.Sprintf("10.244.0.%d", c.seq),
				StartTime:  &metav1.Time{Time: time.Now()},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			},
		}
		pod.Spec.NodeName = node
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return
		}
		live = append(live, pod)
	case len(live) > want:
		_ = pods.Delete(ctx, live[len(live)-1].Name, metav1.DeleteOptions{})
		live = live[:len(live)-1]
	case len(old) > 0:
		_ = pods.Delete(ctx, old[0].Name, metav1.DeleteOptions{})
		old = old[1:]
	}
	st := appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           int32(len(live) + len(old)),
		UpdatedReplicas:    int32(len(live)),
		ReadyReplicas:      int32(len(live) + len(old)),
		AvailableReplicas:  int32(len(live) + len(old)),
	}
	if !equality.Semantic.DeepEqual(st, d.Status) {
		d.Status = st
		_, _ = c.cs.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	}
}

// scheduleNode is the schedulable node with the fewest pods.
func (c *fakeCluster) scheduleNode(ctx context.Context) string {
	nodes, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	pods, err := c.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	count := map[string]int{}
	for _, p := range pods.Items {
		count[p.Spec.NodeName]++
	}
	best := ""
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable {
			continue
		}
		if best == "" || count[n.Name] < count[best] || (count[n.Name] == count[best] && n.Name < best) {
			best = n.Name
		}
	}
	return best
}

func (c *fakeCluster) evictions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.evicted...)
}
