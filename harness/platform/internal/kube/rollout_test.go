package kube

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestRolloutStatus(t *testing.T) {
	three := int32(3)
	dep := func(gen, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "coupon", Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: &three},
			Status:     func() appsv1.DeploymentStatus { st.ObservedGeneration = observed; return st }(),
		}
	}
	for _, tc := range []struct {
		name    string
		d       *appsv1.Deployment
		done    bool
		msg     string
		wantErr string
	}{
		{"spec not observed", dep(2, 1, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}), false, "observed", ""},
		{"updating", dep(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3}), false, "1 out of 3 new replicas", ""},
		{"old pending", dep(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3}), false, "1 old replicas", ""},
		{"not available", dep(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}), false, "2 of 3 updated", ""},
		{"done", dep(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}), true, "successfully rolled out", ""},
		{"deadline", dep(2, 2, appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet has timed out progressing."},
		}}), false, "", "exceeded its progress deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, done, err := RolloutStatus(tc.d)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.done, done)
			require.Contains(t, msg, tc.msg)
		})
	}
}

func TestWaitRolloutTimesOutWithTheLastStatus(t *testing.T) {
	three := int32(3)
	cs := fake.NewClientset(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "coupon", Namespace: "ns"},
		Spec:       appsv1.DeploymentSpec{Replicas: &three},
		Status:     appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 1},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := WaitRollout(ctx, cs, "ns", "coupon", 5*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "1 of 3 updated replicas are available")
}

func TestWaitNodesReadyWaitsForEveryNode(t *testing.T) {
	node := func(name string, ready corev1.ConditionStatus) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
	}
	ctx := context.Background()

	// The worker joins not Ready and turns Ready later.
	cs := fake.NewClientset(node("cp", corev1.ConditionTrue), node("worker", corev1.ConditionFalse))
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = cs.CoreV1().Nodes().Update(ctx, node("worker", corev1.ConditionTrue), metav1.UpdateOptions{})
	}()
	require.NoError(t, WaitNodesReady(ctx, cs, 2, 10*time.Millisecond))

	for _, tc := range []struct {
		name  string
		nodes []runtime.Object
		want  string
	}{
		{"a node not Ready", []runtime.Object{node("cp", corev1.ConditionTrue), node("worker", corev1.ConditionFalse)}, "2 of 2 nodes, not Ready: worker"},
		{"a node missing", []runtime.Object{node("cp", corev1.ConditionTrue)}, "1 of 2 nodes, not Ready: "},
		{"no condition yet", []runtime.Object{node("cp", corev1.ConditionTrue), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w2"}}}, "not Ready: w2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			err := WaitNodesReady(wctx, fake.NewClientset(tc.nodes...), 2, 10*time.Millisecond)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
