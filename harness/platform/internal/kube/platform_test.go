package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cutover/cutover/internal/testsupport"

	"github.com/cutover/cutover/harness/platform"
)

// testsupport.SyncBuffer is a log writer the test can read while informers write.

var testSpec = platform.ServiceSpec{
	Name:  "coupon",
	Image: "cutover/couponapi:dev",
	Env:   map[string]string{"DATABASE_URL": "postgres://u@10.0.0.1:5432/db"},
}

func newTestPlatform(t *testing.T, fc *fakeCluster, log *testsupport.SyncBuffer) *Platform {
	t.Helper()
	p := New(fc.cs, Options{
		Name:           "kind",
		Manifest:       Manifest{Namespace: "cutover-test"},
		Endpoint:       "127.0.0.3:8080",
		Log:            log,
		PollInterval:   5 * time.Millisecond,
		RolloutTimeout: 10 * time.Second,
		EvictRetry:     5 * time.Millisecond,
	})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func names(rs []platform.Replica) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func upCount(rs []platform.Replica) int {
	n := 0
	for _, r := range rs {
		if r.State == platform.Up {
			n++
		}
	}
	return n
}

func TestPlatformDeployAppliesManifestsAndWaitsForRollout(t *testing.T) {
	fc := newFakeCluster(t, "node-a", "node-b")
	log := &testsupport.SyncBuffer{}
	p := newTestPlatform(t, fc, log)
	ctx := testCtx(t)

	require.NoError(t, p.Deploy(ctx, testSpec, 3))

	d, err := fc.cs.AppsV1().Deployments("cutover-test").Get(ctx, "coupon", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(3), *d.Spec.Replicas)
	require.Equal(t, "/readyz", d.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path)
	_, err = fc.cs.CoreV1().Services("cutover-test").Get(ctx, "coupon", metav1.GetOptions{})
	require.NoError(t, err)
	_, err = fc.cs.PolicyV1().PodDisruptionBudgets("cutover-test").Get(ctx, "coupon", metav1.GetOptions{})
	require.NoError(t, err)

	rs := p.Replicas()
	require.Len(t, rs, 3)
	require.Equal(t, 3, upCount(rs))
	require.Contains(t, rs[0].Addr, ":8080")
	require.Equal(t, "127.0.0.3:8080", p.Endpoint())
	require.Equal(t, "kind", p.Name())
	require.Contains(t, log.String(), ": Created: pod created")

	// A second Deploy (new image) updates in place through server-side apply.
	spec := testSpec
	spec.Image = "cutover/couponapi:v2"
	require.NoError(t, p.Deploy(ctx, spec, 3))
	d, err = fc.cs.AppsV1().Deployments("cutover-test").Get(ctx, "coupon", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "cutover/couponapi:v2", d.Spec.Template.Spec.Containers[0].Image)

	require.NoError(t, p.Close(ctx))
	_, err = fc.cs.CoreV1().Namespaces().Get(ctx, "cutover-test", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "namespace deleted at Close, got %v", err)
	require.NoError(t, p.Close(ctx), "second Close")
}

func TestPlatformRefusesAnExistingNamespace(t *testing.T) {
	fc := newFakeCluster(t, "node-a")
	ctx := testCtx(t)
	_, err := fc.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cutover-test"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	p := newTestPlatform(t, fc, &testsupport.SyncBuffer{})
	err = p.Deploy(ctx, testSpec, 1)
	require.ErrorContains(t, err, "already exists")
	require.NoError(t, p.Close(ctx))
	_, err = fc.cs.CoreV1().Namespaces().Get(ctx, "cutover-test", metav1.GetOptions{})
	require.NoError(t, err, "somebody else's namespace is left alone")
}

func TestPlatformKillReplicaDeletesWithGraceZero(t *testing.T) {
	fc := newFakeCluster(t, "node-a")
	p := newTestPlatform(t, fc, &testsupport.SyncBuffer{})
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, testSpec, 2))
	victim := p.Replicas()[0].Name

	var grace *int64
	fc.prependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.DeleteAction).GetName() == victim {
			grace = a.(k8stesting.DeleteAction).GetDeleteOptions().GracePeriodSeconds
		}
		return false, nil, nil
	})
	require.NoError(t, p.KillReplica(ctx, victim))
	require.NotNil(t, grace)
	require.Equal(t, int64(0), *grace)
	require.Eventually(t, func() bool {
		rs := p.Replicas()
		return upCount(rs) == 2 && !strings.Contains(strings.Join(names(rs), ","), victim)
	}, 5*time.Second, 5*time.Millisecond, "the ReplicaSet replaces the killed pod")

	require.ErrorContains(t, p.KillReplica(ctx, "no-such-pod"), "no-such-pod")
}

