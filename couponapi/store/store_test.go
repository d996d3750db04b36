package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/couponapi/store"
	"github.com/cutover/cutover/couponapi/voucher"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

func TestStore(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded stack")
	}
	st := stacktest.Embedded(t)
	ctx := context.Background()
	s, err := store.Open(st.Endpoints().PostgresURL, store.Options{})
	require.NoError(t, err)
	t.Cleanup(s.Close)

	t.Run("migrations apply once under concurrency", func(t *testing.T) {
		var applied atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				n, err := s.Migrate(ctx)
				require.NoError(t, err)
				applied.Add(int64(n))
			})
		}
		wg.Wait()
		require.EqualValues(t, 1, applied.Load())
		n, err := s.Migrate(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})

	create := func(code string) {
		v, err := voucher.FromAPI(api.Voucher{Code: code, Type: api.GiftVoucher, Gift: &api.Gift{Amount: 100}})
		require.NoError(t, err)
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx *store.Tx) error {
			_, err := s.CreateVoucher(ctx, tx, v)
			return err
		}))
	}

	t.Run("a failed transaction leaves no idempotency record", func(t *testing.T) {
		key := store.IdemKey{AppID: "a", Key: "k-fail", Hash: []byte("h")}
		boom := errors.New("boom")
		_, _, err := s.Idempotent(ctx, key, func(ctx context.Context, tx *store.Tx) (store.Response, error) {
			return store.Response{}, boom
		})
		require.ErrorIs(t, err, boom)
		resp, replayed, err := s.Idempotent(ctx, key, func(ctx context.Context, tx *store.Tx) (store.Response, error) {
			return store.Response{Status: 200, Body: []byte("second")}, nil
		})
		require.NoError(t, err)
		require.False(t, replayed)
		require.Equal(t, "second", string(resp.Body))
		resp, replayed, err = s.Idempotent(ctx, key, func(ctx context.Context, tx *store.Tx) (store.Response, error) {
			t.Fatal("a replay must not run")
			return store.Response{}, nil
		})
		require.NoError(t, err)
		require.True(t, replayed)
		require.Equal(t, "second", string(resp.Body))
		_, _, err = s.Idempotent(ctx, store.IdemKey{AppID: "a", Key: "k-fail", Hash: []byte("other")},
			func(ctx context.Context, tx *store.Tx) (store.Response, error) { return store.Response{}, nil })
		require.ErrorIs(t, err, store.ErrIdempotencyMismatch)
		// Keys are per application.
		_, replayed, err = s.Idempotent(ctx, store.IdemKey{AppID: "b", Key: "k-fail", Hash: []byte("other")},
			func(ctx context.Context, tx *store.Tx) (store.Response, error) {
				return store.Response{Status: 200}, nil
			})
		require.NoError(t, err)
		require.False(t, replayed)
	})

	t.Run("outbox relay: at least once, retried with backoff, never handed out twice at once", func(t *testing.T) {
		for i := range 30 {
			create(fmt.Sprintf("OUTBOX-%d", i))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		refusedOnce := map[string]bool{}
		deliver := func(_ context.Context, evs []api.Event) []error {
			time.Sleep(20 * time.Millisecond) // hold the rows while the other relay runs
			errs := make([]error, len(evs))
			mu.Lock()
			defer mu.Unlock()
			for i, ev := range evs {
				seen[ev.ID]++
				if ev.Voucher == "OUTBOX-3" && !refusedOnce[ev.ID] {
					refusedOnce[ev.ID] = true
					errs[i] = errors.New("sink down")
				}
			}
			return errs
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for {
					ok, failed, err := s.RelayOutbox(ctx, store.SinkMongo, 7, deliver)
					require.NoError(t, err)
					if ok+failed == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		pending, err := s.OutboxPending(ctx, store.SinkMongo)
		require.NoError(t, err)
		require.EqualValues(t, 1, pending, "the refused event waits for its backoff")
		for id, n := range seen {
			if refusedOnce[id] {
				require.Equal(t, 1, n, "not retried before its backoff")
				continue
			}
			require.Equal(t, 1, n, "event %s handed out %d times", id, n)
		}
		require.True(t, eventually(func() bool {
			_, _, err := s.RelayOutbox(ctx, store.SinkMongo, 7, deliver)
			require.NoError(t, err)
			n, _ := s.OutboxPending(ctx, store.SinkMongo)
			return n == 0
		}), "the refused event is retried after its backoff")
	})

	t.Run("outbox_skipped: events skip the outbox, after commit, each with its own id", func(t *testing.T) {
		var mu sync.Mutex
		var direct []api.Event
		buggy, err := store.Open(st.Endpoints().PostgresURL, store.Options{
			Bugs: bugs.Set{bugs.OutboxSkipped: true},
			DirectEvents: func(_ context.Context, evs []api.Event) {
				mu.Lock()
				defer mu.Unlock()
				direct = append(direct, evs...)
			},
		})
		require.NoError(t, err)
		t.Cleanup(buggy.Close)
		pending, err := buggy.OutboxPending(ctx, store.SinkMongo)
		require.NoError(t, err)
		for i := range 3 {
			v, err := voucher.FromAPI(api.Voucher{Code: fmt.Sprintf("DIRECT-%d", i), Type: api.GiftVoucher, Gift: &api.Gift{Amount: 100}})
			require.NoError(t, err)
			require.NoError(t, buggy.InTx(ctx, func(ctx context.Context, tx *store.Tx) error {
				_, err := buggy.CreateVoucher(ctx, tx, v)
				return err
			}))
		}
		// A transaction that does not commit hands nothing over.
		v, err := voucher.FromAPI(api.Voucher{Code: "DIRECT-ABORTED", Type: api.GiftVoucher, Gift: &api.Gift{Amount: 100}})
		require.NoError(t, err)
		boom := errors.New("boom")
		require.ErrorIs(t, buggy.InTx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if _, err := buggy.CreateVoucher(ctx, tx, v); err != nil {
				return err
			}
			return boom
		}), boom)

		mu.Lock()
		defer mu.Unlock()
		require.Len(t, direct, 3)
		ids := map[string]bool{}
		for i, ev := range direct {
			require.Equal(t, fmt.Sprintf("DIRECT-%d", i), ev.Voucher)
			require.Regexp(t, `^evt_[0-9a-f]{20}$`, ev.ID, "the audit log's _id")
			ids[ev.ID] = true
		}
		require.Len(t, ids, 3, "distinct ids")
		after, err := buggy.OutboxPending(ctx, store.SinkMongo)
		require.NoError(t, err)
		require.Equal(t, pending, after, "nothing went through the outbox")
	})

	t.Run("prune keeps recent rows", func(t *testing.T) {
		n, err := s.Prune(ctx, time.Hour)
		require.NoError(t, err)
		require.Zero(t, n)
		time.Sleep(10 * time.Millisecond)
		n, err = s.Prune(ctx, time.Millisecond)
		require.NoError(t, err)
		require.Positive(t, n)
	})
}

func eventually(cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("begin: %w", io.ErrUnexpectedEOF), true},
		{&pgconn.PgError{Code: "25006"}, true},
		{&pgconn.PgError{Code: "57014"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "42601"}, false},
		{errors.New("failed to connect: connection refused"), true},
		{errors.New("something else"), false},
	} {
		require.Equal(t, tc.want, store.Unavailable(tc.err), "%v", tc.err)
	}
}
