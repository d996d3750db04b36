package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The checks below talk to each service with its real client.

func queryPostgres(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

func pingRedis(ctx context.Context, url string) error {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return err
	}
	opt.MaxRetries = -1
	c := goredis.NewClient(opt)
	defer c.Close()
	return c.Ping(ctx).Err()
}

func pingMongo(ctx context.Context, url string) error {
	c, err := mongo.Connect(options.Client().ApplyURI(url))
	if err != nil {
		return err
	}
	defer c.Disconnect(context.WithoutCancel(ctx))
	return c.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

func httpOK(ctx context.Context, url string) error {
	_, err := httpGet(ctx, url)
	return err
}

// localstackRoute53Up checks LocalStack's health endpoint reports Route53
// running or available.
func localstackRoute53Up(ctx context.Context, url string) error {
	body, err := httpGet(ctx, url)
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
			Listen:   fmt.Sprintf("0.0.0.0:%d", l.port),
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