func TestPlatformFaultsTouchOnlyTheServicePods(t *testing.T) {
	fc := newFakeCluster(t, "node-a")
	p := newTestPlatform(t, fc, &testsupport.SyncBuffer{})
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, testSpec, 1))
	_, err := fc.cs.CoreV1().Pods("cutover-test").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "other", Namespace: "cutover-test", Labels: map[string]string{LabelName: "other"},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.ErrorContains(t, p.KillReplica(ctx, "other"), "not a replica of coupon")
	require.ErrorContains(t, p.Restart(ctx, "other"), "not a replica of coupon")
}

func TestPlatformRollingRestartReplacesEveryPod(t *testing.T) {
	fc := newFakeCluster(t, "node-a", "node-b")
	log := &testsupport.SyncBuffer{}
	p := newTestPlatform(t, fc, log)
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, testSpec, 3))
	before := names(p.Replicas())

	require.NoError(t, p.Restart(ctx, ""))
	d, err := fc.cs.AppsV1().Deployments("cutover-test").Get(ctx, "coupon", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, d.Spec.Template.Annotations[RestartedAtAnnotation])
	after := p.Replicas()
	require.Len(t, after, 3)
	require.Equal(t, 3, upCount(after))
	for _, n := range names(after) {
		require.NotContains(t, before, n, "every pod was replaced")
	}
	require.Contains(t, log.String(), "deployment/coupon: RollingRestart")
	require.Contains(t, log.String(), ": Deleted: pod deleted")
}

func TestPlatformRestartOnePod(t *testing.T) {
	fc := newFakeCluster(t, "node-a")
	p := newTestPlatform(t, fc, &testsupport.SyncBuffer{})
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, testSpec, 2))
	before := names(p.Replicas())
	require.NoError(t, p.Restart(ctx, before[0]))
	after := names(p.Replicas())
	require.Len(t, after, 2)
	require.NotContains(t, after, before[0])
	require.Contains(t, after, before[1], "the other pod is untouched")
}

func TestPlatformScale(t *testing.T) {
	fc := newFakeCluster(t, "node-a")
	p := newTestPlatform(t, fc, &testsupport.SyncBuffer{})
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, testSpec, 2))
	for _, n := range []int{4, 1, 3} {
		require.NoError(t, p.Scale(ctx, n))
		rs := p.Replicas()
		require.Len(t, rs, n)
		require.Equal(t, n, upCount(rs))
	}
	require.Error(t, p.Scale(ctx, -1))
}

func TestPlatformScaleRaisesTheHPAFloor(t *testing.T) {
	fc := newFakeCluster(t, "node-a")
	p := New(fc.cs, Options{
		Manifest:     Manifest{Namespace: "cutover-hpa", HPA: &HPA{MinReplicas: 2, MaxReplicas: 4, CPUUtilization: 70}},
		PollInterval: 5 * time.Millisecond,
	})
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, testSpec, 2))
	require.NoError(t, p.Scale(ctx, 6))
	hpa, err := fc.cs.AutoscalingV2().HorizontalPodAutoscalers("cutover-hpa").Get(ctx, "coupon", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(6), *hpa.Spec.MinReplicas)
	require.Equal(t, int32(6), hpa.Spec.MaxReplicas)
}

func TestPlatformDrainNode(t *testing.T) {
	fc := newFakeCluster(t, "node-a", "node-b", "node-c")
	log := &testsupport.SyncBuffer{}
	p := newTestPlatform(t, fc, log)
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, testSpec, 4))
	// node-a got two of the four pods (fewest-pods scheduling, ties by order).
	node, err := p.DrainNode(ctx, "")
	require.NoError(t, err)
	require.Equal(t, "node-a", node)

	n, err := fc.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	require.NoError(t, err)
	require.True(t, n.Spec.Unschedulable, "cordoned")
	require.Len(t, fc.evictions(), 2, "both pods went through the Eviction API")
	pods := fc.podsOf("cutover-test", "coupon")
	require.Len(t, pods, 4)
	for _, pod := range pods {
		require.NotEqual(t, node, pod.Spec.NodeName)
	}
	require.Contains(t, log.String(), "node/node-a: Cordon")
	require.Contains(t, log.String(), "node/node-a: Drained")

	require.NoError(t, p.Close(ctx))
	n, err = fc.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	require.NoError(t, err)
	require.False(t, n.Spec.Unschedulable, "Close uncordons")
}

