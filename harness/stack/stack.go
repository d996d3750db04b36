// Package stack defines the infrastructure of one run — Postgres, Redis,
// Mongo, Route53 (+DNS) and the fault proxies between each platform and each
// data service — as one interface, so a scenario never cares which driver
// (embedded or docker) provides it.
package stack

import (
	"context"
	"fmt"
	"net/url"
	"sort"
)

// Data services every stack provides.
const (
	Postgres = "postgres"
	Redis    = "redis"
	Mongo    = "mongo"
	Route53  = "route53"
	DNS      = "dns"
	Proxy    = "toxiproxy"
)

// DataServices are the services a platform's replicas talk to; each one is
// reached through a fault proxy named "<client>-><service>".
var DataServices = []string{Postgres, Redis, Mongo}

// DefaultClients are the platforms that get their own proxy links.
var DefaultClients = []string{"heroku", "aws"}

// LinkName is the stable name of the fault proxy between a client (a
// platform) and a data service, e.g. "heroku->postgres".
func LinkName(client, service string) string { return client + "->" + service }

// Service describes one started service of a stack.
type Service struct {
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"`
	// StartMS is how long the service took to become ready, in ms.
	StartMS float64 `json:"start_ms"`
	// PID is the server's process id when it runs as a child process.
	PID int `json:"pid,omitempty"`
}

// Link is one fault proxy: clients connect to Listen, which forwards to
// Upstream unless a fault says otherwise.
type Link struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
}

// Endpoints is everything a run needs to reach a stack. It is printed as JSON
// by `cutover infra up`.
type Endpoints struct {
	Driver string `json:"driver"`
	// Direct (unproxied) URLs, for the harness itself (seeding, final reads).
	PostgresURL string `json:"postgres_url"`
	RedisURL    string `json:"redis_url"`
	MongoURL    string `json:"mongo_url"`
	// Route53URL is the endpoint of a Route53-compatible API (the emulator
	// or LocalStack); DNSAddr is a DNS server answering the hosted zones, or
	// empty where the DNS server does not apply weights (LocalStack).
	Route53URL string `json:"route53_url"`
	DNSAddr    string `json:"dns_addr,omitempty"`
	// ToxiproxyURL is the HTTP API of the fault proxies (Toxiproxy's own API,
	// usable with github.com/Shopify/toxiproxy/v2/client).
	ToxiproxyURL string          `json:"toxiproxy_url"`
	Links        map[string]Link `json:"links"`
	Services     []Service       `json:"services"`
}

// DataURLs returns the direct URLs of Postgres, Redis and Mongo.
func (e Endpoints) DataURLs() (postgres, redis, mongo string) {
	return e.PostgresURL, e.RedisURL, e.MongoURL
}

// ClientURLs are the data-service URLs a platform's replicas should use:
// the direct URLs with host:port replaced by that client's proxy links.
type ClientURLs struct {
	PostgresURL string
	RedisURL    string
	MongoURL    string
}

// For returns the URLs that go through the fault proxies of client.
func (e Endpoints) For(client string) (ClientURLs, error) {
	var out ClientURLs
	for _, s := range []struct {
		service string
		direct  string
		dst     *string
	}{
		{Postgres, e.PostgresURL, &out.PostgresURL},
		{Redis, e.RedisURL, &out.RedisURL},
		{Mongo, e.MongoURL, &out.MongoURL},
	} {
		l, ok := e.Links[LinkName(client, s.service)]
		if !ok {
			return ClientURLs{}, fmt.Errorf("no proxy link %q in this stack", LinkName(client, s.service))
		}
		u, err := url.Parse(s.direct)
		if err != nil {
			return ClientURLs{}, fmt.Errorf("parse %s url: %w", s.service, err)
		}
		u.Host = l.Listen
		*s.dst = u.String()
	}
	return out, nil
}

// LinkNames returns the names of all links, sorted.
func (e Endpoints) LinkNames() []string {
	names := make([]string, 0, len(e.Links))
	for n := range e.Links {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PostgresControl is how faults act on the database server itself.
type PostgresControl interface {
	// Crash kills the server abruptly (SIGKILL, or a container kill) and
	// returns once it is gone. Only what Postgres itself would lose is lost.
	Crash(ctx context.Context) error
	// Start starts the server again on the same data and waits until it
	// answers queries.
	Start(ctx context.Context) error
	// SetReadOnly switches the server into (or out of) read-only mode, as
	// Heroku maintenance does: writes fail with SQLSTATE 25006.
	SetReadOnly(ctx context.Context, on bool) error
}

// RedisControl is how faults act on the cache.
type RedisControl interface {
	// Flush drops every key (FLUSHALL).
	Flush(ctx context.Context) error
	// Restart stops and starts the server on the same address; like a
	// restarted cache without persistence, it comes back empty.
	Restart(ctx context.Context) error
}

// Stack is the infrastructure of one run.
type Stack interface {
	Endpoints() Endpoints
	Postgres() PostgresControl
	Redis() RedisControl
	// Close stops every service and removes everything the stack created
	// (processes, containers, temp dirs). It is safe to call twice.
	Close(ctx context.Context) error
}

// Options are the settings shared by every driver.
type Options struct {
	// Clients are the platforms that get proxy links; default DefaultClients.
	Clients []string
	// Host is the loopback address services bind; default 127.0.0.1.
	Host string
	// Fsync keeps Postgres durable (slower); default off, as in tests.
	Fsync bool
	// LogDir, when set, receives each service's log file.
	LogDir string
}

// WithDefaults fills the zero fields of o.
func (o Options) WithDefaults() Options {
	if len(o.Clients) == 0 {
		o.Clients = DefaultClients
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	return o
}
