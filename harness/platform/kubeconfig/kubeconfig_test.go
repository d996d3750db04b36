package kubeconfig

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
)

const twoClusters = `apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod
  cluster: {server: "https://prod.example.com:6443"}
- name: staging
  cluster: {server: "https://127.0.0.1:16443"}
users:
- name: u
  user: {token: "t"}
contexts:
- name: prod
  context: {cluster: prod, user: u}
- name: staging
  context: {cluster: staging, user: u}
`

func writeKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(path, []byte(twoClusters), 0o600))
	return path
}

func TestNewRefusesWithoutAnExplicitContext(t *testing.T) {
	_, err := New(Options{Kubeconfig: writeKubeconfig(t)})
	require.ErrorIs(t, err, ErrNoContext)
}

func TestNewUsesTheNamedContextNotTheCurrentOne(t *testing.T) {
	p, err := New(Options{Kubeconfig: writeKubeconfig(t), Context: "staging"})
	require.NoError(t, err)
	require.Equal(t, "https://127.0.0.1:16443", p.Server())
	require.Equal(t, "staging", p.Context())
	require.Equal(t, "kubeconfig", p.Name())
	require.Regexp(t, `^cutover-[0-9a-z]+$`, p.Namespace())
}

func TestNewNamesTheContextsWhenOneIsMissing(t *testing.T) {
	_, err := New(Options{Kubeconfig: writeKubeconfig(t), Context: "dev"})
	require.ErrorContains(t, err, `no context "dev" (contexts: prod, staging)`)
}

func TestDeployRefusesLoopbackStackEndpointsWithoutAStackHost(t *testing.T) {
	cs := fake.NewClientset()
	p := newPlatform(cs, nil, Options{Context: "staging", Manifest: kube.Manifest{Namespace: "cutover-t"}})
	err := p.Deploy(context.Background(), platform.ServiceSpec{Name: "c", Image: "i", Env: map[string]string{
		"DATABASE_URL": "postgres://u@127.0.0.1:5432/db", "REDIS_URL": "redis://localhost:6379", "MODE": "x",
	}}, 1)
	require.ErrorContains(t, err, "DATABASE_URL, REDIS_URL point at the harness's loopback")
	_, err = cs.CoreV1().Namespaces().Get(context.Background(), "cutover-t", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "nothing was created")
}

func TestDeployRelaysTheStackFromTheStackHostAndOwnsItsNamespace(t *testing.T) {
	cs := fake.NewClientset()
	p := newPlatform(cs, nil, Options{
		Context: "staging", StackHost: "127.0.0.41",
		Manifest: kube.Manifest{Namespace: "cutover-t"},
		Endpoint: "203.0.113.7:80", RolloutTimeout: 50 * time.Millisecond,
	})
	ctx := context.Background()
	// No controller runs in the fake, so the rollout wait times out; the
	// objects are applied before it.
	err := p.Deploy(ctx, platform.ServiceSpec{Name: "c", Image: "i", Env: map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:5432/db"}}, 2)
	require.ErrorContains(t, err, "rollout")
	d, err := cs.AppsV1().Deployments("cutover-t").Get(ctx, "c", metav1.GetOptions{})
	require.NoError(t, err)
	var dbURL string
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "DATABASE_URL" {
			dbURL = e.Value
		}
	}
	require.Regexp(t, `^postgres://u@127\.0\.0\.41:[0-9]+/db$`, dbURL, "relayed from a port on the stack host")
	svc, err := cs.CoreV1().Services("cutover-t").Get(ctx, "c", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, corev1.ServiceTypeLoadBalancer, svc.Spec.Type)
	require.Equal(t, "203.0.113.7:80", p.Endpoint())

	require.NoError(t, p.Close(ctx))
	_, err = cs.CoreV1().Namespaces().Get(ctx, "cutover-t", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "the namespace is deleted afterwards")
}
