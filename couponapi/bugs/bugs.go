// Package bugs lists the planted bugs of couponapi: deliberate, realistic
// mistakes, off by default and switched on by COUPONAPI_BUGS, so the
// harness's tests can prove that each invariant catches the bug it exists for.
package bugs

import (
	"fmt"
	"sort"
	"strings"
)

// Bug is the name of one planted bug.
type Bug string

// The planted bugs.
const (
	CheckThenAct          Bug = "check_then_act"
	IdempotencyIgnored    Bug = "idempotency_ignored"
	IdempotencyRedisOnly  Bug = "idempotency_redis_only"
	ValidateCacheStale    Bug = "validate_cache_stale"
	OutboxSkipped         Bug = "outbox_skipped"
	RollbackTwice         Bug = "rollback_twice"
	ImportBuffer          Bug = "import_buffer"
	IdempotencyByCustomer Bug = "idempotency_by_customer"
	RollbackRestoresTwice Bug = "rollback_restores_twice"
)

// Info documents one bug in one line: what it does and what it breaks.
type Info struct {
	Name   Bug
	Effect string
}

// Bugs is the table of planted bugs (read-only; the README quotes it).
var Bugs = []Info{
	{CheckThenAct, "redeem reads the voucher without a lock, checks it, then writes the counters it computed (lost update): concurrent redemptions exceed the quantity or the gift balance"},
	{IdempotencyIgnored, "the Idempotency-Key header is ignored: every retry redeems again"},
	{IdempotencyRedisOnly, "idempotency answers are kept only in Redis, not with the redemption in Postgres: after a Redis flush or restart, or when retries race, a retry redeems again"},
	{ValidateCacheStale, "the validate cache is never invalidated and lives an hour: validate keeps saying valid after the voucher ran out"},
	{OutboxSkipped, "audit events skip the outbox and are written to Mongo after commit: a Mongo outage or a crash after commit loses them"},
	{RollbackTwice, "rollback does not check whether the redemption was already rolled back: a second rollback restores the quantity or balance again"},
	{ImportBuffer, "import reads the whole upload into memory and keeps it: memory grows with every import (R14/R15 on Heroku)"},
	{IdempotencyByCustomer, "redeem's idempotency record is keyed by the customer instead of the Idempotency-Key: a returning customer's next redeem, under a new key, is answered with their first redemption and nothing is committed"},
	{RollbackRestoresTwice, "rollback takes the redemption's amount off the voucher's redeemed_amount twice (the restore left in two statements): the counter falls below what its redemptions add up to, while quantity and balance stay right"},
}

// Set is the set of bugs switched on.
type Set map[Bug]bool

// Parse reads a comma-separated list of bug names ("" means none).
func Parse(list string) (Set, error) {
	known := make(map[Bug]bool, len(Bugs))
	for _, b := range Bugs {
		known[b.Name] = true
	}
	s := Set{}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !known[Bug(f)] {
			return nil, fmt.Errorf("unknown bug %q (known: %s)", f, strings.Join(Names(), ", "))
		}
		s[Bug(f)] = true
	}
	return s, nil
}

// Names lists the known bug names in table order.
func Names() []string {
	out := make([]string, len(Bugs))
	for i, b := range Bugs {
		out[i] = string(b.Name)
	}
	return out
}

// Has reports whether b is switched on. A nil Set has none.
func (s Set) Has(b Bug) bool { return s[b] }

// String lists the bugs switched on, sorted and comma-separated.
func (s Set) String() string {
	names := make([]string, 0, len(s))
	for b, on := range s {
		if on {
			names = append(names, string(b))
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}
