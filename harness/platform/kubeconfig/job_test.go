package kubeconfig

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
)

// withJobSelectors makes the fake clientset give a created Job the
// selector the API server generates.
func withJobSelectors(cs *fake.Clientset) *fake.Clientset {
	cs.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
		j := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: j.Name + "-uid"}}
		return false, nil, nil
	})
	return cs
}

func TestStartIndexedJobRefusesLoopbackWithoutAStackHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		job  platform.IndexedJob
		want string
	}{
		{"argument", platform.IndexedJob{Args: []string{"worker", "--coordinator", "http://127.0.0.1:7000"}}, "argument 3 point at the harness's loopback"},
		{"flag", platform.IndexedJob{Args: []string{"worker", "--coordinator=http://localhost:7000"}}, "--coordinator point at the harness's loopback"},
		{"env", platform.IndexedJob{Env: map[string]string{"COORDINATOR": "127.0.0.5:7000"}}, "COORDINATOR point at the harness's loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := withJobSelectors(fake.NewClientset())
			p := newPlatform(cs, nil, Options{Context: "staging", Manifest: kube.Manifest{Namespace: "cutover-t"}})
			j := tc.job
			j.Name, j.Image, j.Count = "shards", "i", 2
			_, err := p.StartIndexedJob(context.Background(), j)
			require.ErrorContains(t, err, tc.want)
			_, err = cs.CoreV1().Namespaces().Get(context.Background(), "cutover-t", metav1.GetOptions{})
			require.True(t, apierrors.IsNotFound(err), "nothing was created")
		})
	}
}

func TestStartIndexedJobRelaysTheCoordinatorThroughTheStackRelay(t *testing.T) {
	cs := withJobSelectors(fake.NewClientset())
	p := newPlatform(cs, nil, Options{
		Context: "staging", StackHost: "127.0.0.41", Manifest: kube.Manifest{Namespace: "cutover-t"},
		RolloutTimeout: 50 * time.Millisecond,
	})
	ctx := context.Background()
	defer p.Close(ctx)
	job, err := p.StartIndexedJob(ctx, platform.IndexedJob{
		Name: "shards", Image: "i", Count: 2,
		Args: []string{"worker", "--coordinator", "http://127.0.0.1:7000"},
		Env:  map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:5432/db"},
	})
	require.NoError(t, err)
	created, err := cs.BatchV1().Jobs("cutover-t").Get(ctx, "shards", metav1.GetOptions{})
	require.NoError(t, err)
	c := created.Spec.Template.Spec.Containers[0]
	require.Regexp(t, `^http://127\.0\.0\.41:[0-9]+$`, c.Args[2], "relayed from a port on the stack host")
	require.Regexp(t, `^postgres://u@127\.0\.0\.41:[0-9]+/db$`, c.Env[0].Value)

	// The service's Deploy reuses the same relay: one address per
	// upstream. (No controller runs in the fake: the rollout wait times
	// out after the objects are applied.)
	_ = p.Deploy(ctx, platform.ServiceSpec{Name: "c", Image: "i", Env: map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:5432/db"}}, 0)
	d, err := cs.AppsV1().Deployments("cutover-t").Get(ctx, "c", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, c.Env[0].Value, d.Spec.Template.Spec.Containers[0].Env[1].Value)

	require.NoError(t, job.Stop(ctx))
	_, err = cs.BatchV1().Jobs("cutover-t").Get(ctx, "shards", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err))
}
