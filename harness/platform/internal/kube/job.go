package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/cutover/cutover/harness/platform"
)

// What an Indexed Job's pods are made of.
const (
	// WorkerContainer is the name of the worker pods' only container.
	WorkerContainer = "worker"
	// EnvCompletionIndex is the variable Kubernetes sets in each pod of an
	// Indexed Job to the pod's index.
	EnvCompletionIndex = "JOB_COMPLETION_INDEX"
)

// IndexedJob describes a batch/v1 Job with completionMode Indexed: Count
// pods, indexes 0..Count-1, all at once (the platform's type). A failed
// index is never retried. Empty resources take Manifest's defaults.
type IndexedJob = platform.IndexedJob

// WorkerFailure is a failed index of an Indexed Job (the platform's type).
type WorkerFailure = platform.WorkerFailure

// IndexOutcome is how one index of an Indexed Job ended (the platform's
// type).
type IndexOutcome = platform.IndexOutcome

// BuildJob builds the Job of j in namespace: completionMode Indexed,
// completions = parallelism = Count, restartPolicy Never and
// backoffLimitPerIndex 0, so a lost worker is not restarted and its index
// fails alone. backoffLimit is left at its maximum (what the API server
// defaults it to beside backoffLimitPerIndex): with 0, the Job controller
// fails the whole Job at the first failed pod (BackoffLimitExceeded) and
// deletes every other worker with it. The image is never pulled when the
// node has it (IfNotPresent: kind nodes get images loaded). Names,
// quantities and labels are checked here, before anything is sent.
func BuildJob(j IndexedJob, namespace string) (*batchv1.Job, error) {
	if errs := validation.IsDNS1123Label(j.Name); len(errs) > 0 {
		return nil, fmt.Errorf("build job: name %q: %s", j.Name, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return nil, fmt.Errorf("build job %s: namespace %q: %s", j.Name, namespace, strings.Join(errs, "; "))
	}
	if j.Image == "" {
		return nil, fmt.Errorf("build job %s: no image", j.Name)
	}
	if j.Count < 1 || j.Count > math.MaxInt32 {
		return nil, fmt.Errorf("build job %s: count %d, want at least 1", j.Name, j.Count)
	}
	if j.ActiveDeadline < 0 {
		return nil, fmt.Errorf("build job %s: active deadline %s < 0", j.Name, j.ActiveDeadline)
	}
	res, err := requirements(withDefaults(j.Resources))
	if err != nil {
		return nil, fmt.Errorf("build job %s: %w", j.Name, err)
	}
	keys := slices.Sorted(maps.Keys(j.Env))
	var env []corev1.EnvVar
	for _, k := range keys {
		if k == EnvCompletionIndex {
			return nil, fmt.Errorf("build job %s: env %s is set by Kubernetes", j.Name, k)
		}
		if errs := validation.IsEnvVarName(k); len(errs) > 0 {
			return nil, fmt.Errorf("build job %s: env %q: %s", j.Name, k, strings.Join(errs, "; "))
		}
		env = append(env, corev1.EnvVar{Name: k, Value: j.Env[k]})
	}
	lbl := make(map[string]string, len(j.Labels)+2)
	for k, v := range j.Labels {
		if k == LabelName || k == LabelManagedBy {
			return nil, fmt.Errorf("build job %s: label %s is cutover's own", j.Name, k)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("build job %s: label key %q: %s", j.Name, k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("build job %s: label %s value %q: %s", j.Name, k, v, strings.Join(errs, "; "))
		}
		lbl[k] = v
	}
	lbl[LabelName], lbl[LabelManagedBy] = j.Name, ManagedBy

	count := int32(j.Count)
	job := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{Kind: "Job", APIVersion: "batch/v1"},
		ObjectMeta: metav1.ObjectMeta{Name: j.Name, Namespace: namespace, Labels: copyMap(lbl)},
		Spec: batchv1.JobSpec{
			CompletionMode:       ptr(batchv1.IndexedCompletion),
			Completions:          ptr(count),
			Parallelism:          ptr(count),
			BackoffLimitPerIndex: ptr(int32(0)),
			BackoffLimit:         ptr(int32(math.MaxInt32)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: copyMap(lbl)},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name:            WorkerContainer,
						Image:           j.Image,
						Args:            slices.Clone(j.Args),
						Env:             env,
						Resources:       res,
						ImagePullPolicy: corev1.PullIfNotPresent,
						// A failed worker's last log lines become its
						// termination message, hence WorkerFailure.Message.
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
					EnableServiceLinks: ptr(false),
				},
			},
		},
	}
	if j.ActiveDeadline > 0 {
		job.Spec.ActiveDeadlineSeconds = ptr(ceilSeconds(j.ActiveDeadline))
	}
	return job, nil
}

