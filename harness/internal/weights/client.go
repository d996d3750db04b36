// Package weights holds the weighted Route53 records that split a service's
// traffic between platforms: a small client, on the real aws-sdk-go-v2
// Route53 client, that the run engine uses to set and read the weights (the
// same code drives the emulator, LocalStack or AWS given an endpoint and
// credentials), and Choose, the weighted choice Route53 applies to them.
package weights

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// Config says which Route53 to talk to.
type Config struct {
	// Endpoint is the API's base URL (the emulator's or LocalStack's); empty
	// means AWS itself.
	Endpoint string
	// Region signs the requests; default us-east-1 (Route53 is global).
	Region string
	// AccessKeyID and SecretAccessKey (and SessionToken) are static
	// credentials; when empty, the SDK's default chain (environment,
	// shared files, instance role) is used.
	AccessKeyID, SecretAccessKey, SessionToken string
	// PollInterval is how often WaitInSync asks GetChange; default 1s.
	PollInterval time.Duration
}

// Client sets and reads weighted records.
type Client struct {
	api  *route53.Client
	poll time.Duration
}

// New builds a client from cfg.
func New(ctx context.Context, cfg Config) (*Client, error) {
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	var opts []func(*config.LoadOptions) error
	opts = append(opts, config.WithRegion(region))
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config for route53: %w", err)
	}
	api := route53.NewFromConfig(awsCfg, func(o *route53.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return FromAPI(api, cfg.PollInterval), nil
}

// FromAPI wraps an existing SDK client; poll is WaitInSync's interval
// (default 1s).
func FromAPI(api *route53.Client, poll time.Duration) *Client {
	if poll <= 0 {
		poll = time.Second
	}
	return &Client{api: api, poll: poll}
}

// API is the underlying SDK client.
func (c *Client) API() *route53.Client { return c.api }

// Target is one weighted record of a split: the platform's set identifier,
// its address and its weight (0–255, relative to the others).
type Target struct {
	SetID  string
	Addr   netip.Addr
	Weight int64
}

// Record is a record set as read back from the API.
type Record struct {
	// Type is "A" or "AAAA".
	Type string
	// SetID is empty for a simple (non-weighted) record.
	SetID    string
	Weighted bool
	Weight   int64
	TTL      time.Duration
	Addrs    []netip.Addr
}

// fqdn returns name lower-cased with a trailing dot, as Route53 writes it.
func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// EnsureZone returns the id (without "/hostedzone/") of the public hosted
// zone named name, creating it when there is none.
func (c *Client) EnsureZone(ctx context.Context, name string) (string, error) {
	out, err := c.api.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{
		DNSName:  aws.String(name),
		MaxItems: aws.Int32(1),
	})
	if err != nil {
		return "", fmt.Errorf("find hosted zone %s: %w", name, err)
	}
	if len(out.HostedZones) > 0 && strings.EqualFold(aws.ToString(out.HostedZones[0].Name), fqdn(name)) {
		return strings.TrimPrefix(aws.ToString(out.HostedZones[0].Id), "/hostedzone/"), nil
	}
	created, err := c.api.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name:            aws.String(name),
		CallerReference: aws.String(fmt.Sprintf("cutover-%s-%d", strings.TrimSuffix(name, "."), time.Now().UnixNano())),
		HostedZoneConfig: &types.HostedZoneConfig{
			Comment: aws.String("created by cutover"),
		},
	})
	if err != nil {
		return "", fmt.Errorf("create hosted zone %s: %w", name, err)
	}
	if created.HostedZone == nil || created.HostedZone.Id == nil {
		return "", fmt.Errorf("create hosted zone %s: the response holds no zone id", name)
	}
	return strings.TrimPrefix(aws.ToString(created.HostedZone.Id), "/hostedzone/"), nil
}

// Set UPSERTs one weighted A (or AAAA) record per target for name, all in
// one change batch so the split changes at once, and returns the change id.
func (c *Client) Set(ctx context.Context, zoneID, name string, ttl time.Duration, targets []Target) (string, error) {
	if len(targets) == 0 {
		return "", errors.New("set weights: no targets")
	}
	changes := make([]types.Change, 0, len(targets))
	for _, t := range targets {
		if t.SetID == "" || !t.Addr.IsValid() {
			return "", fmt.Errorf("set weights for %s: target %+v needs a set id and an address", name, t)
		}
		typ := types.RRTypeA
		if t.Addr.Is6() {
			typ = types.RRTypeAaaa
		}
		changes = append(changes, types.Change{
			Action: types.ChangeActionUpsert,
			ResourceRecordSet: &types.ResourceRecordSet{
				Name:            aws.String(fqdn(name)),
				Type:            typ,
				SetIdentifier:   aws.String(t.SetID),
				Weight:          aws.Int64(t.Weight),
				TTL:             aws.Int64(int64(ttl / time.Second)),
				ResourceRecords: []types.ResourceRecord{{Value: aws.String(t.Addr.String())}},
			},
		})
	}
	out, err := c.api.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &types.ChangeBatch{
			Comment: aws.String(truncate("cutover weights "+describeTargets(targets), 256)),
			Changes: changes,
		},
	})
	if err != nil {
		return "", fmt.Errorf("set weights for %s (%s): %w", name, describeTargets(targets), err)
	}
	if out.ChangeInfo == nil || out.ChangeInfo.Id == nil {
		return "", fmt.Errorf("set weights for %s: the response holds no change id", name)
	}
	return aws.ToString(out.ChangeInfo.Id), nil
}

