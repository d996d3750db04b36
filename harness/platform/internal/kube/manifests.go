// Package kube runs the service on a Kubernetes cluster through client-go:
// it builds the manifests (Deployment, Service, PodDisruptionBudget, an
// optional HorizontalPodAutoscaler) from the real API types, applies them in
// a namespace of its own, waits for rollouts the way `kubectl rollout status`
// does, injects pod faults (delete, rolling restart, scale, drain), runs
// Indexed Jobs of workers and reports the workers lost, and writes the pods'
// lifecycle events to a log stream. The kind and kubeconfig
// platforms are thin constructors over it: they only differ in how they get
// a cluster.
package kube

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/cutover/cutover/harness/platform"
)

// Labels put on everything cutover creates.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "cutover"
	// RestartedAtAnnotation is the pod template annotation `kubectl rollout
	// restart` sets; changing it rolls every pod.
	RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
)

// Probe is the timing of an HTTP probe, in Kubernetes' own terms.
type Probe struct {
	InitialDelay     time.Duration
	Period           time.Duration
	Timeout          time.Duration
	SuccessThreshold int32
	FailureThreshold int32
}

// Resources are the container's requests and limits as quantities
// ("250m", "256Mi"): the platform's type.
type Resources = platform.Resources

// HPA asks for a HorizontalPodAutoscaler on CPU utilisation. It needs a
// metrics server in the cluster (kind has none by default).
type HPA struct {
	MinReplicas, MaxReplicas int32
	// CPUUtilization is the target average utilisation in percent of the
	// CPU request.
	CPUUtilization int32
}

// Manifest configures the objects built for a service. The zero value gets
// Kubernetes-like defaults from WithDefaults.
type Manifest struct {
	Namespace string
	// ContainerPort is the port the service listens on inside the pod; it
	// is passed as PORT. Default 8080.
	ContainerPort int32
	// ServiceType is ClusterIP, NodePort (kind, reached through
	// extraPortMappings) or LoadBalancer (a cloud cluster). Default NodePort.
	ServiceType corev1.ServiceType
	// ServicePort is the Service's port. Default 80.
	ServicePort int32
	// NodePort is the fixed node port of a NodePort Service. Default 30080.
	NodePort int32
	// ImagePullPolicy defaults to IfNotPresent, which is what an image
	// loaded into kind nodes needs.
	ImagePullPolicy corev1.PullPolicy
	Resources       Resources
	Readiness       Probe
	Liveness        Probe
	// TerminationGrace is terminationGracePeriodSeconds. Default 30 s.
	TerminationGrace time.Duration
	// PreStopSleep delays SIGTERM after a pod is marked terminating, so
	// the endpoints controller and kube-proxy drop it from the Service
	// before it stops accepting connections. Default 2 s; negative
	// disables it.
	PreStopSleep time.Duration
	// ProgressDeadline is progressDeadlineSeconds. Default 300 s.
	ProgressDeadline time.Duration
	// MaxUnavailable of the PodDisruptionBudget. Default 1.
	MaxUnavailable int32
	// HPA, when set, adds a HorizontalPodAutoscaler.
	HPA *HPA
}

// WithDefaults fills the zero fields of m.
func (m Manifest) WithDefaults() Manifest {
	if m.Namespace == "" {
		m.Namespace = "cutover"
	}
	if m.ContainerPort == 0 {
		m.ContainerPort = 8080
	}
	if m.ServiceType == "" {
		m.ServiceType = corev1.ServiceTypeNodePort
	}
	if m.ServicePort == 0 {
		m.ServicePort = 80
	}
	if m.NodePort == 0 && m.ServiceType == corev1.ServiceTypeNodePort {
		m.NodePort = 30080
	}
	if m.ImagePullPolicy == "" {
		m.ImagePullPolicy = corev1.PullIfNotPresent
	}
	m.Resources = withDefaults(m.Resources)
	m.Readiness = m.Readiness.withDefaults(Probe{Period: 2 * time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3})
	m.Liveness = m.Liveness.withDefaults(Probe{Period: 10 * time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3})
	if m.TerminationGrace == 0 {
		m.TerminationGrace = 30 * time.Second
	}
	if m.PreStopSleep == 0 {
		m.PreStopSleep = 2 * time.Second
	}
	if m.ProgressDeadline == 0 {
		m.ProgressDeadline = 300 * time.Second
	}
	if m.MaxUnavailable == 0 {
		m.MaxUnavailable = 1
	}
	return m
}

