// Package state is the final state of a run as the oracle sees it: the
// vouchers, redemptions and rollbacks the coupon service reports once the
// replay has drained, the same vouchers and redemptions read from Postgres
// directly, the audit events in Mongo, and validate probes sent after the
// drain. Read fills a State through the service's API, Postgres and Mongo;
// the checkers in harness/oracle consume it as plain data.
package state

import (
	"time"

	"github.com/cutover/cutover/couponapi/api"
)

// Part names one piece of the final state that is read separately, so a
// checker can tell which evidence it lacks.
type Part string

// The parts of a State.
const (
	Vouchers    Part = "vouchers"
	Redemptions Part = "redemptions"
	// Rollbacks is the list of individual rollbacks. When the service only
	// marks redemptions as rolled back, the reader derives one rollback per
	// rolled-back redemption and records that in Derived.
	Rollbacks   Part = "rollbacks"
	Events      Part = "events"
	Validations Part = "validations"
	// IdempotencyKeys is the idempotency_key of each redemption. A service
	// whose redemptions listing does not expose it leaves the keys empty;
	// the reader then records this part missing.
	IdempotencyKeys Part = "idempotency_keys"
	// Database is the second reading of vouchers and redemptions, from
	// Postgres directly rather than through the service.
	Database Part = "database"
)

// State is the final state of one run.
type State struct {
	Vouchers    []Voucher    `json:"vouchers"`
	Redemptions []Redemption `json:"redemptions"`
	Rollbacks   []Rollback   `json:"rollbacks"`
	// Events are the redemption audit events found in Mongo.
	Events []api.Event `json:"events"`
	// Validations are validate calls sent after the drain: one per changed
	// voucher and probe target.
	Validations []Validation `json:"validations"`
	// ProbeTargets are the URLs every changed voucher was probed on (one
	// per replica of each platform, when the run could address them).
	ProbeTargets []string `json:"probe_targets,omitempty"`
	// ProbeGone are the targets that refused the connection at their
	// first probe: replicas stopped after they were listed (no cache left
	// to be stale, no client reaching them).
	ProbeGone []string `json:"probe_gone,omitempty"`
	// Database is the same vouchers and redemptions read from Postgres
	// directly (couponapi's schema), bypassing the service: the second
	// reading the ledger invariant holds against the first.
	Database Reading `json:"database"`
	// CacheBound is the service's documented bound on how stale a validate
	// answer may be (couponapi: VALIDATE_CACHE_TTL, 2 s by default); zero
	// when the run did not say.
	CacheBound time.Duration `json:"cache_bound_ns,omitempty"`

	// Missing names the parts that could not be read, with the reason.
	// A part not listed was read completely.
	Missing map[Part]string `json:"missing,omitempty"`
	// Derived names parts that were reconstructed from other parts rather
	// than read, with how.
	Derived map[Part]string `json:"derived,omitempty"`
	// Reads is how many times the vouchers were read before two reads
	// around the redemptions agreed (2 when nothing was still changing).
	Reads int `json:"reads,omitempty"`
	// EventsWait is how long the reader waited for the outbox to drain.
	EventsWait time.Duration `json:"events_wait_ns,omitempty"`
	ReadAt     time.Time     `json:"read_at"`
}

// Voucher is a voucher or gift card after the run.
type Voucher struct {
	Code string `json:"code"`
	// Type is api.DiscountVoucher or api.GiftVoucher.
	Type string `json:"type"`
	// Quantity is how many times the voucher may be redeemed; nil means
	// unlimited.
	Quantity *int64 `json:"quantity"`
	// Redeemed is the redeemed quantity the service reports (gift cards
	// count their redemptions too).
	Redeemed int64 `json:"redeemed"`
	// RedeemedAmount is the sum of the amounts of the redemptions in
	// effect, as the service counts it.
	RedeemedAmount int64 `json:"redeemed_amount"`
	// InitialBalance and FinalBalance are a gift card's amount at creation
	// and its balance now.
	InitialBalance int64 `json:"initial_balance,omitempty"`
	FinalBalance   int64 `json:"final_balance,omitempty"`
}

