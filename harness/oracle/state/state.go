// Package state is the final state of a run as the oracle sees it: the
// vouchers, redemptions and rollbacks the coupon service reports once the
// replay has drained, the audit events in Mongo, and validate probes sent
// after the drain. Read fills a State through the service's API (and Mongo);
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
)

// State is the final state of one run.
type State struct {
	Vouchers    []Voucher    `json:"vouchers"`
	Redemptions []Redemption `json:"redemptions"`
	Rollbacks   []Rollback   `json:"rollbacks"`
	// Events are the redemption audit events found in Mongo.
	Events []api.Event `json:"events"`
	// Validations are validate calls sent after the drain.
	Validations []Validation `json:"validations"`

	// Missing names the parts that could not be read, with the reason.
	// A part not listed was read completely.
	Missing map[Part]string `json:"missing,omitempty"`
	// Derived names parts that were reconstructed from other parts rather
	// than read, with how.
	Derived map[Part]string `json:"derived,omitempty"`
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
	// Redeemed is the redeemed quantity the service reports.
	Redeemed int64 `json:"redeemed"`
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

// Validation is the answer to one validate sent after the drain.
type Validation struct {
	Voucher string `json:"voucher"`
	// Target is the service URL that answered (one per platform).
	Target string    `json:"target"`
	Valid  bool      `json:"valid"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
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