// StartIndexedJob creates the namespace if Deploy has not, creates the Job
// of j and watches its pods. The JobRun reports failed indexes as they
// happen; Stop (or Close) deletes the Job.
func (p *Platform) StartIndexedJob(ctx context.Context, j IndexedJob) (*JobRun, error) {
	ns := p.Namespace()
	job, err := BuildJob(j, ns)
	if err != nil {
		return nil, err
	}
	if err := p.ensureNamespace(ctx); err != nil {
		return nil, fmt.Errorf("start job %s: %w", j.Name, err)
	}
	created, err := p.client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		return nil, fmt.Errorf("create job %s/%s: %w", ns, j.Name, err)
	}
	r, err := p.watchJob(created, j.Count)
	if err != nil {
		del := p.client.BatchV1().Jobs(ns).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationForeground)})
		return nil, errors.Join(fmt.Errorf("start job %s/%s: %w", ns, j.Name, err), del)
	}
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.jobs = append(p.jobs, r)
	}
	p.mu.Unlock()
	if closed {
		return nil, errors.Join(fmt.Errorf("start job %s/%s: platform is closed", ns, j.Name), r.Stop(ctx))
	}
	p.logf("job/"+j.Name, "Started", "%d workers of %s", j.Count, j.Image)
	return r, nil
}

// JobRun is a running Indexed Job: it watches the Job's pods (an informer
// on the Job's selector) and records each index's outcome once.
type JobRun struct {
	p     *Platform
	name  string
	count int
	sel   string // the Job's pod selector

	factory informers.SharedInformerFactory
	pods    listersv1.PodLister
	stop    chan struct{} // stops the informer
	ctx     context.Context
	cancel  context.CancelFunc // ends the deletions of pods that cannot start
	wg      sync.WaitGroup     // those deletions

	mu       sync.Mutex
	outcomes map[int]IndexOutcome
	failures chan WorkerFailure // capacity count: one send per index at most
	changed  chan struct{}      // closed and replaced when an outcome is recorded
	stopped  bool
}

var _ platform.Job = (*JobRun)(nil)

// watchJob starts the informer of job's pods and returns once its cache
// is filled.
func (p *Platform) watchJob(job *batchv1.Job, count int) (*JobRun, error) {
	if job.Spec.Selector == nil {
		return nil, errors.New("the API server gave the job no selector")
	}
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of the job: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &JobRun{
		p:        p,
		name:     job.Name,
		count:    count,
		sel:      sel.String(),
		factory:  informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithNamespace(job.Namespace), informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() })),
		stop:     make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
		outcomes: map[int]IndexOutcome{},
		failures: make(chan WorkerFailure, count),
		changed:  make(chan struct{}),
	}
	informer := r.factory.Core().V1().Pods()
	r.pods = informer.Lister()
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.observe(obj) },
		UpdateFunc: func(_, cur any) { r.observe(cur) },
		DeleteFunc: func(obj any) { r.gone(obj) },
	}); err != nil {
		cancel()
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	r.factory.Start(r.stop)
	for typ, ok := range r.factory.WaitForCacheSync(r.stop) {
		if !ok {
			r.stopWatch()
			return nil, fmt.Errorf("watch %s: cache did not sync", typ)
		}
	}
	return r, nil
}