func TestPlatformCordonAndUncordon(t *testing.T) {
	fc := newFakeCluster(t, "node-a", "node-b")
	log := &testsupport.SyncBuffer{}
	p := newTestPlatform(t, fc, log)
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, testSpec, 2))
	unschedulable := func(node string) bool {
		n, err := fc.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		require.NoError(t, err)
		return n.Spec.Unschedulable
	}

	require.NoError(t, p.Cordon(ctx, "node-a"))
	require.True(t, unschedulable("node-a"))
	require.False(t, unschedulable("node-b"))
	require.Len(t, fc.evictions(), 0, "cordon evicts nothing")
	require.Len(t, fc.podsOf("cutover-test", "coupon"), 2)
	require.NoError(t, p.Uncordon(ctx, "node-a"))
	require.False(t, unschedulable("node-a"))
	require.Contains(t, log.String(), "node/node-a: Cordon")
	require.Contains(t, log.String(), "node/node-a: Uncordon")

	// A node left cordoned is uncordoned at Close.
	require.NoError(t, p.Cordon(ctx, "node-b"))
	require.NoError(t, p.Close(ctx))
	require.False(t, unschedulable("node-b"), "Close uncordons")
	require.ErrorContains(t, New(fc.cs, Options{}).Cordon(ctx, "no-such-node"), "cordon no-such-node")
}

func TestEvictRetriesWhileTheBudgetRefuses(t *testing.T) {
	fc := newFakeCluster(t, "node-a")
	log := &testsupport.SyncBuffer{}
	p := newTestPlatform(t, fc, log)
	ctx := testCtx(t)
	require.NoError(t, p.Deploy(ctx, testSpec, 1))
	pod := fc.podsOf("cutover-test", "coupon")[0]

	attempts := 0
	fc.prependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		attempts++
		if attempts <= 2 {
			return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		}
		return false, nil, nil
	})
	require.NoError(t, p.evict(ctx, pod))
	require.Equal(t, 3, attempts)
	require.Equal(t, 2, strings.Count(log.String(), "Warning EvictionBlocked"))

	// A refusal that lasts past the deadline is an error naming it.
	attempts = -1000
	require.Eventually(t, func() bool { return len(fc.podsOf("cutover-test", "coupon")) == 1 }, 5*time.Second, 5*time.Millisecond)
	pod = fc.podsOf("cutover-test", "coupon")[0]
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	err := p.evict(short, pod)
	require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	require.ErrorContains(t, err, "disruption budget")
}

func TestEventLogWritesKubernetesEvents(t *testing.T) {
	fc := newFakeCluster(t)
	log := &testsupport.SyncBuffer{}
	ctx := testCtx(t)
	el, err := StartEventLog(fc.cs, "ns", log)
	require.NoError(t, err)
	defer el.Stop()
	at := time.Date(2026, 11, 27, 3, 47, 20, 123e6, time.UTC)
	for _, ev := range []corev1.Event{
		{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "ns"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "coupon-1"},
			Reason: "Started", Message: "Started container coupon", Type: corev1.EventTypeNormal, LastTimestamp: metav1.NewTime(at)},
		{ObjectMeta: metav1.ObjectMeta{Name: "e2", Namespace: "ns"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "coupon-1"},
			Reason: "Unhealthy", Message: "Readiness probe failed: HTTP probe failed with statuscode: 503", Type: corev1.EventTypeWarning, LastTimestamp: metav1.NewTime(at)},
	} {
		_, err := fc.cs.CoreV1().Events("ns").Create(ctx, &ev, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		s := log.String()
		return strings.Contains(s, "2026-11-27T03:47:20.123Z pod/coupon-1: Started: Started container coupon\n") &&
			strings.Contains(s, "2026-11-27T03:47:20.123Z pod/coupon-1: Warning Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503\n")
	}, 5*time.Second, 5*time.Millisecond, log.String())
}

func TestPodState(t *testing.T) {
	now := metav1.Now()
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want platform.ReplicaState
	}{
		{"pending", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, platform.Starting},
		{"running not ready", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, platform.Starting},
		{"ready", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: ready}}, platform.Up},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: ready}}, platform.Stopping},
		{"crash loop", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
		}}}, platform.Crashed},
		{"failed", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, platform.Crashed},
		{"succeeded", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, platform.Down},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, podState(&tc.pod))
		})
	}
}
