package server

import (
	"context"
	"sync"
)

// perVoucherWrites is how many redemptions or rollbacks of one voucher a
// process sends to Postgres at once. Two keep the row busy — one holds the
// row lock while the next has begun and waits at it — and leave the rest of
// the connection pool to other requests.
const perVoucherWrites = 2

// keyLimit bounds how many callers hold one key at a time; the others wait
// in the process, not on a database connection.
//
// Without it, a popular voucher in a checkout burst turns into a lock
// convoy: every pooled connection waits on that voucher's row lock, and
// every other request of the process — reads and validations of other
// vouchers included — waits for a connection behind them.
type keyLimit struct {
	n  int
	mu sync.Mutex
	m  map[string]*keySlots
}

type keySlots struct {
	sem   chan struct{}
	users int // holders and waiters; the entry goes when none is left
}

func newKeyLimit(n int) *keyLimit {
	return &keyLimit{n: n, m: map[string]*keySlots{}}
}

// acquire waits for a slot of key and returns its release, or ctx's error.
func (l *keyLimit) acquire(ctx context.Context, key string) (release func(), err error) {
	l.mu.Lock()
	k := l.m[key]
	if k == nil {
		k = &keySlots{sem: make(chan struct{}, l.n)}
		l.m[key] = k
	}
	k.users++
	l.mu.Unlock()
	select {
	case k.sem <- struct{}{}:
		return func() {
			<-k.sem
			l.leave(key, k)
		}, nil
	case <-ctx.Done():
		l.leave(key, k)
		return nil, ctx.Err()
	}
}

func (l *keyLimit) leave(key string, k *keySlots) {
	l.mu.Lock()
	k.users--
	if k.users == 0 {
		delete(l.m, key)
	}
	l.mu.Unlock()
}

// keys is how many keys are held or waited for (for tests).
func (l *keyLimit) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
