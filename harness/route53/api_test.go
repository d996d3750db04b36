package route53

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"
)

func TestHostedZoneLifecycle(t *testing.T) {
	ctx := context.Background()
	srv := startEmulator(t, Options{Seed: 1})
	api := sdkClient(srv, testCreds)

	created, err := api.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name:             aws.String("Cutover.Test"),
		CallerReference:  aws.String("ref-1"),
		HostedZoneConfig: &types.HostedZoneConfig{Comment: aws.String("rehearsal")},
	})
	require.NoError(t, err)
	zone := created.HostedZone
	require.Regexp(t, `^/hostedzone/Z[0-9A-Z]{20}$`, aws.ToString(zone.Id))
	require.Equal(t, "cutover.test.", aws.ToString(zone.Name))
	require.Equal(t, "ref-1", aws.ToString(zone.CallerReference))
	require.Equal(t, "rehearsal", aws.ToString(zone.Config.Comment))
	require.False(t, zone.Config.PrivateZone)
	require.EqualValues(t, 2, aws.ToInt64(zone.ResourceRecordSetCount), "a new zone holds its SOA and NS")
	require.Len(t, created.DelegationSet.NameServers, 4)
	require.Equal(t, types.ChangeStatusPending, created.ChangeInfo.Status)
	require.Regexp(t, `^/change/C[0-9A-Z]{20}$`, aws.ToString(created.ChangeInfo.Id))
	require.Contains(t, aws.ToString(created.Location), strings.TrimPrefix(aws.ToString(zone.Id), "/hostedzone/"))

	got, err := api.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: zone.Id})
	require.NoError(t, err)
	require.Equal(t, aws.ToString(zone.Id), aws.ToString(got.HostedZone.Id))
	require.Equal(t, created.DelegationSet.NameServers, got.DelegationSet.NameServers)

	_, err = api.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("other.test"), CallerReference: aws.String("ref-1")})
	var exists *types.HostedZoneAlreadyExists
	require.ErrorAs(t, err, &exists)
	requireHTTPStatus(t, err, 409)

	_, err = applyChanges(ctx, api, aws.ToString(zone.Id), rrChange(types.ChangeActionCreate, simple("www.cutover.test", types.RRTypeA, 60, "192.0.2.1")))
	require.NoError(t, err)
	_, err = api.DeleteHostedZone(ctx, &route53.DeleteHostedZoneInput{Id: zone.Id})
	var notEmpty *types.HostedZoneNotEmpty
	require.ErrorAs(t, err, &notEmpty)

	_, err = applyChanges(ctx, api, aws.ToString(zone.Id), rrChange(types.ChangeActionDelete, simple("www.cutover.test", types.RRTypeA, 60, "192.0.2.1")))
	require.NoError(t, err)
	deleted, err := api.DeleteHostedZone(ctx, &route53.DeleteHostedZoneInput{Id: zone.Id})
	require.NoError(t, err)
	require.Equal(t, types.ChangeStatusPending, deleted.ChangeInfo.Status)

	_, err = api.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: zone.Id})
	var noZone *types.NoSuchHostedZone
	require.ErrorAs(t, err, &noZone)
	require.Contains(t, noZone.ErrorMessage(), "No hosted zone found with ID: ")
	requireHTTPStatus(t, err, 404)
}

func requireHTTPStatus(t *testing.T, err error, status int) {
	t.Helper()
	var re interface{ HTTPStatusCode() int }
	require.ErrorAs(t, err, &re)
	require.Equal(t, status, re.HTTPStatusCode())
}