// Name is the Job's name.
func (r *JobRun) Name() string { return r.name }

// Failures delivers one WorkerFailure per index whose pod failed, was
// evicted, OOM-killed, deleted before it succeeded, or could not start
// (ImagePullBackOff, ErrImagePull, CreateContainerConfigError ...), as soon
// as the watch sees it. A pod that cannot start is deleted then, so that
// its index's outcome is final. The channel is buffered for every index
// (nobody has to read it) and closed by Stop.
func (r *JobRun) Failures() <-chan WorkerFailure { return r.failures }

// Wait returns when every index has succeeded or failed, with each
// index's outcome in index order, or when ctx ends or the run is stopped
// (with the outcomes known so far and an error). Besides the pods, it
// reads the Job's status, which settles indexes whose pods it never saw.
func (r *JobRun) Wait(ctx context.Context) ([]IndexOutcome, error) {
	t := time.NewTicker(r.p.opts.PollInterval)
	defer t.Stop()
	for {
		r.mu.Lock()
		out, stopped, changed := r.outcomeList(), r.stopped, r.changed
		r.mu.Unlock()
		switch {
		case len(out) == r.count:
			return out, nil
		case stopped:
			return out, fmt.Errorf("wait for job %s: stopped with %d of %d indexes ended", r.name, len(out), r.count)
		}
		select {
		case <-ctx.Done():
			return out, fmt.Errorf("wait for job %s: %w (%d of %d indexes ended)", r.name, ctx.Err(), len(out), r.count)
		case <-changed:
		case <-t.C:
			if err := r.settleFromJob(ctx); err != nil && ctx.Err() == nil {
				return out, fmt.Errorf("wait for job %s: %w", r.name, err)
			}
		}
	}
}

// outcomeList is the recorded outcomes by index; r.mu is held.
func (r *JobRun) outcomeList() []IndexOutcome {
	out := make([]IndexOutcome, 0, len(r.outcomes))
	for _, o := range r.outcomes {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// settleFromJob records, once the Job has finished, the outcome of the
// indexes no pod has told: completed indexes succeeded, the others failed
// with the reason of the Job's Failed condition (DeadlineExceeded ...).
func (r *JobRun) settleFromJob(ctx context.Context) error {
	job, err := r.p.client.BatchV1().Jobs(r.p.Namespace()).Get(ctx, r.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get job: %w", err)
	}
	var failed *batchv1.JobCondition
	complete := false
	for i, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			complete = true
		case batchv1.JobFailed:
			failed = &job.Status.Conditions[i]
		}
	}
	if !complete && failed == nil {
		return nil
	}
	succeeded, err := parseIndexes(job.Status.CompletedIndexes)
	if err != nil {
		return fmt.Errorf("job status: completed indexes: %w", err)
	}
	now := time.Now()
	for i := range r.count {
		o := IndexOutcome{Index: i, Pod: r.podOf(i), At: now, Succeeded: succeeded[i] || failed == nil}
		if !o.Succeeded {
			o.Reason, o.Message = failed.Reason, failed.Message
		}
		r.record(o, false)
	}
	return nil
}

// podOf is the name of a pod of index in the watch's cache ("" if none).
func (r *JobRun) podOf(index int) string {
	pods, err := r.pods.List(labels.Everything())
	if err != nil {
		return ""
	}
	for _, pod := range pods {
		if i, ok := podIndex(pod); ok && i == index {
			return pod.Name
		}
	}
	return ""
}

