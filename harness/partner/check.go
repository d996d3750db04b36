package partner

import (
	"context"
	"fmt"
	"time"

	"github.com/cutover/cutover/harness/oracle"
	"github.com/cutover/cutover/harness/oracle/state"
)

// SyncName is the name of the partner_sync invariant.
const SyncName = "partner_sync"

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

// SyncChecker is the partner_sync invariant: every committed redemption
// reached the partner (a call the firewall accepted), whichever platform
// committed it. Call WaitSynced before checking to let retries land.
type SyncChecker struct{ Partner *Server }

var _ oracle.Checker = SyncChecker{}

// Name implements oracle.Checker.
func (SyncChecker) Name() string { return SyncName }

// Check implements oracle.Checker.
func (c SyncChecker) Check(in *oracle.Input) oracle.Result {
	r := oracle.Result{Name: SyncName, Description: "every committed redemption was delivered to the partner webhook through its firewall (checked: committed redemptions)"}
	if ok, why := in.State.Has(state.Redemptions); !ok {
		r.Verdict, r.Reason = oracle.Unknown, "final state has no redemptions ("+why+")"
		return r
	}
	acc := c.Partner.Accepted()
	for _, red := range in.State.Redemptions {
		r.Checked++
		if _, ok := acc[red.ID]; ok {
			continue
		}
		r.Violations++
		if len(r.Examples) < oracle.MaxExamples {
			r.Examples = append(r.Examples, oracle.Violation{
				Message: fmt.Sprintf("redemption %s of %s never reached the partner", red.ID, red.Voucher),
				Voucher: red.Voucher,
			})
		}
	}
	r.Verdict = oracle.Pass
	if r.Violations > 0 {
		r.Verdict = oracle.Fail
		r.Reason = fmt.Sprintf("%d committed redemptions were never accepted by the partner", r.Violations)
	}
	return r
}
