package kind

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	couponclient "github.com/cutover/cutover/couponapi/client"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/internal/kube"
	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/docker"
	"github.com/cutover/cutover/internal/testsupport"
)

// TestKindRunsCouponAPI deploys the reference service's image (built by
// `make images`) as a Deployment on a kind cluster, against a docker stack
// that serves on the host's loopback only: the pods reach its servers
// through the platform's relay on the kind network's gateway. A voucher is
// redeemed through the Service's NodePort on loopback.
func TestKindRunsCouponAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("creates a kind cluster and a docker stack (minutes); skipped with -short")
	}
	cli := dockerOrSkip(t)
	nodeImage := nodeImageOrSkip(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	s, err := docker.Start(ctx, docker.Options{Options: stack.Options{LogDir: t.TempDir()}, Seed: 1, Logf: t.Logf})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close(context.Background())) }()
	testsupport.RequireImages(t, cli, s.ServiceImage())
	urls, err := s.Endpoints().For(platform.Target)
	require.NoError(t, err)

	var log testsupport.SyncBuffer
	p, err := New(Options{
		ClusterName: clusterName("couponapi"),
		NodeImage:   nodeImage,
		Addr:        loopbackAddr(t),
		LogDir:      t.TempDir(),
		Log:         &log,
		Manifest:    kube.Manifest{Namespace: "cutover-couponapi"},
	})
	require.NoError(t, err)
	defer func() {
		require.NoError(t, p.Close(context.Background()))
		if t.Failed() {
			t.Logf("event log:\n%s", log.String())
		}
	}()
	require.NoError(t, p.Deploy(ctx, platform.ServiceSpec{Name: "couponapi", Image: s.ServiceImage(), Env: map[string]string{
		"DATABASE_URL": urls.PostgresURL, "REDIS_URL": urls.RedisURL, "MONGODB_URL": urls.MongoURL,
		"APP_ID": "kind", "APP_TOKEN": "kind",
	}}, 2))
	require.Len(t, p.Replicas(), 2)
	dep := p.Kube().Objects().Deployment
	require.Equal(t, s.ServiceImage(), dep.Spec.Template.Spec.Containers[0].Image)
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		require.NotContains(t, e.Value, "://127.", "%s points at the host's loopback, which pods cannot reach", e.Name)
	}
	require.Contains(t, log.String(), "Relay", "the stack's endpoints are relayed")

	c := couponclient.New("http://"+p.Endpoint(), "kind", "kind")
	ready, err := c.Ready(ctx)
	require.NoError(t, err, "readyz through the NodePort: postgres, redis and mongo reached from the pods")
	t.Logf("readyz: %+v", ready)
	_, err = c.CreateVoucher(ctx, couponapitest.Voucher("KIND-1", 0, 500))
	require.NoError(t, err)
	r, err := c.Redeem(ctx, "KIND-1", "kind-key-1", api.RedeemRequest{
		Customer: api.Customer{SourceID: "c1"},
		Order:    api.Order{ID: "o1", Amount: 2000},
	})
	require.NoError(t, err)
	require.Equal(t, api.ResultSuccess, r.Result)
	all, err := c.AllRedemptions(ctx, "KIND-1")
	require.NoError(t, err)
	require.Len(t, all, 1)
}
