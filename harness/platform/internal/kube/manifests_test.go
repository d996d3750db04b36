package kube

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/cutover/cutover/harness/platform"
)

// strictDecoder decodes YAML or JSON into the registered API types and
// fails on unknown or duplicate fields, as `kubectl apply
// --validate=strict` does.
func strictDecoder() runtime.Decoder {
	return serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
}

func decodeAll(t *testing.T, y []byte) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	for _, doc := range bytes.Split(y, []byte("\n---\n")) {
		obj, _, err := strictDecoder().Decode(doc, nil, nil)
		require.NoError(t, err, "document:\n%s", doc)
		out = append(out, obj)
	}
	return out
}

func TestManifestsRoundTripStrictlyThroughTheAPITypes(t *testing.T) {
	spec := platform.ServiceSpec{
		Name:  "Coupon API",
		Image: "cutover/couponapi:dev",
		Env:   map[string]string{"REDIS_URL": "redis://10.0.0.1:6379/0", "DATABASE_URL": "postgres://u:p@10.0.0.1:5432/db", "PORT": "1"},
	}
	objs, err := BuildObjects(spec, 3, Manifest{
		Namespace:        "cutover-run1",
		TerminationGrace: 20 * time.Second,
		Readiness:        Probe{Period: 1500 * time.Millisecond, FailureThreshold: 2},
		HPA:              &HPA{MinReplicas: 3, MaxReplicas: 18, CPUUtilization: 60},
	})
	require.NoError(t, err)
	y, err := objs.YAML()
	require.NoError(t, err)

	decoded := decodeAll(t, y)
	require.Len(t, decoded, 5)
	ns := decoded[0].(*corev1.Namespace)
	d := decoded[1].(*appsv1.Deployment)
	svc := decoded[2].(*corev1.Service)
	pdb := decoded[3].(*policyv1.PodDisruptionBudget)
	hpa := decoded[4].(*autoscalingv2.HorizontalPodAutoscaler)
	require.Equal(t, objs.Namespace, ns)
	require.Equal(t, objs.Deployment, d)
	require.Equal(t, objs.Service, svc)
	require.Equal(t, objs.PDB, pdb)
	require.Equal(t, objs.HPA, hpa)

	require.Equal(t, "coupon-api", d.Name)
	require.Equal(t, "cutover-run1", d.Namespace)
	require.Equal(t, int32(3), *d.Spec.Replicas)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	require.Equal(t, int64(20), *pod.TerminationGracePeriodSeconds)
	require.Equal(t, []corev1.EnvVar{
		{Name: "PORT", Value: "8080"},
		{Name: "DATABASE_URL", Value: "postgres://u:p@10.0.0.1:5432/db"},
		{Name: "REDIS_URL", Value: "redis://10.0.0.1:6379/0"},
	}, c.Env, "PORT is the container port; the rest sorted")
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, int32(2), c.ReadinessProbe.PeriodSeconds, "1.5 s rounds up")
	require.Equal(t, int32(2), c.ReadinessProbe.FailureThreshold)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, int32(10), c.LivenessProbe.PeriodSeconds)
	require.Equal(t, "100m", c.Resources.Requests.Cpu().String())
	require.Equal(t, "256Mi", c.Resources.Limits.Memory().String())
	require.Equal(t, int64(2), c.Lifecycle.PreStop.Sleep.Seconds)
	require.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy)
	require.Equal(t, 0, d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue())
	require.Equal(t, 1, d.Spec.Strategy.RollingUpdate.MaxSurge.IntValue())

	require.Equal(t, corev1.ServiceTypeNodePort, svc.Spec.Type)
	require.Equal(t, int32(30080), svc.Spec.Ports[0].NodePort)
	require.Equal(t, d.Spec.Selector.MatchLabels, svc.Spec.Selector)
	require.Equal(t, d.Spec.Selector, pdb.Spec.Selector)
	for k, v := range d.Spec.Selector.MatchLabels {
		require.Equal(t, v, d.Spec.Template.Labels[k], "the selector matches the pods")
	}
	require.Equal(t, 1, pdb.Spec.MaxUnavailable.IntValue())
	require.Equal(t, "coupon-api", hpa.Spec.ScaleTargetRef.Name)
	require.Equal(t, int32(60), *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization)
}

func TestStrictDecoderRejectsUnknownFields(t *testing.T) {
	// Proves the decoder above is strict, so the round trip means something.
	_, _, err := strictDecoder().Decode([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicaz: 3\n"), nil, nil)
	require.ErrorContains(t, err, "replicaz")
}

func TestBuildObjectsRejectsBadInput(t *testing.T) {
	good := platform.ServiceSpec{Name: "coupon", Image: "img"}
	for _, tc := range []struct {
		name string
		spec platform.ServiceSpec
		m    Manifest
		want string
	}{
		{"no image", platform.ServiceSpec{Name: "coupon"}, Manifest{}, "no image"},
		{"bad cpu", good, Manifest{Resources: Resources{CPURequest: "lots"}}, `cpu request "lots"`},
		{"request above limit", good, Manifest{Resources: Resources{MemoryRequest: "1Gi", MemoryLimit: "512Mi"}}, "above its limit"},
		{"bad namespace", good, Manifest{Namespace: "Not_Valid"}, "namespace"},
		{"prestop too long", good, Manifest{PreStopSleep: 5 * time.Second, TerminationGrace: 5 * time.Second}, "preStop"},
		{"hpa min above max", good, Manifest{HPA: &HPA{MinReplicas: 5, MaxReplicas: 2, CPUUtilization: 50}}, "hpa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildObjects(tc.spec, 1, tc.m)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestBuildObjectsOptions(t *testing.T) {
	objs, err := BuildObjects(platform.ServiceSpec{Name: "c", Image: "i", ReadyPath: "/ready", HealthPath: "/live"}, 0, Manifest{
		ServiceType: corev1.ServiceTypeLoadBalancer, ServicePort: 8443, PreStopSleep: -1, ImagePullPolicy: corev1.PullAlways,
	})
	require.NoError(t, err)
	c := objs.Deployment.Spec.Template.Spec.Containers[0]
	require.Equal(t, "/ready", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, "/live", c.LivenessProbe.HTTPGet.Path)
	require.Nil(t, c.Lifecycle, "negative preStop disables it")
	require.Equal(t, corev1.PullAlways, c.ImagePullPolicy)
	require.Equal(t, int32(0), objs.Service.Spec.Ports[0].NodePort, "no node port on a LoadBalancer unless asked")
	require.Equal(t, int32(8443), objs.Service.Spec.Ports[0].Port)
	require.Nil(t, objs.HPA)
	require.Len(t, objs.List(), 4)
}

func TestAppName(t *testing.T) {
	for in, want := range map[string]string{
		"coupon":                "coupon",
		"Coupon API":            "coupon-api",
		"--x--":                 "x",
		"":                      "service",
		"ü":                     "service",
		"a.b_c":                 "a-b-c",
		strings.Repeat("a", 99): strings.Repeat("a", 40),
	} {
		require.Equal(t, want, AppName(in), "AppName(%q)", in)
	}
}

func FuzzAppName(f *testing.F) {
	for _, s := range []string{"coupon", "Coupon API", "", "-", strings.Repeat("x-", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := AppName(s)
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Fatalf("AppName(%q) = %q: %v", s, n, errs)
		}
		if AppName(n) != n {
			t.Fatalf("AppName is not idempotent on %q", n)
		}
	})
}