// Kill deletes the pod of one index with a grace period of zero, as a
// lost worker: its containers get SIGKILL, and the index is not restarted
// (backoffLimitPerIndex 0). It does not wait; Failures reports the index.
func (r *JobRun) Kill(ctx context.Context, index int) error {
	if index < 0 || index >= r.count {
		return fmt.Errorf("kill worker %d of job %s: no such index (0..%d)", index, r.name, r.count-1)
	}
	ns := r.p.Namespace()
	list, err := r.p.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: r.sel})
	if err != nil {
		return fmt.Errorf("kill worker %d of job %s: list pods: %w", index, r.name, err)
	}
	killed := 0
	for i := range list.Items {
		pod := &list.Items[i]
		if ix, ok := podIndex(pod); !ok || ix != index || pod.DeletionTimestamp != nil ||
			pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		r.p.logf("pod/"+pod.Name, "Kill", "worker %d of job %s, deleting with grace period 0", index, r.name)
		err := r.p.client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("kill worker %d of job %s: delete pod %s: %w", index, r.name, pod.Name, err)
		}
		killed++
	}
	if killed == 0 {
		return fmt.Errorf("kill worker %d of job %s: no pod of that index is running", index, r.name)
	}
	return nil
}

// Stop stops the watch, closes Failures and deletes the Job with
// foreground propagation, then waits until it is gone, its pods with it
// (each gets its termination grace period), or ctx ends. Once it has
// returned no worker runs. It is safe to call twice.
func (r *JobRun) Stop(ctx context.Context) error {
	r.stopWatch()
	ns := r.p.Namespace()
	jobs := r.p.client.BatchV1().Jobs(ns)
	err := jobs.Delete(ctx, r.name, metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationForeground)})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop job %s/%s: %w", ns, r.name, err)
	}
	r.p.logf("job/"+r.name, "Stop", "deleting the job and its pods")
	t := time.NewTicker(r.p.opts.PollInterval)
	defer t.Stop()
	for {
		_, err := jobs.Get(ctx, r.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop job %s/%s: still deleting: %w", ns, r.name, ctx.Err())
		case <-t.C:
		}
	}
}

// stopWatch marks the run stopped, closes Failures, stops the informer and
// ends the deletions under way; safe to call twice.
func (r *JobRun) stopWatch() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	close(r.failures)
	close(r.changed)
	r.mu.Unlock()
	close(r.stop)
	r.factory.Shutdown()
	r.cancel()
	r.wg.Wait()
}

// indexedPod is an informer's object as a pod of the Job, with its index.
func indexedPod(obj any) (*corev1.Pod, int, bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, 0, false
	}
	index, ok := podIndex(pod)
	return pod, index, ok
}

// observe records the outcome of a pod's index once the pod shows one.
func (r *JobRun) observe(obj any) {
	pod, index, ok := indexedPod(obj)
	if !ok {
		return
	}
	ended, succeeded, reason, message := podOutcome(pod)
	if !ended {
		return
	}
	o := IndexOutcome{Index: index, Pod: pod.Name, Succeeded: succeeded, Reason: reason, Message: message, At: time.Now()}
	// A pod that cannot start may still start later; deleted, it never
	// runs the work its index is now counted as not having done.
	r.record(o, !succeeded && pod.DeletionTimestamp == nil && cannotStart[reason])
}

// gone records the outcome of a deleted pod's index: failed ("deleted")
// unless the pod had succeeded.
func (r *JobRun) gone(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, index, ok := indexedPod(obj)
	if !ok {
		return
	}
	ended, succeeded, reason, message := podOutcome(pod)
	if !ended {
		reason, message = "deleted", ""
	}
	r.record(IndexOutcome{Index: index, Pod: pod.Name, Succeeded: succeeded, Reason: reason, Message: message, At: time.Now()}, false)
}

