package partner

import (
	"context"
	"fmt"
	"time"

	"github.com/cutover/cutover/harness/internal/oracle"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// SyncName is the name of the partner_sync invariant.
const SyncName = "partner_sync"

// DefaultRetryCap is the longest pause between two deliveries of one event
// that couponapi documents: its outbox retries a refused delivery with
// exponential backoff capped at 30 s.
const DefaultRetryCap = 30 * time.Second

// WaitSynced waits (up to timeout) until every redemption id in ids has
// been accepted by the partner, and reports how many still were not.
func (s *Server) WaitSynced(ctx context.Context, ids []string, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		acc := s.Accepted()
		missing := 0
		for _, id := range ids {
			if _, ok := acc[id]; !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SyncChecker is the partner_sync invariant: every committed redemption —
// rolled back or not, whichever platform committed it — reached the partner
// (a call its firewall accepted), or is still being retried as the service
// documents: the partner refused it, and refused it again within RetryCap
// of the check. A redemption never offered to the partner, or whose
// refused deliveries stopped, is a violation. Call WaitSynced before
// checking to let retries land.
type SyncChecker struct {
	Partner *Server
	// RetryCap is the service's documented longest pause between two
	// deliveries of one event (default DefaultRetryCap).
	RetryCap time.Duration
	// At is when the partner's calls are judged (default: when Check runs).
	At time.Time
}

var _ oracle.Checker = SyncChecker{}

// Name implements oracle.Checker.
func (SyncChecker) Name() string { return SyncName }

// Check implements oracle.Checker.
func (c SyncChecker) Check(in *oracle.Input) oracle.Result {
	r := oracle.Result{Name: SyncName, Description: "every committed redemption was accepted by the partner webhook through its firewall, or was refused and is still retried within the service's documented backoff; checked counts committed redemptions"}
	if ok, why := in.State.Has(state.Redemptions); !ok {
		r.Verdict, r.Reason = oracle.Unknown, "final state has no redemptions ("+why+")"
		return r
	}
	if len(in.State.Redemptions) == 0 {
		r.Verdict, r.Reason = oracle.Unknown, "no committed redemption the partner should have been told about"
		return r
	}
	retryCap, at := c.RetryCap, c.At
	if retryCap <= 0 {
		retryCap = DefaultRetryCap
	}
	if at.IsZero() {
		at = time.Now()
	}
	acc := c.Partner.Accepted()
	refused := map[string]time.Time{} // redemption id → last refused call
	for _, call := range c.Partner.Calls() {
		if !call.Accepted && call.Time.After(refused[call.RedemptionID]) {
			refused[call.RedemptionID] = call.Time
		}
	}
	var retrying int64
	for _, red := range in.State.Redemptions {
		r.Checked++
		if _, ok := acc[red.ID]; ok {
			continue
		}
		var msg string
		switch last, ok := refused[red.ID]; {
		case ok && at.Sub(last) <= retryCap:
			retrying++
			continue
		case ok:
			msg = fmt.Sprintf("redemption %s of %s was refused by the partner, last at %s, and not offered again within %s", red.ID, red.Voucher, last.Format(time.RFC3339Nano), retryCap)
		default:
			msg = fmt.Sprintf("redemption %s of %s never reached the partner", red.ID, red.Voucher)
		}
		r.Violations++
		if len(r.Examples) < oracle.MaxExamples {
			r.Examples = append(r.Examples, in.Example(red.Voucher, msg, in.OpsFor(red)...))
		}
	}
	switch {
	case r.Violations > 0:
		r.Verdict = oracle.Fail
		r.Reason = fmt.Sprintf("%d committed redemptions did not reach the partner and are not being retried", r.Violations)
	default:
		r.Verdict = oracle.Pass
		if retrying > 0 {
			r.Reason = fmt.Sprintf("%d redemptions were refused and are still retried within %s, as the service documents", retrying, retryCap)
		}
	}
	return r
}
