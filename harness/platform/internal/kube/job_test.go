package kube

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

func TestBuildJob(t *testing.T) {
	for _, tc := range []struct {
		name  string
		job   IndexedJob
		check func(t *testing.T, j *batchv1.Job)
	}{
		{
			name: "indexed, all at once, never retried",
			job:  IndexedJob{Name: "cutover-shards", Image: "cutover-local/cutover:latest", Args: []string{"worker", "--coordinator", "http://10.0.0.1:9"}, Count: 3},
			check: func(t *testing.T, j *batchv1.Job) {
				s := j.Spec
				require.Equal(t, batchv1.IndexedCompletion, *s.CompletionMode)
				require.EqualValues(t, 3, *s.Completions)
				require.EqualValues(t, 3, *s.Parallelism)
				require.EqualValues(t, 0, *s.BackoffLimitPerIndex)
				require.EqualValues(t, math.MaxInt32, *s.BackoffLimit, "a failed index must not fail the Job, which would delete the other workers")
				require.Nil(t, s.ActiveDeadlineSeconds)
				require.Nil(t, s.TTLSecondsAfterFinished, "the namespace goes with the run")
				require.Nil(t, s.PodFailurePolicy)
				pod := s.Template.Spec
				require.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
				require.Len(t, pod.Containers, 1)
				c := pod.Containers[0]
				require.Equal(t, WorkerContainer, c.Name)
				require.Equal(t, "cutover-local/cutover:latest", c.Image)
				require.Empty(t, c.Command, "the image's entrypoint is the binary")
				require.Equal(t, []string{"worker", "--coordinator", "http://10.0.0.1:9"}, c.Args)
				require.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy)
				require.Empty(t, c.Env)
				require.Equal(t, "100m", ptrQ(c.Resources.Requests.Cpu()))
				require.Equal(t, "64Mi", ptrQ(c.Resources.Requests.Memory()))
				require.Equal(t, "1", ptrQ(c.Resources.Limits.Cpu()))
				require.Equal(t, "256Mi", ptrQ(c.Resources.Limits.Memory()))
				want := map[string]string{LabelName: "cutover-shards", LabelManagedBy: ManagedBy}
				require.Equal(t, want, j.Labels)
				require.Equal(t, want, s.Template.Labels)
				require.Nil(t, s.Selector, "the API server generates the selector")
			},
		},
		{
			name: "env, resources, labels and deadline",
			job: IndexedJob{
				Name: "w", Image: "img", Count: 1,
				Env:            map[string]string{"SHARDS": "4", "A_FIRST": "x"},
				Resources:      Resources{CPURequest: "250m", MemoryLimit: "1Gi"},
				Labels:         map[string]string{"cutover.run/id": "run-1"},
				ActiveDeadline: 90500 * time.Millisecond,
			},
			check: func(t *testing.T, j *batchv1.Job) {
				c := j.Spec.Template.Spec.Containers[0]
				require.Equal(t, []corev1.EnvVar{{Name: "A_FIRST", Value: "x"}, {Name: "SHARDS", Value: "4"}}, c.Env)
				require.Equal(t, "250m", ptrQ(c.Resources.Requests.Cpu()))
				require.Equal(t, "64Mi", ptrQ(c.Resources.Requests.Memory()), "an empty field takes the default")
				require.Equal(t, "1Gi", ptrQ(c.Resources.Limits.Memory()))
				require.Equal(t, "run-1", j.Labels["cutover.run/id"])
				require.Equal(t, "run-1", j.Spec.Template.Labels["cutover.run/id"])
				require.Equal(t, "w", j.Spec.Template.Labels[LabelName])
				require.EqualValues(t, 91, *j.Spec.ActiveDeadlineSeconds, "rounded up")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := BuildJob(tc.job, "cutover-run1")
			require.NoError(t, err)
			require.Equal(t, "cutover-run1", j.Namespace)
			require.Equal(t, tc.job.Name, j.Name)
			tc.check(t, j)
			// What is sent decodes strictly into the API type.
			y, err := yaml.Marshal(j)
			require.NoError(t, err)
			obj, _, err := strictDecoder().Decode(y, nil, nil)
			require.NoError(t, err, "%s", y)
			require.Equal(t, j.Spec, obj.(*batchv1.Job).Spec)
		})
	}
}