// Gift tells whether v is a gift card.
func (v Voucher) Gift() bool { return v.Type == api.GiftVoucher }

// Redemption is one committed redemption, rolled back or not.
type Redemption struct {
	ID             string `json:"id"`
	Voucher        string `json:"voucher"`
	Customer       string `json:"customer,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Amount is the discount given, or the amount taken from a gift card.
	Amount     int64  `json:"amount"`
	RolledBack bool   `json:"rolled_back"`
	RollbackID string `json:"rollback_id,omitempty"`
	// RollbackCount is how many committed rollbacks name this redemption.
	RollbackCount int `json:"rollback_count"`
}

// Rollback is one committed rollback of a redemption.
type Rollback struct {
	ID           string `json:"id"`
	RedemptionID string `json:"redemption_id"`
	Voucher      string `json:"voucher"`
	// Amount is what the rollback gave back (a gift card's balance).
	Amount int64 `json:"amount"`
}

// Reading is vouchers and redemptions as one source reports them.
type Reading struct {
	Vouchers    []Voucher    `json:"vouchers"`
	Redemptions []Redemption `json:"redemptions"`
}

// Validation is the answer to one validate sent after the drain.
type Validation struct {
	Voucher string `json:"voucher"`
	// Target is the service URL that answered (one per replica or
	// platform).
	Target string `json:"target"`
	// Amount is the order amount the probe asked for.
	Amount int64  `json:"amount,omitempty"`
	Valid  bool   `json:"valid"`
	Reason string `json:"reason,omitempty"`
	// Key is the service's machine key of an invalid answer
	// (quantity_exceeded, gift_amount_exceeded, ...).
	Key string `json:"key,omitempty"`
	// Balance is the gift card balance the answer reported, if any.
	Balance *int64    `json:"balance,omitempty"`
	At      time.Time `json:"at"`
}

// Has tells whether part was read; if not, why.
func (s *State) Has(p Part) (bool, string) {
	if s == nil {
		return false, "no final state"
	}
	if reason, missing := s.Missing[p]; missing {
		return false, reason
	}
	return true, ""
}

// SetMissing records that part p could not be read.
func (s *State) SetMissing(p Part, reason string) {
	if s.Missing == nil {
		s.Missing = map[Part]string{}
	}
	s.Missing[p] = reason
}

// Exhausted tells whether the voucher's own counters leave nothing to
// redeem: its quantity used up, or a gift card at zero.
func (v Voucher) Exhausted() bool {
	if v.Gift() && v.FinalBalance <= 0 {
		return true
	}
	return v.Quantity != nil && v.Redeemed >= *v.Quantity
}

// CountRollbacks sets every redemption's RollbackCount from s.Rollbacks.
func (s *State) CountRollbacks() {
	n := make(map[string]int, len(s.Rollbacks))
	for _, rb := range s.Rollbacks {
		n[rb.RedemptionID]++
	}
	for i := range s.Redemptions {
		s.Redemptions[i].RollbackCount = n[s.Redemptions[i].ID]
	}
}

// DeriveRollbacks fills s.Rollbacks with one rollback per rolled-back
// redemption, for services that do not list rollbacks on their own.
func (s *State) DeriveRollbacks() {
	s.Rollbacks = s.Rollbacks[:0]
	for _, r := range s.Redemptions {
		if r.RolledBack {
			s.Rollbacks = append(s.Rollbacks, Rollback{ID: r.RollbackID, RedemptionID: r.ID, Voucher: r.Voucher, Amount: r.Amount})
		}
	}
	if s.Derived == nil {
		s.Derived = map[Part]string{}
	}
	s.Derived[Rollbacks] = "one rollback per redemption marked rolled_back"
	s.CountRollbacks()
}