func TestListHostedZonesPaginates(t *testing.T) {
	ctx := context.Background()
	srv := startEmulator(t, Options{Seed: 2})
	api := sdkClient(srv, testCreds)
	names := []string{"b.test", "a.test", "x.a.test", "c.example", "a.test"}
	var ids []string
	for i, n := range names {
		out, err := api.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String(n), CallerReference: aws.String(fmt.Sprint(i))})
		require.NoError(t, err)
		ids = append(ids, aws.ToString(out.HostedZone.Id))
	}

	var listed []string
	p := route53.NewListHostedZonesPaginator(api, &route53.ListHostedZonesInput{MaxItems: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 2, aws.ToInt32(page.MaxItems))
		pages++
		for _, z := range page.HostedZones {
			listed = append(listed, aws.ToString(z.Id))
		}
	}
	require.Equal(t, ids, listed, "ListHostedZones lists in creation order")
	require.Equal(t, 3, pages)

	// By name: labels reversed, so every *.example comes before *.test, and
	// a.test before x.a.test before b.test.
	var byName []string
	in := &route53.ListHostedZonesByNameInput{MaxItems: aws.Int32(2)}
	for {
		page, err := api.ListHostedZonesByName(ctx, in)
		require.NoError(t, err)
		for _, z := range page.HostedZones {
			byName = append(byName, aws.ToString(z.Name))
		}
		if !page.IsTruncated {
			break
		}
		require.NotEmpty(t, aws.ToString(page.NextDNSName))
		require.NotEmpty(t, aws.ToString(page.NextHostedZoneId))
		in.DNSName, in.HostedZoneId = page.NextDNSName, page.NextHostedZoneId
	}
	require.Equal(t, []string{"c.example.", "a.test.", "a.test.", "x.a.test.", "b.test."}, byName)

	first, err := api.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String("b.test"), MaxItems: aws.Int32(1)})
	require.NoError(t, err)
	require.Equal(t, "b.test.", aws.ToString(first.HostedZones[0].Name))
	require.Equal(t, "b.test.", aws.ToString(first.DNSName))
}