func (p Probe) withDefaults(d Probe) Probe {
	if p.Period == 0 {
		p.Period = d.Period
	}
	if p.Timeout == 0 {
		p.Timeout = d.Timeout
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = d.SuccessThreshold
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = d.FailureThreshold
	}
	return p
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Objects are the manifests of one service.
type Objects struct {
	Namespace  *corev1.Namespace
	Deployment *appsv1.Deployment
	Service    *corev1.Service
	PDB        *policyv1.PodDisruptionBudget
	// HPA is nil unless Manifest.HPA is set.
	HPA *autoscalingv2.HorizontalPodAutoscaler
}

// List returns the objects in the order they are applied.
func (o Objects) List() []runtime.Object {
	list := []runtime.Object{o.Namespace, o.Deployment, o.Service, o.PDB}
	if o.HPA != nil {
		list = append(list, o.HPA)
	}
	return list
}

// YAML renders the objects as one multi-document YAML file, as `kubectl
// apply -f` reads it. The run writes it to the results folder.
func (o Objects) YAML() ([]byte, error) {
	var buf bytes.Buffer
	for i, obj := range o.List() {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("encode manifest %d: %w", i, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// AppName turns a service name into a DNS-1123 label usable as a
// Kubernetes object name: lower case, [a-z0-9-], at most 63 characters,
// starting and ending with an alphanumeric. An empty result becomes "service".
func AppName(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			if len(b) > 0 && b[len(b)-1] != '-' {
				b = append(b, '-')
			}
		}
	}
	// Leave room for the pod-name suffixes a Deployment adds.
	if len(b) > 40 {
		b = b[:40]
	}
	out := strings.Trim(string(b), "-")
	if out == "" {
		return "service"
	}
	return out
}

// BuildObjects builds the manifests of spec with the given replica count.
// Quantities and names are checked here, so a bad scenario fails before
// anything is sent to a cluster.
func BuildObjects(spec platform.ServiceSpec, replicas int32, m Manifest) (Objects, error) {
	m = m.WithDefaults()
	if spec.Image == "" {
		return Objects{}, fmt.Errorf("build manifests: service %q has no image", spec.Name)
	}
	if replicas < 0 {
		return Objects{}, fmt.Errorf("build manifests: replicas %d < 0", replicas)
	}
	if errs := validation.IsDNS1123Label(m.Namespace); len(errs) > 0 {
		return Objects{}, fmt.Errorf("build manifests: namespace %q: %s", m.Namespace, strings.Join(errs, "; "))
	}
	res, err := requirements(m.Resources)
	if err != nil {
		return Objects{}, fmt.Errorf("build manifests: %w", err)
	}
	if m.PreStopSleep > 0 && m.PreStopSleep >= m.TerminationGrace {
		return Objects{}, fmt.Errorf("build manifests: preStop sleep %s must be shorter than the termination grace period %s", m.PreStopSleep, m.TerminationGrace)
	}
	name := AppName(spec.Name)
	labels := map[string]string{LabelName: name, LabelManagedBy: ManagedBy}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{LabelName: name}}
	meta := func(kind, apiVersion string) (metav1.TypeMeta, metav1.ObjectMeta) {
		return metav1.TypeMeta{Kind: kind, APIVersion: apiVersion},
			metav1.ObjectMeta{Name: name, Namespace: m.Namespace, Labels: copyMap(labels)}
	}

	var o Objects
	o.Namespace = namespaceObject(m.Namespace)

	container := corev1.Container{
		Name:            name,
		Image:           spec.Image,
		ImagePullPolicy: m.ImagePullPolicy,
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: m.ContainerPort, Protocol: corev1.ProtocolTCP}},
		Env:             envVars(spec.Env, m.ContainerPort),
		Resources:       res,
		ReadinessProbe:  httpProbe(orDefault(spec.ReadyPath, "/readyz"), m.Readiness),
		LivenessProbe:   httpProbe(orDefault(spec.HealthPath, "/healthz"), m.Liveness),
	}
	if m.PreStopSleep > 0 {
		container.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Sleep: &corev1.SleepAction{Seconds: ceilSeconds(m.PreStopSleep)},
		}}
	}
	maxSurge, maxUnavailable := intstr.FromInt32(1), intstr.FromInt32(0)
	o.Deployment = &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: selector,
		Strategy: appsv1.DeploymentStrategy{
			// Surge one, never go below the wanted count: the zero-downtime
			// rolling update the local platform does too.
			Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: &maxSurge, MaxUnavailable: &maxUnavailable,
			},
		},
		ProgressDeadlineSeconds: ptr(int32(ceilSeconds(m.ProgressDeadline))),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: copyMap(labels)},
			Spec: corev1.PodSpec{
				Containers:                    []corev1.Container{container},
				TerminationGracePeriodSeconds: ptr(ceilSeconds(m.TerminationGrace)),
				// Service links would add <SVC>_PORT variables next to the
				// service's own configuration.
				EnableServiceLinks: ptr(false),
			},
		},
	}}
	o.Deployment.TypeMeta, o.Deployment.ObjectMeta = meta("Deployment", "apps/v1")

	port := corev1.ServicePort{
		Name: "http", Protocol: corev1.ProtocolTCP, Port: m.ServicePort,
		TargetPort: intstr.FromString("http"),
	}
	if m.ServiceType == corev1.ServiceTypeNodePort {
		port.NodePort = m.NodePort
	}
	o.Service = &corev1.Service{Spec: corev1.ServiceSpec{
		Type:     m.ServiceType,
		Selector: map[string]string{LabelName: name},
		Ports:    []corev1.ServicePort{port},
	}}
	o.Service.TypeMeta, o.Service.ObjectMeta = meta("Service", "v1")

	pdbMax := intstr.FromInt32(m.MaxUnavailable)
	o.PDB = &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{
		MaxUnavailable: &pdbMax,
		Selector:       selector.DeepCopy(),
	}}
	o.PDB.TypeMeta, o.PDB.ObjectMeta = meta("PodDisruptionBudget", "policy/v1")

	if h := m.HPA; h != nil {
		if h.MinReplicas < 1 || h.MaxReplicas < h.MinReplicas || h.CPUUtilization < 1 {
			return Objects{}, fmt.Errorf("build manifests: hpa needs 1 <= min (%d) <= max (%d) and a cpu target > 0 (%d)", h.MinReplicas, h.MaxReplicas, h.CPUUtilization)
		}
		o.HPA = &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    ptr(h.MinReplicas),
			MaxReplicas:    h.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{
						Type:               autoscalingv2.UtilizationMetricType,
						AverageUtilization: ptr(h.CPUUtilization),
					},
				},
			}},
		}}
		o.HPA.TypeMeta, o.HPA.ObjectMeta = meta("HorizontalPodAutoscaler", "autoscaling/v2")
	}
	return o, nil
}

