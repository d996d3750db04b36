package kind

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
	"github.com/cutover/cutover/internal/testsupport"
)

// cutoverImage is the image of the cutover CLI `make images` builds
// (images/cutover).
const cutoverImage = "cutover-local/cutover:latest"

// TestKindIndexedJobReportsALostWorker runs the cutover CLI as an Indexed
// Job of two workers on a kind cluster (one control-plane node), each a
// `cutover worker` blocked on a coordinator that never answers, kills
// worker 1 as a
// lost shard worker is lost, and checks that the failure is reported
// within seconds while worker 0 keeps running and worker 1 is not
// restarted. Two short Jobs then check the outcomes Wait reports: a worker
// that exits 2 (with its last log lines as the message) and one that
// succeeds.
func TestKindIndexedJobReportsALostWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a kind cluster (minutes); skipped with -short")
	}
	cli := dockerOrSkip(t)
	nodeImage := nodeImageOrSkip(t, cli)
	testsupport.RequireImages(t, cli, cutoverImage)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	var log testsupport.SyncBuffer
	p, err := New(Options{
		ClusterName:      clusterName("job"),
		NodeImage:        nodeImage,
		ControlPlaneOnly: true,
		Addr:             loopbackAddr(t),
		LogDir:           t.TempDir(),
		Log:              &log,
		Manifest:         kube.Manifest{Namespace: "cutover-job"},
	})
	require.NoError(t, err)
	defer func() {
		require.NoError(t, p.Close(context.Background()))
		if t.Failed() {
			t.Logf("event log:\n%s", log.String())
		}
	}()
	took, err := p.Up(ctx)
	require.NoError(t, err)
	t.Logf("cluster created in %s", took.Round(time.Second))

	// A coordinator that never hands out the job: each worker blocks in
	// its first request until it is stopped, and then exits non-zero, as
	// a shard worker stopped before its run is over does. (A stand-in
	// that exits 0 on SIGTERM, as `cutover trace record` does, raced the
	// kill: its pod could end Succeeded before it was gone, and the Job
	// then counted index 1 complete, not failed.)
	release := make(chan struct{})
	coordinator := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer coordinator.Close()
	defer close(release)

	start := time.Now()
	job, err := p.StartIndexedJob(ctx, platform.IndexedJob{
		Name:  "cutover-shards",
		Image: cutoverImage,
		// The coordinator's loopback URL is relayed for the pods.
		Args:   []string{"worker", "--coordinator", coordinator.URL},
		Count:  2,
		Env:    map[string]string{"CUTOVER_TEST": "job"},
		Labels: map[string]string{"cutover.test/case": "lost-worker"},
	})
	require.NoError(t, err)
	cs, ns := p.Kube().Client(), p.Kube().Namespace()
	pods := func() map[int]corev1.Pod {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=cutover-shards"})
		require.NoError(t, err)
		out := map[int]corev1.Pod{}
		for _, pod := range list.Items {
			i, err := strconv.Atoi(pod.Annotations[batchv1.JobCompletionIndexAnnotation])
			require.NoError(t, err, "pod %s has its index annotation", pod.Name)
			require.Equal(t, pod.Annotations[batchv1.JobCompletionIndexAnnotation], pod.Labels[batchv1.JobCompletionIndexAnnotation], "label and annotation agree")
			require.NotContains(t, out, i, "one pod per index")
			out[i] = pod
		}
		return out
	}
	require.Eventually(t, func() bool {
		running := 0
		for _, pod := range pods() {
			if pod.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 2
	}, 3*time.Minute, time.Second, "both workers running")
	t.Logf("2 workers running %s after the Job was created", time.Since(start).Round(time.Millisecond))
	for i, pod := range pods() {
		c := pod.Spec.Containers[0]
		require.Equal(t, kube.WorkerContainer, c.Name)
		require.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy)
		require.Equal(t, "lost-worker", pod.Labels["cutover.test/case"])
		var index *corev1.EnvVar
		for _, e := range c.Env {
			if e.Name == kube.EnvCompletionIndex {
				index = &e
			}
		}
		require.NotNil(t, index, "pod %s (index %d) gets %s", pod.Name, i, kube.EnvCompletionIndex)
		require.NotNil(t, index.ValueFrom)
		require.Contains(t, []string{
			"metadata.labels['" + batchv1.JobCompletionIndexAnnotation + "']",
			"metadata.annotations['" + batchv1.JobCompletionIndexAnnotation + "']",
		}, index.ValueFrom.FieldRef.FieldPath, "the pod's own index")
	}

	// Lose worker 1.
	victim := pods()[1].Name
	killed := time.Now()
	require.NoError(t, job.Kill(ctx, 1))
	select {
	case f := <-job.Failures():
		seen := time.Since(killed)
		t.Logf("failure of worker %d seen %s after the kill: pod %s, %s", f.Index, seen.Round(time.Millisecond), f.Pod, f.Reason)
		require.Equal(t, 1, f.Index)
		require.Equal(t, victim, f.Pod)
		require.Equal(t, "deleted", f.Reason)
		require.Less(t, seen, 10*time.Second)
	case <-time.After(30 * time.Second):
		t.Fatal("no failure reported within 30 s of the kill")
	}
	require.Contains(t, log.String(), "pod/"+victim+": Kill")
	require.Contains(t, log.String(), "pod/"+victim+": Warning WorkerFailed")

	// The Job counts index 1 failed and does not restart it; worker 0
	// keeps running.
	require.Eventually(t, func() bool {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "cutover-shards", metav1.GetOptions{})
		return err == nil && j.Status.FailedIndexes != nil && *j.Status.FailedIndexes == "1"
	}, time.Minute, 500*time.Millisecond, "the Job records index 1 as failed")
	time.Sleep(3 * time.Second) // room for a replacement, were one made
	after := pods()
	require.Equal(t, corev1.PodRunning, after[0].Status.Phase, "worker 0 keeps running")
	require.Nil(t, after[0].DeletionTimestamp)
	if p1, ok := after[1]; ok {
		require.Equal(t, victim, p1.Name, "index 1 is not restarted")
	}
	select {
	case f := <-job.Failures():
		t.Fatalf("a second failure: %+v", f)
	default:
	}

	stopping := time.Now()
	require.NoError(t, job.Stop(ctx))
	t.Logf("Stop took %s", time.Since(stopping).Round(time.Millisecond))
	_, open := <-job.Failures()
	require.False(t, open, "Failures is closed by Stop")
	_, err = cs.BatchV1().Jobs(ns).Get(ctx, "cutover-shards", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "the Job is gone")
	require.Empty(t, pods(), "its pods are gone")

	// Outcomes: two workers that exit 2 (bad input), one that succeeds.
	for _, tc := range []struct {
		name    string
		args    []string
		count   int
		succeed bool
	}{
		{"exits-2", []string{"no-such-command"}, 2, false},
		{"succeeds", []string{"version"}, 1, true},
	} {
		started := time.Now()
		j, err := p.StartIndexedJob(ctx, platform.IndexedJob{Name: tc.name, Image: cutoverImage, Args: tc.args, Count: tc.count})
		require.NoError(t, err)
		out, err := j.Wait(ctx)
		require.NoError(t, err)
		t.Logf("job %s: outcomes %+v after %s", tc.name, out, time.Since(started).Round(time.Millisecond))
		require.Len(t, out, tc.count)
		for i, o := range out {
			require.Equal(t, i, o.Index)
			require.Equal(t, tc.succeed, o.Succeeded, "%+v", o)
			if !tc.succeed {
				require.Equal(t, "exit code 2", o.Reason)
				require.Contains(t, o.Message, "unknown command", "the worker's last log lines")
			}
		}
		require.Len(t, j.Failures(), map[bool]int{true: 0, false: tc.count}[tc.succeed])
		require.NoError(t, j.Stop(ctx))
	}
}