func TestChangeResourceRecordSets(t *testing.T) {
	ctx := context.Background()
	srv := startEmulator(t, Options{Seed: 3})
	api := sdkClient(srv, testCreds)
	zoneID := createZone(t, api, "shop.test")

	_, err := applyChanges(ctx, api, zoneID,
		rrChange(types.ChangeActionCreate, weighted("api.shop.test", "heroku", 75, 60, "192.0.2.10")),
		rrChange(types.ChangeActionCreate, weighted("api.shop.test", "aws", 25, 60, "192.0.2.20")),
		rrChange(types.ChangeActionCreate, simple("www.shop.test", types.RRTypeCname, 300, "api.shop.test")),
		rrChange(types.ChangeActionCreate, simple("api.shop.test", types.RRTypeAaaa, 60, "2001:db8::1")),
		rrChange(types.ChangeActionCreate, simple("txt.shop.test", types.RRTypeTxt, 60, `"v=1" "hello world"`)),
	)
	require.NoError(t, err)

	tests := []struct {
		name     string
		zone     string
		changes  []types.Change
		code     string // error code; "" means success
		status   int
		message  string
		messages string
	}{
		{
			name:    "upsert changes a weight",
			changes: []types.Change{rrChange(types.ChangeActionUpsert, weighted("api.shop.test", "aws", 50, 60, "192.0.2.20"))},
		},
		{
			name:    "unknown zone",
			zone:    "Z0000000000000000000X",
			changes: []types.Change{rrChange(types.ChangeActionUpsert, weighted("api.shop.test", "aws", 50, 60, "192.0.2.20"))},
			code:    "NoSuchHostedZone", status: 404, message: "No hosted zone found with ID: Z0000000000000000000X",
		},
		{
			name:    "delete of a record that does not exist",
			changes: []types.Change{rrChange(types.ChangeActionDelete, weighted("api.shop.test", "gcp", 10, 60, "192.0.2.30"))},
			code:    "InvalidChangeBatch", status: 400,
			message: "[Tried to delete resource record set [name='api.shop.test.', type='A', set-identifier='gcp'] but it was not found]",
		},
		{
			name:    "delete with values that differ",
			changes: []types.Change{rrChange(types.ChangeActionDelete, weighted("api.shop.test", "heroku", 75, 300, "192.0.2.10"))},
			code:    "InvalidChangeBatch", status: 400,
			message: "[Tried to delete resource record set [name='api.shop.test.', type='A', set-identifier='heroku'] but the values provided do not match the current values]",
		},
		{
			name:    "create of a record that exists",
			changes: []types.Change{rrChange(types.ChangeActionCreate, weighted("api.shop.test", "heroku", 75, 60, "192.0.2.10"))},
			code:    "InvalidChangeBatch", status: 400,
			message: "[Tried to create resource record set [name='api.shop.test.', type='A', set-identifier='heroku'] but it already exists]",
		},
		{
			name:    "weight above 255",
			changes: []types.Change{rrChange(types.ChangeActionUpsert, weighted("api.shop.test", "aws", 256, 60, "192.0.2.20"))},
			code:    "InvalidInput", status: 400,
			message: "1 validation error detected: Value '256' at 'changeBatch.changes.1.member.resourceRecordSet.weight' failed to satisfy constraint: Member must have value less than or equal to 255",
		},
		{
			name:    "negative weight",
			changes: []types.Change{rrChange(types.ChangeActionUpsert, weighted("api.shop.test", "aws", -1, 60, "192.0.2.20"))},
			code:    "InvalidInput", status: 400,
			message: "1 validation error detected: Value '-1' at 'changeBatch.changes.1.member.resourceRecordSet.weight' failed to satisfy constraint: Member must have value greater than or equal to 0",
		},
		{
			name: "weighted set without weight",
			changes: []types.Change{rrChange(types.ChangeActionUpsert, &types.ResourceRecordSet{
				Name: aws.String("api.shop.test"), Type: types.RRTypeA, SetIdentifier: aws.String("aws"), TTL: aws.Int64(60),
				ResourceRecords: []types.ResourceRecord{{Value: aws.String("192.0.2.20")}},
			})},
			code: "InvalidInput", status: 400,
			message: "Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found none in Change with [Action=UPSERT, Name=api.shop.test, Type=A, SetIdentifier=aws]",
		},
		{
			name:    "simple set next to weighted sets",
			changes: []types.Change{rrChange(types.ChangeActionCreate, simple("api.shop.test", types.RRTypeA, 60, "192.0.2.40"))},
			code:    "InvalidChangeBatch", status: 400,
			message: "[RRSet with DNS name api.shop.test., type A cannot be created as weighted sets exist with the same name and type.]",
		},
		{
			name:    "name outside the zone",
			changes: []types.Change{rrChange(types.ChangeActionCreate, simple("api.other.test", types.RRTypeA, 60, "192.0.2.40"))},
			code:    "InvalidChangeBatch", status: 400,
			message: "[RRSet with DNS name api.other.test. is not permitted in zone shop.test.]",
		},
		{
			name:    "A value that is not an IPv4 address",
			changes: []types.Change{rrChange(types.ChangeActionCreate, simple("bad.shop.test", types.RRTypeA, 60, "2001:db8::1"))},
			code:    "InvalidChangeBatch", status: 400,
			message: "[Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '2001:db8::1'']",
		},
		{
			name:    "TXT value without quotes",
			changes: []types.Change{rrChange(types.ChangeActionCreate, simple("t2.shop.test", types.RRTypeTxt, 60, "hello"))},
			code:    "InvalidChangeBatch", status: 400,
			message: "[Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with 'hello'']",
		},
		{
			name:    "CNAME next to other records",
			changes: []types.Change{rrChange(types.ChangeActionCreate, simple("txt.shop.test", types.RRTypeCname, 60, "api.shop.test"))},
			code:    "InvalidChangeBatch", status: 400,
			message: "[RRSet of type CNAME with DNS name txt.shop.test. is not permitted as it conflicts with other records with the same DNS name in zone shop.test.]",
		},
		{
			name:    "deleting the apex SOA",
			changes: []types.Change{rrChange(types.ChangeActionDelete, simple("shop.test", types.RRTypeSoa, 900, "x"))},
			code:    "InvalidChangeBatch", status: 400,
		},
		{
			name: "every problem of a batch is reported",
			changes: []types.Change{
				rrChange(types.ChangeActionDelete, weighted("api.shop.test", "gcp", 10, 60, "192.0.2.30")),
				rrChange(types.ChangeActionCreate, weighted("api.shop.test", "aws", 25, 60, "192.0.2.20")),
			},
			code: "InvalidChangeBatch", status: 400,
			message: "[Tried to delete resource record set [name='api.shop.test.', type='A', set-identifier='gcp'] but it was not found, " +
				"Tried to create resource record set [name='api.shop.test.', type='A', set-identifier='aws'] but it already exists]",
		},
		{
			name:    "unsupported type",
			changes: []types.Change{rrChange(types.ChangeActionCreate, simple("mx.shop.test", types.RRTypeMx, 60, "10 mail.shop.test"))},
			code:    "InvalidInput", status: 400,
		},
		{
			name: "alias records are refused, not ignored",
			changes: []types.Change{rrChange(types.ChangeActionCreate, &types.ResourceRecordSet{
				Name: aws.String("alias.shop.test"), Type: types.RRTypeA,
				AliasTarget: &types.AliasTarget{DNSName: aws.String("lb.example."), HostedZoneId: aws.String("Z1"), EvaluateTargetHealth: false},
			})},
			code: "InvalidInput", status: 400,
			message: "Invalid request: the Route53 emulator supports simple and weighted routing only; AliasTarget is not supported",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zone := zoneID
			if tt.zone != "" {
				zone = tt.zone
			}
			before := listAll(t, api, zoneID)
			out, err := applyChanges(ctx, api, zone, tt.changes...)
			if tt.code == "" {
				require.NoError(t, err)
				require.Equal(t, types.ChangeStatusPending, out.ChangeInfo.Status)
				return
			}
			var apiErr smithy.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tt.code, apiErr.ErrorCode())
			if tt.message != "" {
				require.Equal(t, tt.message, apiErr.ErrorMessage())
			}
			requireHTTPStatus(t, err, tt.status)
			require.Equal(t, before, listAll(t, api, zoneID), "a rejected batch changes nothing")
		})
	}

	sets := listAll(t, api, zoneID)
	var summary []string
	for _, s := range sets {
		summary = append(summary, fmt.Sprintf("%s %s %s w=%d ttl=%d %v", aws.ToString(s.Name), s.Type, aws.ToString(s.SetIdentifier),
			aws.ToInt64(s.Weight), aws.ToInt64(s.TTL), values(s)))
	}
	require.Equal(t, []string{
		"shop.test. NS  w=0 ttl=172800 " + fmt.Sprint(values(sets[0])),
		"shop.test. SOA  w=0 ttl=900 " + fmt.Sprint(values(sets[1])),
		"api.shop.test. A aws w=50 ttl=60 [192.0.2.20]",
		"api.shop.test. A heroku w=75 ttl=60 [192.0.2.10]",
		"api.shop.test. AAAA  w=0 ttl=60 [2001:db8::1]",
		"txt.shop.test. TXT  w=0 ttl=60 [\"v=1\" \"hello world\"]",
		"www.shop.test. CNAME  w=0 ttl=300 [api.shop.test]",
	}, summary)
}

