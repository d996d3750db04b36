package weights_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/internal/weights"
	r53 "github.com/cutover/cutover/harness/route53"
)

var (
	creds  = r53.Credentials{AccessKeyID: "AKIDWEIGHTS", SecretAccessKey: "weights-secret"}
	heroku = netip.MustParseAddr("192.0.2.10")
	awsIP  = netip.MustParseAddr("192.0.2.20")
)

func startEmulator(t *testing.T, delay time.Duration) *r53.Server {
	t.Helper()
	srv, err := r53.Start(context.Background(), r53.Options{Seed: 1, PropagationDelay: delay, Credentials: creds})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

func newClient(t *testing.T, srv *r53.Server, poll time.Duration) *weights.Client {
	t.Helper()
	c, err := weights.New(context.Background(), weights.Config{
		Endpoint: srv.URL(), AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, PollInterval: poll,
	})
	require.NoError(t, err)
	return c
}

func TestApplySetsWaitsAndReadsBack(t *testing.T) {
	ctx := context.Background()
	const delay = 300 * time.Millisecond
	srv := startEmulator(t, delay)
	c := newClient(t, srv, 20*time.Millisecond)

	for _, stage := range []struct{ heroku, aws int64 }{{100, 0}, {75, 25}, {0, 100}} {
		start := time.Now()
		records, err := c.Apply(ctx, "cutover.test", "api.cutover.test", 60*time.Second, []weights.Target{
			{SetID: "heroku", Addr: heroku, Weight: stage.heroku},
			{SetID: "aws", Addr: awsIP, Weight: stage.aws},
		})
		require.NoError(t, err)
		require.GreaterOrEqual(t, time.Since(start), delay, "Apply returns only once the change is INSYNC")
		require.Equal(t, []weights.Record{
			{Type: "A", SetID: "aws", Weighted: true, Weight: stage.aws, TTL: time.Minute, Addrs: []netip.Addr{awsIP}},
			{Type: "A", SetID: "heroku", Weighted: true, Weight: stage.heroku, TTL: time.Minute, Addrs: []netip.Addr{heroku}},
		}, records)
	}

	zones, err := c.API().ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	require.NoError(t, err)
	require.Len(t, zones.HostedZones, 1, "EnsureZone reuses the zone")
}

func TestSetIsOneAtomicBatch(t *testing.T) {
	ctx := context.Background()
	srv := startEmulator(t, 0)
	c := newClient(t, srv, 0)
	zoneID, err := c.EnsureZone(ctx, "cutover.test")
	require.NoError(t, err)
	again, err := c.EnsureZone(ctx, "cutover.test.")
	require.NoError(t, err)
	require.Equal(t, zoneID, again)

	// A simple record at the name makes the weighted UPSERTs invalid: the
	// batch must fail whole, leaving no weighted record behind.
	_, err = c.API().ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &types.ChangeBatch{Changes: []types.Change{{Action: types.ChangeActionCreate, ResourceRecordSet: &types.ResourceRecordSet{
			Name: aws.String("api.cutover.test"), Type: types.RRTypeA, TTL: aws.Int64(60),
			ResourceRecords: []types.ResourceRecord{{Value: aws.String("192.0.2.99")}},
		}}}},
	})
	require.NoError(t, err)
	_, err = c.Set(ctx, zoneID, "api.cutover.test", time.Minute, []weights.Target{
		{SetID: "heroku", Addr: heroku, Weight: 90}, {SetID: "aws", Addr: awsIP, Weight: 10},
	})
	var icb *types.InvalidChangeBatch
	require.ErrorAs(t, err, &icb)
	records, err := c.Read(ctx, zoneID, "api.cutover.test")
	require.NoError(t, err)
	require.Equal(t, []weights.Record{{Type: "A", TTL: time.Minute, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.99")}}}, records)

	_, err = c.Set(ctx, "ZNOSUCHZONE", "api.cutover.test", time.Minute, []weights.Target{{SetID: "aws", Addr: awsIP, Weight: 1}})
	var noZone *types.NoSuchHostedZone
	require.ErrorAs(t, err, &noZone)
	_, err = c.Set(ctx, zoneID, "api.cutover.test", time.Minute, nil)
	require.ErrorContains(t, err, "no targets")
}

func TestReadPagesAndStopsAtTheName(t *testing.T) {
	ctx := context.Background()
	srv := startEmulator(t, 0)
	c := newClient(t, srv, 0)
	zoneID, err := c.EnsureZone(ctx, "cutover.test")
	require.NoError(t, err)

	// More sets than one page (300) at the name, and neighbours on both
	// sides in the listing order.
	var targets []weights.Target
	for i := range 305 {
		targets = append(targets, weights.Target{SetID: fmt.Sprintf("s%03d", i), Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Weight: int64(i % 256)})
	}
	targets = append(targets, weights.Target{SetID: "v6", Addr: netip.MustParseAddr("2001:db8::1"), Weight: 1})
	_, err = c.Set(ctx, zoneID, "api.cutover.test", 30*time.Second, targets)
	require.NoError(t, err)
	for _, name := range []string{"a.api.cutover.test", "apj.cutover.test", "ap.cutover.test"} {
		_, err = c.Set(ctx, zoneID, name, time.Minute, []weights.Target{{SetID: "x", Addr: awsIP, Weight: 1}})
		require.NoError(t, err)
	}

	records, err := c.Read(ctx, zoneID, "API.cutover.test")
	require.NoError(t, err)
	require.Len(t, records, 306)
	require.Equal(t, "A", records[0].Type)
	require.Equal(t, "s000", records[0].SetID)
	require.Equal(t, "AAAA", records[305].Type)
	require.Equal(t, "v6", records[305].SetID)
	for _, r := range records {
		require.Equal(t, 30*time.Second, r.TTL)
	}
}

func TestWaitInSyncHonoursTheContext(t *testing.T) {
	srv := startEmulator(t, time.Hour)
	c := newClient(t, srv, 10*time.Millisecond)
	zoneID, err := c.EnsureZone(context.Background(), "cutover.test")
	require.NoError(t, err)
	id, err := c.Set(context.Background(), zoneID, "api.cutover.test", time.Minute, []weights.Target{{SetID: "aws", Addr: awsIP, Weight: 1}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = c.WaitInSync(ctx, id)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