// namespaceObject is the namespace a platform creates and owns.
func namespaceObject(name string) *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelManagedBy: ManagedBy}},
	}
}

// withDefaults fills the empty fields of r: a request of 100m CPU and 64Mi,
// limits of 1 CPU and 256Mi.
func withDefaults(r Resources) Resources {
	r.CPURequest = orDefault(r.CPURequest, "100m")
	r.CPULimit = orDefault(r.CPULimit, "1")
	r.MemoryRequest = orDefault(r.MemoryRequest, "64Mi")
	r.MemoryLimit = orDefault(r.MemoryLimit, "256Mi")
	return r
}

func requirements(r Resources) (corev1.ResourceRequirements, error) {
	parse := func(field, s string) (resource.Quantity, error) {
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return q, fmt.Errorf("resources %s %q: %w", field, s, err)
		}
		return q, nil
	}
	var out corev1.ResourceRequirements
	out.Requests, out.Limits = corev1.ResourceList{}, corev1.ResourceList{}
	for _, f := range []struct {
		field string
		value string
		list  corev1.ResourceList
		name  corev1.ResourceName
	}{
		{"cpu request", r.CPURequest, out.Requests, corev1.ResourceCPU},
		{"memory request", r.MemoryRequest, out.Requests, corev1.ResourceMemory},
		{"cpu limit", r.CPULimit, out.Limits, corev1.ResourceCPU},
		{"memory limit", r.MemoryLimit, out.Limits, corev1.ResourceMemory},
	} {
		q, err := parse(f.field, f.value)
		if err != nil {
			return out, err
		}
		f.list[f.name] = q
	}
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := out.Requests[n], out.Limits[n]
		if req.Cmp(lim) > 0 {
			return out, fmt.Errorf("resources: %s request %s is above its limit %s", n, req.String(), lim.String())
		}
	}
	return out, nil
}

func httpProbe(path string, p Probe) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP,
		}},
		InitialDelaySeconds: int32(ceilSeconds(p.InitialDelay)),
		PeriodSeconds:       int32(max(1, ceilSeconds(p.Period))),
		TimeoutSeconds:      int32(max(1, ceilSeconds(p.Timeout))),
		SuccessThreshold:    p.SuccessThreshold,
		FailureThreshold:    p.FailureThreshold,
	}
}

// envVars is the service's environment in a stable order, with PORT set to
// the container port (the service reads PORT like a Heroku app).
func envVars(env map[string]string, port int32) []corev1.EnvVar {
	keys := make([]string, 0, len(env))
	for k := range env {
		if k != "PORT" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]corev1.EnvVar, 0, len(keys)+1)
	out = append(out, corev1.EnvVar{Name: "PORT", Value: fmt.Sprint(port)})
	for _, k := range keys {
		out = append(out, corev1.EnvVar{Name: k, Value: env[k]})
	}
	return out
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func ptr[T any](v T) *T { return &v }