func values(s types.ResourceRecordSet) []string {
	var out []string
	for _, r := range s.ResourceRecords {
		out = append(out, aws.ToString(r.Value))
	}
	return out
}

func listAll(t *testing.T, api *route53.Client, zoneID string) []types.ResourceRecordSet {
	t.Helper()
	var out []types.ResourceRecordSet
	p := route53.NewListResourceRecordSetsPaginator(api, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		out = append(out, page.ResourceRecordSets...)
	}
	return out
}

func TestChangeBatchIsAtomic(t *testing.T) {
	ctx := context.Background()
	srv := startEmulator(t, Options{Seed: 4})
	api := sdkClient(srv, testCreds)
	zoneID := createZone(t, api, "atomic.test")
	before := listAll(t, api, zoneID)

	_, err := applyChanges(ctx, api, zoneID,
		rrChange(types.ChangeActionCreate, weighted("api.atomic.test", "heroku", 100, 60, "192.0.2.1")),
		rrChange(types.ChangeActionDelete, weighted("api.atomic.test", "aws", 0, 60, "192.0.2.2")),
	)
	var icb *types.InvalidChangeBatch
	require.ErrorAs(t, err, &icb)
	require.Equal(t, before, listAll(t, api, zoneID), "the valid CREATE must not be applied either")

	// Within a batch, changes see the ones before them: DELETE then CREATE
	// of the same set is a replacement.
	_, err = applyChanges(ctx, api, zoneID, rrChange(types.ChangeActionCreate, weighted("api.atomic.test", "heroku", 100, 60, "192.0.2.1")))
	require.NoError(t, err)
	_, err = applyChanges(ctx, api, zoneID,
		rrChange(types.ChangeActionDelete, weighted("api.atomic.test", "heroku", 100, 60, "192.0.2.1")),
		rrChange(types.ChangeActionCreate, weighted("api.atomic.test", "heroku", 90, 30, "192.0.2.3")),
	)
	require.NoError(t, err)
	sets := listAll(t, api, zoneID)
	require.Len(t, sets, 3)
	require.EqualValues(t, 90, aws.ToInt64(sets[2].Weight))
	require.Equal(t, []string{"192.0.2.3"}, values(sets[2]))
}

