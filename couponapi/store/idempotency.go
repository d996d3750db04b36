package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// IdemKey identifies an idempotent request: the application, the
// Idempotency-Key it sent and a hash of the request (method, path, body).
// An empty Key means the request is not idempotent.
type IdemKey struct {
	AppID string
	Key   string
	Hash  []byte
}

// Response is the answer of an idempotent request, stored with its key and
// replayed verbatim to every retry.
type Response struct {
	Status int
	Body   []byte
}

// Idempotent runs fn in one transaction. With a key, it first claims the
// key in that same transaction (a unique row); fn's answer is stored in that
// row and committed together with fn's effects, so the key and the effect
// exist together or not at all, whichever process — or platform — runs it.
//
// A concurrent request with the same key waits on the row until the first
// transaction ends; if that one committed, it gets the stored answer
// (replayed = true, nothing else done); if it rolled back, it runs itself.
// The same key with a different hash gives ErrIdempotencyMismatch.
//
// An error from fn rolls everything back, key included, so a retry runs
// again. A refusal that fn turns into a Response is committed and replayed.
func (s *Store) Idempotent(ctx context.Context, k IdemKey, fn func(context.Context, *Tx) (Response, error)) (resp Response, replayed bool, err error) {
	for attempt := 0; ; attempt++ {
		resp, replayed, err = s.idempotentOnce(ctx, k, fn)
		// The stored row vanished between our conflict and our read (pruned):
		// run again, at most once more.
		if errors.Is(err, errKeyVanished) && attempt == 0 {
			continue
		}
		return resp, replayed, err
	}
}

var errKeyVanished = errors.New("idempotency record vanished")

func (s *Store) idempotentOnce(ctx context.Context, k IdemKey, fn func(context.Context, *Tx) (Response, error)) (Response, bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return Response{}, false, fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{Conn: conn, store: s}
	defer func() {
		// Whatever is still open is rolled back; a connection that cannot
		// say is destroyed by Release rather than reused mid-transaction.
		if !conn.Conn().IsClosed() && conn.Conn().PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_, _ = conn.Exec(rctx, "rollback")
			cancel()
		}
		conn.Release()
	}()
	if k.Key == "" {
		if _, err := conn.Exec(ctx, "begin"); err != nil {
			return Response{}, false, fmt.Errorf("begin: %w", err)
		}
	} else {
		// One round trip: begin, and claim the key.
		claim := &pgx.Batch{}
		claim.Queue("begin")
		claim.Queue(`INSERT INTO idempotency_keys (app_id, key, request_hash)
			VALUES ($1, $2, $3) ON CONFLICT (app_id, key) DO NOTHING`, k.AppID, k.Key, k.Hash)
		br := conn.SendBatch(ctx, claim)
		_, err := br.Exec()
		var tag pgconn.CommandTag
		if err == nil {
			tag, err = br.Exec()
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Response{}, false, fmt.Errorf("claim idempotency key: %w", err)
		}
		if tag.RowsAffected() == 0 {
			// Another transaction committed this key: replay its answer.
			if _, err := conn.Exec(ctx, "rollback"); err != nil {
				return Response{}, false, fmt.Errorf("claim idempotency key: %w", err)
			}
			var hash, body []byte
			var status int
			err := conn.QueryRow(ctx, `SELECT request_hash, status, response FROM idempotency_keys
				WHERE app_id = $1 AND key = $2`, k.AppID, k.Key).Scan(&hash, &status, &body)
			if errors.Is(err, pgx.ErrNoRows) {
				return Response{}, false, errKeyVanished
			}
			if err != nil {
				return Response{}, false, fmt.Errorf("read idempotency record: %w", err)
			}
			if !bytes.Equal(hash, k.Hash) {
				return Response{}, false, ErrIdempotencyMismatch
			}
			return Response{Status: status, Body: body}, true, nil
		}
	}
	resp, err := fn(ctx, tx)
	if err != nil {
		return Response{}, false, err
	}
	if resp.Body == nil {
		resp.Body = []byte{}
	}
	if k.Key != "" {
		tx.later("store idempotent response", `UPDATE idempotency_keys SET status = $3, response = $4
			WHERE app_id = $1 AND key = $2`, k.AppID, k.Key, resp.Status, resp.Body)
	}
	if err := tx.commit(ctx); err != nil {
		return Response{}, false, err
	}
	if len(tx.direct) > 0 && s.opts.DirectEvents != nil {
		s.opts.DirectEvents(ctx, tx.direct)
	}
	return resp, false, nil
}