func ptrQ(q *resource.Quantity) string { return q.String() }

func TestBuildJobRejectsBadInput(t *testing.T) {
	ok := IndexedJob{Name: "w", Image: "img", Count: 2}
	for _, tc := range []struct {
		name string
		edit func(j *IndexedJob)
		ns   string
		want string
	}{
		{"name", func(j *IndexedJob) { j.Name = "Shards_1" }, "ns", `name "Shards_1"`},
		{"namespace", func(*IndexedJob) {}, "NS", `namespace "NS"`},
		{"image", func(j *IndexedJob) { j.Image = "" }, "ns", "no image"},
		{"count", func(j *IndexedJob) { j.Count = 0 }, "ns", "count 0"},
		{"deadline", func(j *IndexedJob) { j.ActiveDeadline = -time.Second }, "ns", "active deadline"},
		{"quantity", func(j *IndexedJob) { j.Resources.CPURequest = "lots" }, "ns", `cpu request "lots"`},
		{"request above limit", func(j *IndexedJob) { j.Resources.MemoryRequest = "1Gi" }, "ns", "above its limit"},
		{"index variable", func(j *IndexedJob) { j.Env = map[string]string{EnvCompletionIndex: "3"} }, "ns", "set by Kubernetes"},
		{"env name", func(j *IndexedJob) { j.Env = map[string]string{"A=B": "1"} }, "ns", `env "A=B"`},
		{"own label", func(j *IndexedJob) { j.Labels = map[string]string{LabelName: "x"} }, "ns", "cutover's own"},
		{"label key", func(j *IndexedJob) { j.Labels = map[string]string{"a b": "x"} }, "ns", `label key "a b"`},
		{"label value", func(j *IndexedJob) { j.Labels = map[string]string{"a": "x y"} }, "ns", `value "x y"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := ok
			tc.edit(&j)
			_, err := BuildJob(j, tc.ns)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestPodOutcome(t *testing.T) {
	now := metav1.Now()
	worker := func(s corev1.ContainerState) []corev1.ContainerStatus {
		return []corev1.ContainerStatus{{Name: WorkerContainer, State: s}}
	}
	for _, tc := range []struct {
		name      string
		pod       corev1.Pod
		ended     bool
		succeeded bool
		reason    string
	}{
		{name: "pending", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}},
		{name: "running", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: worker(corev1.ContainerState{Running: &corev1.ContainerStateRunning{}})}}},
		{
			name: "exited 0, phase not yet updated",
			pod:  corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: worker(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}})}},
		},
		{name: "succeeded", pod: corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, ended: true, succeeded: true},
		{
			name:  "succeeded, then deleted",
			pod:   corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
			ended: true, succeeded: true,
		},
		{
			name:  "exit code",
			pod:   corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: worker(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}})}},
			ended: true, reason: "exit code 2",
		},
		{
			name:  "exit code seen before the phase",
			pod:   corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: worker(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}})}},
			ended: true, reason: "exit code 1",
		},
		{
			name:  "runtime could not start it",
			pod:   corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: worker(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError"}})}},
			ended: true, reason: "StartError",
		},
		{
			name:  "OOM-killed",
			pod:   corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: worker(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}})}},
			ended: true, reason: "OOMKilled",
		},
		{
			name:  "evicted by the kubelet",
			pod:   corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory."}},
			ended: true, reason: "Evicted",
		},
		{
			name:  "deleted while running",
			pod:   corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
			ended: true, reason: "deleted",
		},
		{
			name: "deleted, then killed",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
				ContainerStatuses: worker(corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}})}},
			ended: true, reason: "deleted",
		},
		{
			name: "evicted through the API (a drain)",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"}}}},
			ended: true, reason: "EvictionByEvictionAPI",
		},
		{
			name:  "image cannot be pulled",
			pod:   corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: worker(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}})}},
			ended: true, reason: "ImagePullBackOff",
		},
		{
			name: "container being created",
			pod:  corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: worker(corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}})}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ended, succeeded, reason, _ := podOutcome(&tc.pod)
			require.Equal(t, tc.ended, ended, "ended")
			require.Equal(t, tc.succeeded, succeeded, "succeeded")
			require.Equal(t, tc.reason, reason)
		})
	}
}

func TestPodIndex(t *testing.T) {
	for _, tc := range []struct {
		name        string
		labels, ann map[string]string
		want        int
		ok          bool
	}{
		{"label", map[string]string{batchv1.JobCompletionIndexAnnotation: "3"}, nil, 3, true},
		{"annotation (before Kubernetes 1.28)", nil, map[string]string{batchv1.JobCompletionIndexAnnotation: "1"}, 1, true},
		{"none", nil, nil, 0, false},
		{"not a number", map[string]string{batchv1.JobCompletionIndexAnnotation: "x"}, nil, 0, false},
		{"negative", map[string]string{batchv1.JobCompletionIndexAnnotation: "-1"}, nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := podIndex(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels, Annotations: tc.ann}})
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseIndexes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  bool
	}{
		{in: "", want: nil},
		{in: "0", want: []int{0}},
		{in: "1,3-5,7", want: []int{1, 3, 4, 5, 7}},
		{in: "x", err: true},
		{in: "3-1", err: true},
		{in: "1-", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseIndexes(tc.in)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			want := map[int]bool{}
			for _, i := range tc.want {
				want[i] = true
			}
			require.Equal(t, want, got)
		})
	}
}

// jobCluster is client-go's fake clientset with what the API server does
// to a created Job (a UID and the generated selector); the test plays the
// Job controller and the kubelet by writing pods.
func jobCluster(t *testing.T) *fake.Clientset {
	t.Helper()
	cs := fake.NewClientset()
	cs.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
		j := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		j.UID = types.UID(j.Name + "-uid")
		j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: string(j.UID)}}
		return false, nil, nil // the tracker stores it
	})
	return cs
}

func workerPod(job *batchv1.Job, index int, phase corev1.PodPhase) *corev1.Pod {
	lbl := copyMap(job.Spec.Template.Labels)
	lbl[batchv1.ControllerUidLabel] = string(job.UID)
	lbl[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(index)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-" + strconv.Itoa(index) + "-abcde", Namespace: job.Namespace, Labels: lbl},
		Spec:       *job.Spec.Template.Spec.DeepCopy(),
		Status:     corev1.PodStatus{Phase: phase},
	}
}

func TestJobRunReportsEachFailedIndexOnceAndWaitsForAll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := jobCluster(t)
	p := New(cs, Options{Name: "kind", Manifest: Manifest{Namespace: "cutover-jobs"}, PollInterval: 10 * time.Millisecond})
	defer p.Close(context.Background())

	r, err := p.StartIndexedJob(ctx, IndexedJob{Name: "shards", Image: "img", Count: 4})
	require.NoError(t, err)
	_, err = cs.CoreV1().Namespaces().Get(ctx, "cutover-jobs", metav1.GetOptions{})
	require.NoError(t, err, "the namespace is created without a Deploy")
	job, err := cs.BatchV1().Jobs("cutover-jobs").Get(ctx, "shards", metav1.GetOptions{})
	require.NoError(t, err)
	pods := cs.CoreV1().Pods("cutover-jobs")
	for i := range 4 {
		_, err := pods.Create(ctx, workerPod(job, i, corev1.PodRunning), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	// Somebody else's pod in the namespace is not a worker.
	other := workerPod(job, 0, corev1.PodFailed)
	other.Name, other.Labels = "other", map[string]string{"app": "x"}
	_, err = pods.Create(ctx, other, metav1.CreateOptions{})
	require.NoError(t, err)

	next := func() WorkerFailure {
		t.Helper()
		select {
		case f := <-r.Failures():
			return f
		case <-ctx.Done():
			t.Fatal("no failure delivered")
			return WorkerFailure{}
		}
	}

	require.NoError(t, r.Kill(ctx, 1))
	f := next()
	require.Equal(t, 1, f.Index)
	require.Equal(t, "shards-1-abcde", f.Pod)
	require.Equal(t, "deleted", f.Reason)
	require.WithinDuration(t, time.Now(), f.At, 5*time.Second)
	require.ErrorContains(t, r.Kill(ctx, 1), "no pod of that index is running")
	require.ErrorContains(t, r.Kill(ctx, 4), "no such index")

	oom := workerPod(job, 2, corev1.PodFailed)
	oom.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: WorkerContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}
	_, err = pods.UpdateStatus(ctx, oom, metav1.UpdateOptions{})
	require.NoError(t, err)
	f = next()
	require.Equal(t, 2, f.Index)
	require.Equal(t, "OOMKilled", f.Reason)
	// The same index seen failed again is not delivered twice.
	require.NoError(t, pods.Delete(ctx, oom.Name, metav1.DeleteOptions{}))

	pull := workerPod(job, 3, corev1.PodPending)
	pull.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: WorkerContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}}}
	_, err = pods.UpdateStatus(ctx, pull, metav1.UpdateOptions{})
	require.NoError(t, err)
	f = next()
	require.Equal(t, 3, f.Index)
	require.Equal(t, "ErrImagePull", f.Reason)
	require.Equal(t, "not found", f.Message)
	require.Eventually(t, func() bool {
		_, err := pods.Get(ctx, pull.Name, metav1.GetOptions{})
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "a pod that cannot start is deleted, so its index stays failed")

	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	out, err := r.Wait(short)
	cancelShort()
	require.ErrorIs(t, err, context.DeadlineExceeded, "index 0 is still running")
	require.Len(t, out, 3)

	_, err = pods.UpdateStatus(ctx, workerPod(job, 0, corev1.PodSucceeded), metav1.UpdateOptions{})
	require.NoError(t, err)
	out, err = r.Wait(ctx)
	require.NoError(t, err)
	require.Len(t, out, 4)
	require.True(t, out[0].Succeeded)
	require.Equal(t, "shards-0-abcde", out[0].Pod)
	for i, reason := range map[int]string{1: "deleted", 2: "OOMKilled", 3: "ErrImagePull"} {
		require.Equal(t, i, out[i].Index)
		require.False(t, out[i].Succeeded)
		require.Equal(t, reason, out[i].Reason)
	}
	select {
	case f := <-r.Failures():
		t.Fatalf("a second failure delivered: %+v", f)
	default:
	}

	require.NoError(t, r.Stop(ctx))
	_, open := <-r.Failures()
	require.False(t, open, "Failures is closed by Stop")
	_, err = cs.BatchV1().Jobs("cutover-jobs").Get(ctx, "shards", metav1.GetOptions{})
	require.Error(t, err, "the Job is deleted")
	require.NoError(t, r.Stop(ctx), "Stop twice")
	_, err = r.Wait(ctx)
	require.NoError(t, err, "a Wait after Stop still has every outcome")
}

func TestJobRunSettlesIndexesFromTheJobStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := jobCluster(t)
	p := New(cs, Options{Manifest: Manifest{Namespace: "cutover-jobs"}, PollInterval: 10 * time.Millisecond})
	r, err := p.StartIndexedJob(ctx, IndexedJob{Name: "shards", Image: "img", Count: 3, ActiveDeadline: time.Second})
	require.NoError(t, err)
	// No pod is ever seen; the Job controller gives up at the deadline
	// with index 0 done.
	job, err := cs.BatchV1().Jobs("cutover-jobs").Get(ctx, "shards", metav1.GetOptions{})
	require.NoError(t, err)
	job.Status.CompletedIndexes = "0"
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonDeadlineExceeded, Message: "Job was active longer than specified deadline"}}
	_, err = cs.BatchV1().Jobs("cutover-jobs").UpdateStatus(ctx, job, metav1.UpdateOptions{})
	require.NoError(t, err)
	out, err := r.Wait(ctx)
	require.NoError(t, err)
	require.Len(t, out, 3)
	require.True(t, out[0].Succeeded)
	for _, o := range out[1:] {
		require.False(t, o.Succeeded)
		require.Equal(t, batchv1.JobReasonDeadlineExceeded, o.Reason)
	}
	for range 2 {
		f := <-r.Failures()
		require.Equal(t, batchv1.JobReasonDeadlineExceeded, f.Reason)
	}
	require.NoError(t, p.Close(ctx), "Close stops the run")
	_, open := <-r.Failures()
	require.False(t, open)
}

func TestStartIndexedJobRefusesAnExistingNamespace(t *testing.T) {
	cs := jobCluster(t)
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), namespaceObject("taken"), metav1.CreateOptions{})
	require.NoError(t, err)
	p := New(cs, Options{Manifest: Manifest{Namespace: "taken"}})
	_, err = p.StartIndexedJob(context.Background(), IndexedJob{Name: "shards", Image: "img", Count: 1})
	require.ErrorContains(t, err, `namespace "taken" already exists`)
}