func TestListResourceRecordSetsPaginates(t *testing.T) {
	ctx := context.Background()
	srv := startEmulator(t, Options{Seed: 5})
	api := sdkClient(srv, testCreds)
	zoneID := createZone(t, api, "page.test")

	var changes []types.Change
	for i := range 12 {
		changes = append(changes, rrChange(types.ChangeActionCreate, simple(fmt.Sprintf("h%02d.page.test", i), types.RRTypeA, 60, "192.0.2.1")))
	}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		changes = append(changes, rrChange(types.ChangeActionCreate, weighted("w.page.test", id, 1, 60, "192.0.2.2")))
	}
	_, err := applyChanges(ctx, api, zoneID, changes...)
	require.NoError(t, err)

	full, err := api.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	require.NoError(t, err)
	require.False(t, full.IsTruncated)
	require.Len(t, full.ResourceRecordSets, 19)

	for _, size := range []int32{1, 2, 3, 7, 18} {
		var paged []types.ResourceRecordSet
		in := &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), MaxItems: aws.Int32(size)}
		sawIdentifier := false
		for {
			page, err := api.ListResourceRecordSets(ctx, in)
			require.NoError(t, err)
			require.Equal(t, size, aws.ToInt32(page.MaxItems))
			require.LessOrEqual(t, len(page.ResourceRecordSets), int(size))
			paged = append(paged, page.ResourceRecordSets...)
			if !page.IsTruncated {
				require.Nil(t, page.NextRecordName)
				break
			}
			sawIdentifier = sawIdentifier || page.NextRecordIdentifier != nil
			in.StartRecordName, in.StartRecordType, in.StartRecordIdentifier = page.NextRecordName, page.NextRecordType, page.NextRecordIdentifier
		}
		require.Equal(t, full.ResourceRecordSets, paged, "pages of %d", size)
		if size < 5 {
			require.True(t, sawIdentifier, "a page boundary inside the weighted sets carries NextRecordIdentifier")
		}
	}

	from, err := api.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID), StartRecordName: aws.String("w.page.test"), StartRecordType: types.RRTypeA,
		StartRecordIdentifier: aws.String("c"),
	})
	require.NoError(t, err)
	require.Len(t, from.ResourceRecordSets, 3)
	require.Equal(t, "c", aws.ToString(from.ResourceRecordSets[0].SetIdentifier))

	_, err = api.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String("ZNOPE")})
	var noZone *types.NoSuchHostedZone
	require.ErrorAs(t, err, &noZone)
}

func TestGetChangeGoesInSyncAfterPropagationDelay(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	srv := startEmulator(t, Options{Seed: 6, PropagationDelay: 30 * time.Second, Now: clock.Now})
	api := sdkClient(srv, testCreds)
	zoneID := createZone(t, api, "sync.test")

	out, err := applyChanges(ctx, api, zoneID, rrChange(types.ChangeActionUpsert, weighted("api.sync.test", "aws", 10, 60, "192.0.2.1")))
	require.NoError(t, err)
	require.Equal(t, types.ChangeStatusPending, out.ChangeInfo.Status)
	require.Equal(t, clock.Now(), aws.ToTime(out.ChangeInfo.SubmittedAt))

	for _, step := range []struct {
		advance time.Duration
		want    types.ChangeStatus
	}{
		{0, types.ChangeStatusPending},
		{29 * time.Second, types.ChangeStatusPending},
		{time.Second, types.ChangeStatusInsync},
		{time.Hour, types.ChangeStatusInsync},
	} {
		clock.Advance(step.advance)
		got, err := api.GetChange(ctx, &route53.GetChangeInput{Id: out.ChangeInfo.Id})
		require.NoError(t, err)
		require.Equal(t, step.want, got.ChangeInfo.Status)
		require.Equal(t, aws.ToString(out.ChangeInfo.Id), aws.ToString(got.ChangeInfo.Id))
	}

	_, err = api.GetChange(ctx, &route53.GetChangeInput{Id: aws.String("/change/CNOSUCHCHANGE")})
	var noChange *types.NoSuchChange
	require.ErrorAs(t, err, &noChange)
	requireHTTPStatus(t, err, 404)
}