// describeTargets writes "heroku=75 aws=25", eliding past eight targets.
func describeTargets(targets []Target) string {
	const shown = 8
	parts := make([]string, 0, shown+1)
	for i, t := range targets {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(targets)-shown))
			break
		}
		parts = append(parts, fmt.Sprintf("%s=%d", t.SetID, t.Weight))
	}
	return strings.Join(parts, " ")
}

// truncate cuts s to at most n bytes (Route53 limits a batch comment to
// 256 characters).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// WaitInSync polls GetChange until the change is INSYNC or ctx ends.
func (c *Client) WaitInSync(ctx context.Context, changeID string) error {
	t := time.NewTicker(c.poll)
	defer t.Stop()
	for {
		out, err := c.api.GetChange(ctx, &route53.GetChangeInput{Id: aws.String(changeID)})
		if err != nil {
			return fmt.Errorf("wait for change %s: %w", changeID, err)
		}
		if out.ChangeInfo != nil && out.ChangeInfo.Status == types.ChangeStatusInsync {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for change %s to be INSYNC: %w", changeID, ctx.Err())
		case <-t.C:
		}
	}
}

// Read returns the A and AAAA record sets of name, weighted or simple, in
// the API's order (by set identifier).
func (c *Client) Read(ctx context.Context, zoneID, name string) ([]Record, error) {
	want := fqdn(name)
	var out []Record
	in := &route53.ListResourceRecordSetsInput{
		HostedZoneId:    aws.String(zoneID),
		StartRecordName: aws.String(want),
		StartRecordType: types.RRTypeA,
	}
	for {
		page, err := c.api.ListResourceRecordSets(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("read records of %s: %w", name, err)
		}
		for _, s := range page.ResourceRecordSets {
			if !strings.EqualFold(aws.ToString(s.Name), want) {
				return out, nil // the listing is ordered by name: past ours
			}
			if s.Type != types.RRTypeA && s.Type != types.RRTypeAaaa {
				continue
			}
			r := Record{Type: string(s.Type), SetID: aws.ToString(s.SetIdentifier), TTL: time.Duration(aws.ToInt64(s.TTL)) * time.Second}
			if s.Weight != nil {
				r.Weighted, r.Weight = true, *s.Weight
			}
			for _, v := range s.ResourceRecords {
				a, err := netip.ParseAddr(aws.ToString(v.Value))
				if err != nil {
					return nil, fmt.Errorf("read records of %s: set %q holds %q, not an address", name, r.SetID, aws.ToString(v.Value))
				}
				r.Addrs = append(r.Addrs, a)
			}
			out = append(out, r)
		}
		if !page.IsTruncated {
			return out, nil
		}
		in.StartRecordName = page.NextRecordName
		in.StartRecordType = page.NextRecordType
		in.StartRecordIdentifier = page.NextRecordIdentifier
	}
}

// Apply makes the split of name exactly targets: it ensures the zone,
// UPSERTs the weighted records in one batch, waits until the change is
// INSYNC and reads the records back, failing if they differ from targets.
func (c *Client) Apply(ctx context.Context, zone, name string, ttl time.Duration, targets []Target) ([]Record, error) {
	zoneID, err := c.EnsureZone(ctx, zone)
	if err != nil {
		return nil, err
	}
	changeID, err := c.Set(ctx, zoneID, name, ttl, targets)
	if err != nil {
		return nil, err
	}
	if err := c.WaitInSync(ctx, changeID); err != nil {
		return nil, err
	}
	records, err := c.Read(ctx, zoneID, name)
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		i := slices.IndexFunc(records, func(r Record) bool { return r.SetID == t.SetID })
		if i < 0 {
			return records, fmt.Errorf("apply weights to %s: set %q missing after the change", name, t.SetID)
		}
		r := records[i]
		if !r.Weighted || r.Weight != t.Weight || len(r.Addrs) != 1 || r.Addrs[0] != t.Addr || r.TTL != ttl.Truncate(time.Second) {
			return records, fmt.Errorf("apply weights to %s: set %q reads back as weight %d, ttl %s, addresses %v; want weight %d, ttl %s, address %s",
				name, t.SetID, r.Weight, r.TTL, r.Addrs, t.Weight, ttl, t.Addr)
		}
	}
	return records, nil
}
