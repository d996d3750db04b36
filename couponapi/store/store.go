// Package store is couponapi's source of truth in Postgres: vouchers,
// redemptions, idempotency records and the transactional outbox, with the
// embedded schema migrations. Every change that matters happens in one
// transaction together with its idempotency record and its outbox events.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bugs"
)

// Options size the pool and set the server-side timeouts.
type Options struct {
	// PoolMax is the most connections this process opens (default 10, a
	// Heroku dyno's share of a small database plan).
	PoolMax int32
	// StatementTimeout bounds every statement on the server (default 5s).
	StatementTimeout time.Duration
	// ConnectTimeout bounds opening one connection (default 3s).
	ConnectTimeout time.Duration
	// Partner adds a "partner" outbox row to each redemption.created event,
	// for the partner webhook relay.
	Partner bool
	// DirectEvents receives events after commit instead of the outbox; it
	// is used only by the planted bug outbox_skipped.
	DirectEvents func(context.Context, []api.Event)
	Bugs         bugs.Set
}

// Sinks an outbox row can be addressed to.
const (
	SinkMongo   = "mongo"
	SinkPartner = "partner"
)

// Store is the Postgres side of couponapi.
type Store struct {
	pool *pgxpool.Pool
	opts Options
}

// Open configures a pool for databaseURL. It does not connect: the first
// query does, so a process can start while Postgres is still down.
func Open(databaseURL string, o Options) (*Store, error) {
	if o.PoolMax <= 0 {
		o.PoolMax = 10
	}
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = 5 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 3 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg.MaxConns = o.PoolMax
	// The pool is opened in full at start (and kept so): a burst right after
	// a deploy or a restart must not wait for connections to be set up.
	cfg.MinConns = o.PoolMax
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	cfg.PingTimeout = time.Second
	cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	rp := cfg.ConnConfig.RuntimeParams
	rp["application_name"] = "couponapi"
	rp["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	rp["lock_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	rp["idle_in_transaction_session_timeout"] = "60000"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("configure postgres pool: %w", err)
	}
	return &Store{pool: pool, opts: o}, nil
}

// Close closes every connection.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that Postgres answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// PoolStat is the pool's statistics now (for the service's metrics).
func (s *Store) PoolStat() *pgxpool.Stat { return s.pool.Stat() }

// PoolStats reports the pool's connections in use and in total.
func (s *Store) PoolStats() (inUse, total int32) {
	st := s.pool.Stat()
	return st.AcquiredConns(), st.TotalConns()
}

// Tx is one transaction of the store, on a pooled connection on which
// Idempotent began it. Store methods that take a *Tx run inside it; the
// events they record are committed with it.
//
// Writes whose result nothing in the transaction reads again (the voucher
// counters, the redemption row, the outbox rows, the stored idempotent
// answer) are queued with later and sent in one round trip together with
// the COMMIT. A redemption then holds its voucher's row lock — taken by
// SELECT ... FOR UPDATE — for one round trip instead of six, which is what
// bounds the redemption rate of a popular voucher.
type Tx struct {
	*pgxpool.Conn
	store  *Store
	direct []api.Event
	queued pgx.Batch
	what   []string // what each queued statement does, for errors
}

// later queues a write to be sent with the others and the commit.
func (tx *Tx) later(what, sql string, args ...any) {
	tx.queued.Queue(sql, args...)
	tx.what = append(tx.what, what)
}

// commit sends the queued writes and COMMIT in one round trip and checks
// each; a failed write aborts the transaction, and COMMIT then answers
// ROLLBACK.
func (tx *Tx) commit(ctx context.Context) error {
	tx.later("commit", "commit")
	b := tx.queued
	tx.queued = pgx.Batch{}
	br := tx.SendBatch(ctx, &b)
	var first error
	var tag pgconn.CommandTag
	for _, what := range tx.what {
		t, err := br.Exec()
		if err != nil && first == nil {
			first = fmt.Errorf("%s: %w", what, err)
		}
		tag = t
	}
	tx.what = nil
	if err := br.Close(); err != nil && first == nil {
		first = fmt.Errorf("commit: %w", err)
	}
	if first != nil {
		return first
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("commit: %w", pgx.ErrTxCommitRollback)
	}
	return nil
}

// InTx runs fn in one transaction and commits it when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(context.Context, *Tx) error) error {
	_, _, err := s.Idempotent(ctx, IdemKey{}, func(ctx context.Context, tx *Tx) (Response, error) {
		return Response{}, fn(ctx, tx)
	})
	return err
}

// addEvent records ev in the outbox, one row per sink. Every event gets its
// id here, the audit log's _id, whichever way it goes: under the planted bug
// outbox_skipped too, which must lose only what a write after commit loses.
func (tx *Tx) addEvent(ctx context.Context, ev api.Event) error {
	if ev.ID == "" {
		ev.ID = NewID("evt")
	}
	if tx.store.opts.Bugs.Has(bugs.OutboxSkipped) && tx.store.opts.DirectEvents != nil {
		tx.direct = append(tx.direct, ev)
		return nil
	}
	sinks := []string{SinkMongo}
	if tx.store.opts.Partner && ev.Type == api.EventRedemptionCreated {
		sinks = append(sinks, SinkPartner)
	}
	for _, sink := range sinks {
		tx.later(fmt.Sprintf("write %s event to outbox", ev.Type),
			`INSERT INTO outbox (sink, event_id, payload) VALUES ($1, $2, $3)`, sink, ev.ID, ev)
	}
	return nil
}

// NewID returns prefix_ and 20 random hex digits, as Voucherify's ids look
// (r_0c0469eaf705889d99).
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("read random bytes: %v", err)) // crypto/rand never fails on Linux
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

// Now is the store's clock: UTC at Postgres' precision, so a time read back
// equals the time written.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Errors the store returns besides the voucher refusals.
var (
	ErrDuplicate           = errors.New("a voucher with this code already exists")
	ErrRedemptionNotFound  = errors.New("redemption not found")
	ErrAlreadyRolledBack   = errors.New("redemption was already rolled back")
	ErrIdempotencyMismatch = errors.New("idempotency key was used with a different request")
)

// Unavailable reports whether err means Postgres could not be reached or
// did not answer in time (a reason to answer 503 and retry), as opposed to
// a bug or a refusal.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case pgErr.Code == "25006", // read-only transaction (Heroku maintenance)
			pgErr.Code == "57014",                        // statement timeout / canceled
			pgErr.Code == "55P03",                        // lock timeout
			pgErr.Code == "57P01", pgErr.Code == "57P02", // admin / crash shutdown
			pgErr.Code == "57P03",                        // cannot connect now
			pgErr.Code == "53300",                        // too many connections
			pgErr.Code == "40001", pgErr.Code == "40P01", // serialization failure, deadlock
			pgErr.Code == "25P03": // idle in transaction timeout
			return true
		}
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"conn closed", "closed pool", "connection reset", "broken pipe", "connection refused"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