func TestRequestsMustBeSigned(t *testing.T) {
	ctx := context.Background()
	srv := startEmulator(t, Options{Seed: 7})

	status, body := rawRequest(t, srv, nil, "GET", "/2013-04-01/hostedzone", "", nil)
	require.Equal(t, 403, status)
	requireErrorBody(t, body, "MissingAuthenticationToken", "Request is missing Authentication Token")

	status, body = rawRequest(t, srv, &testCreds, "GET", "/2013-04-01/hostedzone", "", nil)
	require.Equal(t, 200, status, string(body))

	for _, bad := range []struct{ auth, code string }{
		{"AWS4-HMAC-SHA256 Credential=" + testCreds.AccessKeyID + "/20250301/us-east-1/route53/aws4_request", "IncompleteSignature"},
		{"AWS key:signature", "IncompleteSignature"},
	} {
		req, err := http.NewRequest("GET", srv.URL()+"/2013-04-01/hostedzone", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", bad.auth)
		req.Header.Set("X-Amz-Date", "20250301T120000Z")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 400, resp.StatusCode)
		requireErrorBody(t, b, bad.code, "")
	}

	tests := []struct {
		name  string
		creds Credentials
		code  string
	}{
		{"wrong secret", Credentials{testCreds.AccessKeyID, "not-the-secret"}, "SignatureDoesNotMatch"},
		{"unknown key", Credentials{"AKIDUNKNOWN", testCreds.SecretAccessKey}, "InvalidClientTokenId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sdkClient(srv, tt.creds).ListHostedZones(ctx, &route53.ListHostedZonesInput{})
			var apiErr smithy.APIError
			require.ErrorAs(t, err, &apiErr)
			require.Equal(t, tt.code, apiErr.ErrorCode())
			requireHTTPStatus(t, err, 403)
		})
	}

}

// Without configured credentials (the default, as LocalStack) any key and
// secret pass through the real SDK client, but a request must still carry a
// well-formed SigV4 signature: the form, scope, signed headers and date are
// checked and answered with Route53's error XML.
func TestAnyWellFormedSignatureIsAcceptedByDefault(t *testing.T) {
	ctx := context.Background()
	open, err := Start(ctx, Options{Seed: 7})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, open.Close()) })

	for _, creds := range []Credentials{{"test", "test"}, {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, {"anything", "goes"}} {
		api := sdkClient(open, creds)
		zoneID := createZone(t, api, creds.AccessKeyID+".test")
		_, err := api.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(zoneID)})
		require.NoError(t, err, "key %s", creds.AccessKeyID)
	}

	// A request signed with test/test, then altered.
	signed := func() *http.Request {
		req, err := http.NewRequest("GET", open.URL()+"/2013-04-01/hostedzone", nil)
		require.NoError(t, err)
		sum := sha256.Sum256(nil)
		require.NoError(t, v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"},
			req, hex.EncodeToString(sum[:]), "route53", "us-east-1", time.Now()))
		return req
	}
	replace := func(old, new string) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
		}
	}
	for _, tt := range []struct {
		name   string
		alter  func(*http.Request)
		status int
		code   string
	}{
		{"as signed", func(*http.Request) {}, 200, ""},
		{"unsigned", func(r *http.Request) { r.Header.Del("Authorization") }, 403, "MissingAuthenticationToken"},
		{"another algorithm", replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), 400, "IncompleteSignature"},
		{"no signature", func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
		}, 400, "IncompleteSignature"},
		{"a short signature", func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-2])
		}, 400, "IncompleteSignature"},
		{"no access key", replace("Credential=test/", "Credential=/"), 400, "IncompleteSignature"},
		{"a scope without aws4_request", replace("/aws4_request", "/aws3_request"), 400, "IncompleteSignature"},
		{"a scope without region", replace("/us-east-1/", "//"), 400, "IncompleteSignature"},
		{"another service", replace("/route53/", "/s3/"), 403, "SignatureDoesNotMatch"},
		{"a scope of another day", replace("Credential=test/2", "Credential=test/1"), 403, "SignatureDoesNotMatch"},
		{"host not signed", replace("SignedHeaders=host;", "SignedHeaders="), 400, "IncompleteSignature"},
		{"date not signed", replace(";x-amz-date", ""), 400, "IncompleteSignature"},
		{"no date", func(r *http.Request) { r.Header.Del("X-Amz-Date") }, 400, "IncompleteSignature"},
		{"a malformed date", func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }, 400, "IncompleteSignature"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := signed()
			tt.alter(req)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, tt.status, resp.StatusCode, string(b))
			if tt.code != "" {
				requireErrorBody(t, b, tt.code, "")
			}
		})
	}
}

func TestStartRefusesNonLoopbackHosts(t *testing.T) {
	_, err := Start(context.Background(), Options{Host: "0.0.0.0"})
	require.ErrorContains(t, err, "not a loopback address")
}

func TestCloseIsIdempotentAndFreesPorts(t *testing.T) {
	srv, err := Start(context.Background(), Options{Seed: 8})
	require.NoError(t, err)
	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close())
	_, err = sdkClient(srv, testCreds).ListHostedZones(context.Background(), &route53.ListHostedZonesInput{})
	require.Error(t, err)
	require.False(t, errors.Is(err, context.Canceled))
}
