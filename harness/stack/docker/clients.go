package docker

import (
	"context"
	"encoding/json"
	"fmt"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/cutover/cutover/harness/stack"
)

// localstackRoute53Up checks LocalStack's health endpoint reports Route53
// running or available.
func localstackRoute53Up(ctx context.Context, url string) error {
	body, err := stack.HTTPGet(ctx, url)
	if err != nil {
		return err
	}
	var h struct {
		Services map[string]string `json:"services"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	switch st := h.Services["route53"]; st {
	case "running", "available":
		return nil
	default:
		return fmt.Errorf("route53 is %q in %s", st, url)
	}
}

// populateProxies creates the links Toxiproxy does not have (all of them at
// start, or after Toxiproxy restarted), enabled and without toxics. Links it
// has are left as they are, toxics included.
func populateProxies(api string, links []link) error {
	c := toxiproxy.NewClient(api)
	have, err := c.Proxies()
	if err != nil {
		return fmt.Errorf("list proxy links: %w", err)
	}
	var proxies []toxiproxy.Proxy
	for _, l := range links {
		if _, ok := have[l.name]; ok {
			continue
		}
		proxies = append(proxies, toxiproxy.Proxy{
			Name:     l.name,
			Listen:   l.listen,
			Upstream: l.upstream,
			Enabled:  true,
		})
	}
	if len(proxies) == 0 {
		return nil
	}
	if _, err := c.Populate(proxies); err != nil {
		return fmt.Errorf("create proxy links: %w", err)
	}
	return nil
}
