package kube

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/cutover/cutover/harness/platform"
)

// EventLog watches one namespace's pods and events through informers and
// writes their lifecycle as log lines: every Kubernetes event (Scheduled,
// Pulled, Started, Killing, Unhealthy, BackOff, ScalingReplicaSet, ...), and
// the transitions only visible in pod status (Ready, NotReady, Restarted,
// Deleted). It also keeps the pod cache that Platform.Replicas reads.
type EventLog struct {
	w       io.Writer
	mu      sync.Mutex // serialises writes to w
	now     func() time.Time
	factory informers.SharedInformerFactory
	pods    listersv1.PodLister
	stop    chan struct{}
	once    sync.Once
}

// StartEventLog starts the informers of namespace and returns once their
// caches are filled (or stop is requested). Stop it with Stop.
func StartEventLog(client kubernetes.Interface, namespace string, w io.Writer) (*EventLog, error) {
	if w == nil {
		w = io.Discard
	}
	l := &EventLog{
		w:       w,
		now:     time.Now,
		factory: informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace)),
		stop:    make(chan struct{}),
	}
	podInformer := l.factory.Core().V1().Pods()
	l.pods = podInformer.Lister()
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { l.podAdded(obj) },
		UpdateFunc: func(old, cur any) { l.podUpdated(old, cur) },
		DeleteFunc: func(obj any) { l.podDeleted(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch pods of %s: %w", namespace, err)
	}
	if _, err := l.factory.Core().V1().Events().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { l.event(nil, obj) },
		UpdateFunc: func(old, cur any) {
			l.event(old, cur)
		},
	}); err != nil {
		return nil, fmt.Errorf("watch events of %s: %w", namespace, err)
	}
	l.factory.Start(l.stop)
	for typ, ok := range l.factory.WaitForCacheSync(l.stop) {
		if !ok {
			l.Stop()
			return nil, fmt.Errorf("watch %s of %s: cache did not sync", typ, namespace)
		}
	}
	return l, nil
}

// Pods is the informer's pod cache.
func (l *EventLog) Pods() listersv1.PodLister { return l.pods }

// Logf writes a line about object (e.g. "node/kind-worker") at the current time.
func (l *EventLog) Logf(object, reason, format string, args ...any) {
	l.write(line(l.now(), object, reason, fmt.Sprintf(format, args...)))
}

// Stop stops the informers and waits for their goroutines; safe to call twice.
func (l *EventLog) Stop() {
	l.once.Do(func() {
		close(l.stop)
		l.factory.Shutdown()
	})
}

func (l *EventLog) write(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, line)
}

func (l *EventLog) podAdded(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	l.write(line(l.now(), "pod/"+pod.Name, "Created", "pod created"))
	if podReady(pod) {
		l.write(line(l.now(), "pod/"+pod.Name, "Ready", "readiness probe succeeded"))
	}
}

func (l *EventLog) podUpdated(oldObj, curObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	cur, ok2 := curObj.(*corev1.Pod)
	if !ok1 || !ok2 || old.ResourceVersion == cur.ResourceVersion {
		return
	}
	obj := "pod/" + cur.Name
	if r := restarts(cur); r > restarts(old) {
		l.write(line(l.now(), obj, "Restarted", fmt.Sprintf("container restarted (restarts=%d)", r)))
	}
	switch wasReady, isReady := podReady(old), podReady(cur); {
	case !wasReady && isReady:
		l.write(line(l.now(), obj, "Ready", "readiness probe succeeded"))
	case wasReady && !isReady:
		l.write(line(l.now(), obj, "NotReady", "removed from service endpoints"))
	}
	if old.DeletionTimestamp == nil && cur.DeletionTimestamp != nil {
		grace := int64(0)
		if cur.DeletionGracePeriodSeconds != nil {
			grace = *cur.DeletionGracePeriodSeconds
		}
		l.write(line(l.now(), obj, "Terminating", fmt.Sprintf("grace period %ds", grace)))
	}
}

func (l *EventLog) podDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	l.write(line(l.now(), "pod/"+pod.Name, "Deleted", "pod deleted"))
}

func (l *EventLog) event(oldObj, curObj any) {
	ev, ok := curObj.(*corev1.Event)
	if !ok {
		return
	}
	if old, ok := oldObj.(*corev1.Event); ok && (old.ResourceVersion == ev.ResourceVersion || old.Count == ev.Count) {
		return
	}
	// EventTime has microseconds, LastTimestamp whole seconds: a pod
	// scheduled 0.3 s after a drain began must not read as before it.
	// LastTimestamp wins only for a repeated event's later occurrence.
	ts := ev.LastTimestamp.Time
	switch {
	case !ev.EventTime.IsZero() && (ts.IsZero() || ts.Sub(ev.EventTime.Time) < time.Second):
		ts = ev.EventTime.Time
	case ts.IsZero():
		ts = ev.CreationTimestamp.Time
	}
	if ts.IsZero() {
		ts = l.now()
	}
	reason := ev.Reason
	if ev.Type == corev1.EventTypeWarning {
		reason = "Warning " + reason
	}
	l.write(line(ts, strings.ToLower(ev.InvolvedObject.Kind)+"/"+ev.InvolvedObject.Name, reason, ev.Message))
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func restarts(p *corev1.Pod) int {
	n := 0
	for _, c := range p.Status.ContainerStatuses {
		n += int(c.RestartCount)
	}
	return n
}

// line is an event line (platform.Event) as a string.
func line(t time.Time, object, reason, message string) string {
	return platform.Event{Time: t, Object: object, Reason: reason, Message: message}.String()
}
