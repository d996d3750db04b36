package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Health is the result of checking one service of a stack.
type Health struct {
	Name     string  `json:"name"`
	Endpoint string  `json:"endpoint"`
	OK       bool    `json:"ok"`
	CheckMS  float64 `json:"check_ms"`
	Error    string  `json:"error,omitempty"`
}

// Check talks to every service of e with its real client — pgx, go-redis,
// the mongo driver, Toxiproxy's API — and to every data service once more
// through each proxy link, and reports each result. It never stops early.
func Check(ctx context.Context, e Endpoints) []Health {
	var out []Health
	run := func(name, endpoint string, f func(ctx context.Context) error) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		t := time.Now()
		err := f(cctx)
		h := Health{Name: name, Endpoint: endpoint, OK: err == nil, CheckMS: float64(time.Since(t).Microseconds()) / 1000}
		if err != nil {
			h.Error = err.Error()
		}
		out = append(out, h)
	}
	run(Postgres, e.PostgresURL, func(ctx context.Context) error { return PingPostgres(ctx, e.PostgresURL) })
	run(Redis, e.RedisURL, func(ctx context.Context) error { return PingRedis(ctx, e.RedisURL) })
	run(Mongo, e.MongoURL, func(ctx context.Context) error { return PingMongo(ctx, e.MongoURL) })
	run(Proxy, e.ToxiproxyURL, func(ctx context.Context) error { return HTTPOK(ctx, e.ToxiproxyURL+"/version") })
	if e.Route53URL != "" {
		run(Route53, e.Route53URL, func(ctx context.Context) error { return dialTCP(ctx, hostOf(e.Route53URL)) })
	}
	if e.DNSAddr != "" {
		run(DNS, e.DNSAddr, func(ctx context.Context) error { return dialTCP(ctx, e.DNSAddr) })
	}
	for _, name := range e.LinkNames() {
		l := e.Links[name]
		client, svc, _ := strings.Cut(name, "->")
		urls, err := e.For(client)
		if err != nil {
			out = append(out, Health{Name: name, Endpoint: l.Listen, Error: err.Error()})
			continue
		}
		switch svc {
		case Postgres:
			run(name, l.Listen, func(ctx context.Context) error { return PingPostgres(ctx, urls.PostgresURL) })
		case Redis:
			run(name, l.Listen, func(ctx context.Context) error { return PingRedis(ctx, urls.RedisURL) })
		case Mongo:
			run(name, l.Listen, func(ctx context.Context) error { return PingMongo(ctx, urls.MongoURL) })
		default:
			run(name, l.Listen, func(ctx context.Context) error { return dialTCP(ctx, l.Listen) })
		}
	}
	return out
}

// Healthy reports whether every check passed, and the first failure.
func Healthy(hs []Health) error {
	for _, h := range hs {
		if !h.OK {
			return fmt.Errorf("%s (%s): %s", h.Name, h.Endpoint, h.Error)
		}
	}
	return nil
}

// The pings below are the one way cutover asks a service whether it
// serves: each with the service's real client, bounded by ctx. The stack
// drivers poll them while services start; Check runs them once.

// PingPostgres runs SELECT 1 on a new connection to url.
func PingPostgres(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return nil
}

// PingRedis sends PING once (the caller retries).
func PingRedis(ctx context.Context, url string) error {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("parse url: %w", err)
	}
	opt.MaxRetries = -1
	c := goredis.NewClient(opt)
	defer func() { _ = c.Close() }()
	return c.Ping(ctx).Err()
}

// PingMongo runs the ping command on admin; server selection gives up at
// ctx's deadline (5 s without one).
func PingMongo(ctx context.Context, url string) error {
	wait := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = max(time.Until(d), time.Millisecond)
	}
	c, err := mongo.Connect(options.Client().ApplyURI(url).SetServerSelectionTimeout(wait))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = c.Disconnect(context.WithoutCancel(ctx)) }()
	return c.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
}

// HTTPGet GETs url and returns the body (at most 1 MiB) of a 200.
func HTTPGet(ctx context.Context, url string) ([]byte, error) {
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

// HTTPOK says whether url answers 200.
func HTTPOK(ctx context.Context, url string) error {
	_, err := HTTPGet(ctx, url)
	return err
}

func dialTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	return u.Host
}
