package route53

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/stretchr/testify/require"
)

var testCreds = Credentials{AccessKeyID: "AKIDCUTOVERTEST", SecretAccessKey: "cutover-test-secret"}

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startEmulator starts an emulator that closes with the test.
func startEmulator(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Credentials == (Credentials{}) {
		o.Credentials = testCreds
	}
	srv, err := Start(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

// sdkClient is the real aws-sdk-go-v2 Route53 client pointed at srv.
func sdkClient(srv *Server, creds Credentials) *route53.Client {
	return route53.New(route53.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL()),
		Credentials:      credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	})
}

func createZone(t testing.TB, api *route53.Client, name string) string {
	t.Helper()
	out, err := api.CreateHostedZone(context.Background(), &route53.CreateHostedZoneInput{
		Name:            aws.String(name),
		CallerReference: aws.String("ref-" + name),
	})
	require.NoError(t, err)
	return aws.ToString(out.HostedZone.Id)
}

func weighted(name, setID string, weight, ttl int64, values ...string) *types.ResourceRecordSet {
	rrs := make([]types.ResourceRecord, len(values))
	for i, v := range values {
		rrs[i] = types.ResourceRecord{Value: aws.String(v)}
	}
	return &types.ResourceRecordSet{
		Name: aws.String(name), Type: types.RRTypeA, SetIdentifier: aws.String(setID),
		Weight: aws.Int64(weight), TTL: aws.Int64(ttl), ResourceRecords: rrs,
	}
}

func simple(name string, typ types.RRType, ttl int64, values ...string) *types.ResourceRecordSet {
	rrs := make([]types.ResourceRecord, len(values))
	for i, v := range values {
		rrs[i] = types.ResourceRecord{Value: aws.String(v)}
	}
	return &types.ResourceRecordSet{Name: aws.String(name), Type: typ, TTL: aws.Int64(ttl), ResourceRecords: rrs}
}

func rrChange(action types.ChangeAction, set *types.ResourceRecordSet) types.Change {
	return types.Change{Action: action, ResourceRecordSet: set}
}

func applyChanges(ctx context.Context, api *route53.Client, zoneID string, changes ...types.Change) (*route53.ChangeResourceRecordSetsOutput, error) {
	return api.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch:  &types.ChangeBatch{Changes: changes},
	})
}

// rawRequest sends a request signed with SigV4 (creds) the way a client
// other than the SDK would, and returns the status and body.
func rawRequest(t testing.TB, srv *Server, creds *Credentials, method, path, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+path, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if creds != nil {
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(context.Background(),
			aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
			req, hex.EncodeToString(sum[:]), "route53", "us-east-1", time.Now())
		require.NoError(t, err)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}
