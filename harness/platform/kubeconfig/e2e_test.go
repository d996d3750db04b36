package kubeconfig

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
)

// TestKubeconfigEndToEnd runs against a real cluster only when asked:
// CUTOVER_TEST_KUBE_CONTEXT names the context (never the current one by
// default) and CUTOVER_TEST_IMAGE an image of the test service
// (harness/platform/internal/testsvc) the cluster can pull.
// CUTOVER_TEST_KUBECONFIG optionally names the file.
func TestKubeconfigEndToEnd(t *testing.T) {
	kctx, image := os.Getenv("CUTOVER_TEST_KUBE_CONTEXT"), os.Getenv("CUTOVER_TEST_IMAGE")
	if kctx == "" || image == "" {
		t.Skip("needs a real cluster: set CUTOVER_TEST_KUBE_CONTEXT and CUTOVER_TEST_IMAGE")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, err := New(Options{
		Kubeconfig: os.Getenv("CUTOVER_TEST_KUBECONFIG"),
		Context:    kctx,
		Manifest:   kube.Manifest{ServiceType: "ClusterIP", Readiness: kube.Probe{Period: time.Second}},
		Endpoint:   "unused:80",
	})
	require.NoError(t, err)
	defer p.Close(context.Background())
	require.NoError(t, p.Deploy(ctx, platform.ServiceSpec{Name: "testsvc", Image: image}, 2))
	require.Len(t, p.Replicas(), 2)
	require.NoError(t, p.KillReplica(ctx, p.Replicas()[0].Name))
	require.NoError(t, p.Restart(ctx, ""))
	require.NoError(t, p.Scale(ctx, 3))
	require.Len(t, p.Replicas(), 3)
	ns := p.Namespace()
	require.NoError(t, p.Close(ctx))
	_, err = p.Client().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "namespace %s deleted", ns)
}
