// Package service assembles one couponapi process from its configuration:
// the Postgres store (migrated at start under an advisory lock), the Redis
// cache, the Mongo audit log and its outbox relay, the partner webhook and
// the HTTP server; and shuts it down the way Heroku expects on SIGTERM.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/couponapi/cache"
	"github.com/cutover/cutover/couponapi/config"
	"github.com/cutover/cutover/couponapi/events"
	"github.com/cutover/cutover/couponapi/metrics"
	"github.com/cutover/cutover/couponapi/partner"
	"github.com/cutover/cutover/couponapi/server"
	"github.com/cutover/cutover/couponapi/store"
)

// Service is one running couponapi process.
type Service struct {
	cfg   config.Config
	log   *slog.Logger
	ln    net.Listener
	http  *http.Server
	store *store.Store
	cache *cache.Cache
	mongo *mongo.Client
	relay *events.Relay

	migrated atomic.Bool
	draining atomic.Bool
	served   chan error // the HTTP server's exit

	stop context.CancelFunc // stops the background work
	wg   sync.WaitGroup
}

// Start prepares the dependencies — the schema migrated, retrying while
// Postgres is unreachable — and only then binds the port: Heroku's router
// sends requests to a dyno as soon as its port is bound (it has no
// readiness check), so a process that bound first would answer 503 to
// every request routed to it while it booted, which a dyno restart turned
// into a burst of errors. A platform that gives up on a slow boot (Heroku's
// R10 after 60 s, a liveness probe) sees a process that never bound. Start
// returns when the port is bound, or with ctx's error; only bad
// configuration fails it otherwise.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Service, error) {
	s := &Service{cfg: cfg, log: log, served: make(chan error, 1)}
	mongoClient, err := mongo.Connect(options.Client().ApplyURI(cfg.MongoURL).
		SetAppName("couponapi").
		SetServerSelectionTimeout(2 * time.Second).
		SetConnectTimeout(2 * time.Second).
		SetMaxPoolSize(10))
	if err != nil {
		return nil, fmt.Errorf("configure mongo client: %w", err)
	}
	s.mongo = mongoClient
	mongoSink := events.NewMongoSink(mongoClient)

	var webhook *partner.Webhook
	if cfg.PartnerWebhookURL != "" {
		if webhook, err = partner.New(cfg.PartnerWebhookURL, cfg.EgressAddr, cfg.PartnerTimeout); err != nil {
			s.closeDeps()
			return nil, err
		}
	}
	s.store, err = store.Open(cfg.DatabaseURL, store.Options{
		PoolMax:          int32(cfg.DBPoolMax),
		StatementTimeout: cfg.DBStatementTimeout,
		Partner:          webhook != nil,
		Bugs:             cfg.Bugs,
		DirectEvents: func(ctx context.Context, evs []api.Event) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
			defer cancel()
			mongoSink.WriteDirect(ctx, evs, log)
		},
	})
	if err != nil {
		s.closeDeps()
		return nil, err
	}
	s.cache, err = cache.New(cfg.RedisURL, cache.Options{Timeout: cfg.RedisTimeout, Log: log})
	if err != nil {
		s.closeDeps()
		return nil, err
	}
	if cfg.OutboxRelay {
		sinks := []events.Sink{mongoSink}
		if webhook != nil {
			sinks = append(sinks, webhook)
		}
		s.relay = events.NewRelay(s.store, sinks, events.Options{Poll: cfg.OutboxPoll, Keep: cfg.Retention, Log: log})
	}
	committed := func() {}
	if s.relay != nil {
		committed = s.relay.Wake
	}
	handler := server.New(server.Deps{
		Store:            s.store,
		Cache:            s.cache,
		Log:              log,
		Credentials:      cfg.Credentials,
		Bugs:             cfg.Bugs,
		DBTimeout:        cfg.DBTimeout,
		ValidateCacheTTL: cfg.ValidateCacheTTL,
		RateLimit:        cfg.RateLimit,
		Migrated:         s.migrated.Load,
		Draining:         s.draining.Load,
		Committed:        committed,
		Metrics:          metrics.New(s.store.PoolStat),
	})

	if err := s.migrate(ctx); err != nil {
		s.closeDeps()
		return nil, err
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	s.ln, err = net.Listen("tcp", addr)
	if err != nil {
		s.closeDeps()
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Heroku's router keeps idle connections to a dyno for 90 s; a
		// shorter idle timeout here races it into H13/H18 errors.
		IdleTimeout: 95 * time.Second,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() { s.served <- s.http.Serve(s.ln) }()

	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	if s.relay != nil {
		s.wg.Go(func() { s.relay.Run(bg) })
	}
	log.Info("listening", "addr", s.ln.Addr().String(), "bugs", cfg.Bugs.String(),
		"outbox_relay", cfg.OutboxRelay, "partner_webhook", webhook != nil, "pool_max", cfg.DBPoolMax)
	for _, b := range bugs.Bugs {
		if cfg.Bugs.Has(b.Name) {
			log.Warn("planted bug switched on", "bug", string(b.Name), "effect", b.Effect)
		}
	}
	return s, nil
}

// migrate brings the schema up to date, retrying while Postgres is
// unreachable, until ctx ends.
func (s *Service) migrate(ctx context.Context) error {
	wait := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := s.store.Migrate(mctx)
		cancel()
		if err == nil {
			s.migrated.Store(true)
			s.log.Info("database ready", "migrations_applied", n)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("database not ready before the service was stopped: %w", err)
		}
		if attempt == 1 || attempt%20 == 0 {
			s.log.Warn("database not ready, retrying", "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database not ready before the service was stopped: %w", err)
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// Addr is where the service listens.
func (s *Service) Addr() string { return s.ln.Addr().String() }

// Ready reports whether the schema is migrated and the API serves.
func (s *Service) Ready() bool { return s.migrated.Load() }

// Relay is the outbox relay, nil when OUTBOX_RELAY is false.
func (s *Service) Relay() *events.Relay { return s.relay }

// Failed delivers the error that stopped the HTTP server unexpectedly.
func (s *Service) Failed() <-chan error { return s.served }

// Shutdown drains the service: readyz fails at once, the listener closes
// after cfg.ShutdownDelay (new connections are refused, so Heroku's router
// retries another dyno), requests in flight finish, the relay records its
// batch in flight, and the connections close. It returns an error when
// requests were still running as ctx ended; they are then cut.
func (s *Service) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.log.Info("shutting down: draining requests in flight")
	if s.cfg.ShutdownDelay > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(s.cfg.ShutdownDelay):
		}
	}
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
		err = fmt.Errorf("drain requests in flight: %w", err)
	}
	s.stop()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("stop outbox relay: %w", ctx.Err()))
	}
	s.closeDeps()
	if err == nil {
		s.log.Info("shutdown complete")
	}
	return err
}

func (s *Service) closeDeps() {
	if s.store != nil {
		s.store.Close()
	}
	if s.cache != nil {
		_ = s.cache.Close()
	}
	if s.mongo != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.mongo.Disconnect(ctx)
	}
}

// Run starts the service and serves until ctx ends (SIGTERM in main), then
// shuts down within cfg.ShutdownGrace.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	s, err := Start(ctx, cfg, log)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped while booting: nothing was served, nothing to drain.
			log.Info("stopped before serving", "err", err)
			return nil
		}
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-s.Failed():
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		return errors.Join(fmt.Errorf("serve: %w", err), s.Shutdown(sctx))
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	return s.Shutdown(sctx)
}
