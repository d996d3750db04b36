package store

import (
	"context"
	"fmt"
	"time"

	"github.com/cutover/cutover/couponapi/api"
)

// RelayOutbox hands up to limit undelivered events of sink to deliver, in
// commit order, and records the outcome. The rows stay locked (FOR UPDATE
// SKIP LOCKED) while deliver runs, so two relays — two processes, two
// platforms — never hand out the same row at once; if the process dies
// before recording, the rows are handed out again later, so sinks must
// accept an event id twice. deliver returns one error per event (nil when
// delivered); a failed event is retried with exponential backoff.
func (s *Store) RelayOutbox(ctx context.Context, sink string, limit int,
	deliver func(context.Context, []api.Event) []error) (delivered, failed int, err error) {
	err = s.InTx(ctx, func(ctx context.Context, tx *Tx) error {
		var ids []int64
		var events []api.Event
		rows, err := tx.Query(ctx, `SELECT id, payload FROM outbox
			WHERE sink = $1 AND delivered_at IS NULL AND next_attempt_at <= now()
			ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, sink, limit)
		if err != nil {
			return fmt.Errorf("claim %s outbox: %w", sink, err)
		}
		for rows.Next() {
			var id int64
			var ev api.Event
			if err := rows.Scan(&id, &ev); err != nil {
				rows.Close()
				return fmt.Errorf("claim %s outbox: %w", sink, err)
			}
			ids = append(ids, id)
			events = append(events, ev)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("claim %s outbox: %w", sink, err)
		}
		if len(events) == 0 {
			return nil
		}
		errs := deliver(ctx, events)
		var ok, bad []int64
		var msgs []string
		for i, id := range ids {
			if i < len(errs) && errs[i] != nil {
				bad = append(bad, id)
				msgs = append(msgs, errs[i].Error())
				continue
			}
			ok = append(ok, id)
		}
		if len(ok) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE outbox SET delivered_at = now(), attempts = attempts + 1
				WHERE id = ANY($1)`, ok); err != nil {
				return fmt.Errorf("record %s deliveries: %w", sink, err)
			}
		}
		if len(bad) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE outbox AS o SET attempts = o.attempts + 1, last_error = f.msg,
				next_attempt_at = now() + least(interval '30 seconds', interval '250 milliseconds' * power(2, o.attempts))
				FROM unnest($1::bigint[], $2::text[]) AS f(id, msg) WHERE o.id = f.id`, bad, msgs); err != nil {
				return fmt.Errorf("record %s failures: %w", sink, err)
			}
		}
		delivered, failed = len(ok), len(bad)
		return nil
	})
	return delivered, failed, err
}

// OutboxPending counts the events of sink not delivered yet.
func (s *Store) OutboxPending(ctx context.Context, sink string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sink = $1 AND delivered_at IS NULL`, sink).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s outbox: %w", sink, err)
	}
	return n, nil
}

// Prune deletes delivered outbox rows and idempotency records older than
// keep, so the tables do not grow forever. A retry that comes after keep is
// treated as a new request, as with Stripe's 24 h.
func (s *Store) Prune(ctx context.Context, keep time.Duration) (int64, error) {
	a, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE delivered_at < now() - $1::interval`, keep)
	if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	b, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval`, keep)
	if err != nil {
		return 0, fmt.Errorf("prune idempotency records: %w", err)
	}
	return a.RowsAffected() + b.RowsAffected(), nil
}
