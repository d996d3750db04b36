// Package config reads couponapi's settings from the environment, as a
// Heroku app does (12-factor), and says clearly which variable is wrong.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/couponapi/partner"
)

// Config is every setting of one couponapi process.
type Config struct {
	Host string
	Port int

	DatabaseURL string
	RedisURL    string
	MongoURL    string

	// Credentials maps each accepted X-App-Id to its X-App-Token.
	Credentials map[string]string
	Bugs        bugs.Set

	ShutdownGrace      time.Duration
	ShutdownDelay      time.Duration
	DBPoolMax          int
	DBTimeout          time.Duration
	DBStatementTimeout time.Duration
	RedisTimeout       time.Duration
	ValidateCacheTTL   time.Duration
	RateLimit          int
	Retention          time.Duration

	OutboxRelay bool
	OutboxPoll  time.Duration

	PartnerWebhookURL string
	EgressAddr        string
	PartnerTimeout    time.Duration

	LogLevel slog.Level
}

// Var documents one environment variable.
type Var struct {
	Name, Default, Doc string
}

// Vars is the table of environment variables (read-only; the README quotes it).
var Vars = []Var{
	{"PORT", "5000", "TCP port to listen on (Heroku sets it)"},
	{"HOST", "0.0.0.0", "address to listen on"},
	{"DATABASE_URL", "(required)", "Postgres URL, the source of truth"},
	{"REDIS_URL", "(required)", "Redis URL (redis:// or rediss://): caches, rate limits, idempotency fast path"},
	{"MONGODB_URL", "(required; MONGODB_URI also accepted)", "Mongo URL of the audit log"},
	{"APP_ID, APP_TOKEN", "", "one accepted application credential"},
	{"APP_CREDENTIALS", "", "more credentials: comma-separated id:token pairs (at least one credential is required)"},
	{"COUPONAPI_BUGS", "", "comma-separated planted bugs to switch on (see the bugs table)"},
	{"SHUTDOWN_GRACE", "25s", "after SIGTERM, how long in-flight requests may take (Heroku kills at 30s)"},
	{"SHUTDOWN_DELAY", "0s", "after SIGTERM, how long readyz fails before the listener closes (for load balancers that poll readiness)"},
	{"DB_POOL_MAX", "10", "most Postgres connections of this process"},
	{"DB_TIMEOUT", "3s", "bound on each request's database work; past it the request answers 503 service_unavailable"},
	{"DB_STATEMENT_TIMEOUT", "5s", "Postgres statement_timeout and lock_timeout of every connection"},
	{"REDIS_TIMEOUT", "250ms", "bound on each Redis command; past it the cache is skipped"},
	{"VALIDATE_CACHE_TTL", "2s", "lifetime of a cached voucher for validate: the hard bound on how long validate can lag a redemption"},
	{"RATE_LIMIT_PER_SEC", "0", "requests per second per application (0: no limit); over it 429 too_many_requests"},
	{"RETENTION", "24h", "how long idempotency records and delivered outbox rows are kept"},
	{"OUTBOX_RELAY", "true", "relay the outbox from this process (false: another process does)"},
	{"OUTBOX_POLL", "500ms", "how often the relay looks for events left by other processes"},
	{"PARTNER_WEBHOOK_URL", "", "partner (CRM) webhook called once per committed redemption, from the outbox"},
	{"EGRESS_ADDR", "", "local source IP of partner calls"},
	{"PARTNER_TIMEOUT", "5s", "bound on one partner call"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
}

// FromEnv reads the configuration through getenv (os.Getenv in main). The
// error lists every wrong variable.
func FromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	integer := func(name string, def, min int) int {
		s := get(name, strconv.Itoa(def))
		n, err := strconv.Atoi(s)
		if err != nil || n < min {
			bad(name, "%q is not an integer >= %d", s, min)
			return def
		}
		return n
	}
	durationMin := func(name string, def, min time.Duration) time.Duration {
		s := get(name, def.String())
		d, err := time.ParseDuration(s)
		if err != nil || d < min {
			bad(name, "%q is not a duration >= %s like 250ms or 5s", s, min)
			return def
		}
		return d
	}
	duration := func(name string, def time.Duration) time.Duration {
		return durationMin(name, def, time.Millisecond)
	}
	boolean := func(name string, def bool) bool {
		s := get(name, strconv.FormatBool(def))
		b, err := strconv.ParseBool(s)
		if err != nil {
			bad(name, "%q is not true or false", s)
			return def
		}
		return b
	}
	dsn := func(name string, schemes ...string) string {
		s := get(name, "")
		if s == "" {
			bad(name, "is required")
			return ""
		}
		u, err := url.Parse(s)
		if err != nil {
			bad(name, "not a URL")
			return ""
		}
		for _, sc := range schemes {
			if u.Scheme == sc {
				return s
			}
		}
		bad(name, "scheme %q is not one of %s", u.Scheme, strings.Join(schemes, ", "))
		return ""
	}

	c := Config{
		Host:               get("HOST", "0.0.0.0"),
		Port:               integer("PORT", 5000, 0),
		DatabaseURL:        dsn("DATABASE_URL", "postgres", "postgresql"),
		RedisURL:           dsn("REDIS_URL", "redis", "rediss", "unix"),
		ShutdownGrace:      duration("SHUTDOWN_GRACE", 25*time.Second),
		ShutdownDelay:      durationMin("SHUTDOWN_DELAY", 0, 0),
		DBPoolMax:          integer("DB_POOL_MAX", 10, 1),
		DBTimeout:          duration("DB_TIMEOUT", 3*time.Second),
		DBStatementTimeout: duration("DB_STATEMENT_TIMEOUT", 5*time.Second),
		RedisTimeout:       duration("REDIS_TIMEOUT", 250*time.Millisecond),
		ValidateCacheTTL:   duration("VALIDATE_CACHE_TTL", 2*time.Second),
		RateLimit:          integer("RATE_LIMIT_PER_SEC", 0, 0),
		Retention:          duration("RETENTION", 24*time.Hour),
		OutboxRelay:        boolean("OUTBOX_RELAY", true),
		OutboxPoll:         duration("OUTBOX_POLL", 500*time.Millisecond),
		PartnerWebhookURL:  get("PARTNER_WEBHOOK_URL", ""),
		EgressAddr:         get("EGRESS_ADDR", ""),
		PartnerTimeout:     duration("PARTNER_TIMEOUT", 5*time.Second),
	}
	if c.Port > 65535 {
		bad("PORT", "%d is not a TCP port", c.Port)
	}
	if getenv("MONGODB_URL") == "" && getenv("MONGODB_URI") != "" {
		c.MongoURL = dsn("MONGODB_URI", "mongodb", "mongodb+srv")
	} else {
		c.MongoURL = dsn("MONGODB_URL", "mongodb", "mongodb+srv")
	}

	c.Credentials = map[string]string{}
	id, token := get("APP_ID", ""), get("APP_TOKEN", "")
	switch {
	case id != "" && token != "":
		c.Credentials[id] = token
	case id != "" || token != "":
		bad("APP_ID, APP_TOKEN", "set both or neither")
	}
	if s := get("APP_CREDENTIALS", ""); s != "" {
		for i, pair := range strings.Split(s, ",") {
			pid, ptoken, ok := strings.Cut(strings.TrimSpace(pair), ":")
			if !ok || pid == "" || ptoken == "" {
				bad("APP_CREDENTIALS", "pair %d is not id:token", i+1)
				continue
			}
			c.Credentials[pid] = ptoken
		}
	}
	if len(c.Credentials) == 0 {
		bad("APP_ID, APP_TOKEN", "no application credentials: set APP_ID and APP_TOKEN or APP_CREDENTIALS")
	}

	bs, err := bugs.Parse(getenv("COUPONAPI_BUGS"))
	if err != nil {
		bad("COUPONAPI_BUGS", "%v", err)
	}
	c.Bugs = bs

	if c.PartnerWebhookURL != "" {
		if _, err := partner.New(c.PartnerWebhookURL, c.EgressAddr, c.PartnerTimeout); err != nil {
			errs = append(errs, err)
		}
	} else if c.EgressAddr != "" {
		if _, err := partner.ParseEgress(c.EgressAddr); err != nil {
			errs = append(errs, err)
		}
	}

	switch lvl := strings.ToLower(get("LOG_LEVEL", "info")); lvl {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		bad("LOG_LEVEL", "%q is not debug, info, warn or error", lvl)
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("bad configuration:\n  %w", joinLines(errs))
	}
	return c, nil
}

func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}
