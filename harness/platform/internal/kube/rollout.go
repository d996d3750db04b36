package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// RolloutStatus says whether a Deployment's rollout is complete, with the
// same rules and messages as `kubectl rollout status`. A deployment that
// exceeded its progress deadline is an error.
func RolloutStatus(d *appsv1.Deployment) (msg string, done bool, err error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "waiting for deployment spec update to be observed", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline: %s", d.Name, c.Message)
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.UpdatedReplicas < want:
		return fmt.Sprintf("%d out of %d new replicas have been updated", s.UpdatedReplicas, want), false, nil
	case s.Replicas > s.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas are pending termination", s.Replicas-s.UpdatedReplicas), false, nil
	case s.AvailableReplicas < s.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas are available", s.AvailableReplicas, s.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

// WaitRollout polls the Deployment every interval until its rollout is
// complete, it fails, or ctx ends. The error names the last status seen.
func WaitRollout(ctx context.Context, client kubernetes.Interface, namespace, name string, interval time.Duration) error {
	last := "not read yet"
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			var done bool
			last, done, err = RolloutStatus(d)
			if err != nil {
				return fmt.Errorf("rollout of %s/%s: %w", namespace, name, err)
			}
			if done {
				return nil
			}
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rollout of %s/%s: %w (%s)", namespace, name, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// NodeReady says whether a node's Ready condition is true.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// WaitNodesReady polls the cluster's nodes every interval until there are
// want of them and every one is Ready, or ctx ends; the error names the
// nodes not Ready yet. (kind's own wait covers the control plane only: a
// worker that joined is Ready a few seconds later, and pods deployed in
// between all land on the control plane.)
func WaitNodesReady(ctx context.Context, client kubernetes.Interface, want int, interval time.Duration) error {
	last := "not read yet"
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			var waiting []string
			for i := range list.Items {
				if !NodeReady(&list.Items[i]) {
					waiting = append(waiting, list.Items[i].Name)
				}
			}
			slices.Sort(waiting)
			if len(list.Items) >= want && len(waiting) == 0 {
				return nil
			}
			last = fmt.Sprintf("%d of %d nodes, not Ready: %s", len(list.Items), want, strings.Join(waiting, ", "))
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes ready: %w (%s)", ctx.Err(), last)
		case <-t.C:
		}
	}
}