// record keeps the first outcome of each index, delivers a failure on
// Failures and logs it; with deletePod it also deletes the failed pod (in
// the background, until Stop). Nothing is recorded once stopped.
func (r *JobRun) record(o IndexOutcome, deletePod bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || o.Index < 0 || o.Index >= r.count {
		return
	}
	if _, done := r.outcomes[o.Index]; done {
		return
	}
	r.outcomes[o.Index] = o
	close(r.changed)
	r.changed = make(chan struct{})
	if o.Succeeded {
		return
	}
	r.failures <- WorkerFailure{Index: o.Index, Pod: o.Pod, Reason: o.Reason, Message: o.Message, At: o.At}
	r.p.logf("pod/"+o.Pod, "Warning WorkerFailed", "worker %d of job %s: %s", o.Index, r.name, o.Reason)
	if !deletePod || o.Pod == "" {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := r.p.client.CoreV1().Pods(r.p.Namespace()).Delete(r.ctx, o.Pod, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
		if err != nil && !apierrors.IsNotFound(err) && r.ctx.Err() == nil {
			r.p.logf("pod/"+o.Pod, "Warning DeleteFailed", "worker %d of job %s could not start and could not be deleted: %v", o.Index, r.name, err)
		}
	}()
}

// cannotStart are the reasons of a waiting container that is not going to
// run without help.
var cannotStart = map[string]bool{
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"ErrImageNeverPull":          true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
	"CrashLoopBackOff":           true,
}

// podIndex is the completion index of a pod of an Indexed Job: its label
// (Kubernetes 1.28 on), else its annotation.
func podIndex(pod *corev1.Pod) (int, bool) {
	v, ok := pod.Labels[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return 0, false
	}
	return i, true
}

// podOutcome says whether a worker pod has ended its index, whether it
// succeeded, and if not why: the pod's own reason (Evicted,
// DeadlineExceeded ...), OOMKilled, deleted (or the reason of its
// DisruptionTarget condition: EvictionByEvictionAPI,
// PreemptionByScheduler ...), the container's exit code, or the reason a
// container cannot start.
func podOutcome(pod *corev1.Pod) (ended, succeeded bool, reason, message string) {
	if pod.Status.Phase == corev1.PodSucceeded {
		return true, true, "", ""
	}
	term := terminated(pod)
	switch {
	case pod.Status.Phase == corev1.PodFailed && pod.Status.Reason != "":
		return true, false, pod.Status.Reason, pod.Status.Message
	case term != nil && term.Reason == "OOMKilled":
		return true, false, term.Reason, term.Message
	case pod.DeletionTimestamp != nil:
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason != "" {
				return true, false, c.Reason, c.Message
			}
		}
		return true, false, "deleted", ""
	case term != nil && term.ExitCode != 0, pod.Status.Phase == corev1.PodFailed:
		return true, false, exitReason(term), pod.Status.Message + termMessage(term)
	}
	for _, c := range pod.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && cannotStart[w.Reason] {
			return true, false, w.Reason, w.Message
		}
	}
	return false, false, "", ""
}

// terminated is the worker container's terminated state, if it has ended.
func terminated(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	for _, c := range pod.Status.ContainerStatuses {
		if c.Name == WorkerContainer && c.State.Terminated != nil {
			return c.State.Terminated
		}
	}
	return nil
}

// exitReason is "exit code N", or the runtime's reason when it says more
// than "Error" (StartError, ContainerCannotRun), or "failed".
func exitReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t == nil:
		return "failed"
	case t.Reason != "" && t.Reason != "Error" && t.Reason != "Completed":
		return t.Reason
	}
	return fmt.Sprintf("exit code %d", t.ExitCode)
}

func termMessage(t *corev1.ContainerStateTerminated) string {
	if t == nil {
		return ""
	}
	return t.Message
}

// parseIndexes reads a Job status's list of indexes ("1,3-5"; "" is none).
func parseIndexes(s string) (map[int]bool, error) {
	out := map[int]bool{}
	if s == "" {
		return out, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("index %q: %w", part, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("index %q: %w", part, err)
			}
		}
		if a < 0 || b < a {
			return nil, fmt.Errorf("index %q: bad range", part)
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, nil
}
