// Package api holds the wire shapes of the coupon API (shaped like the public
// Voucherify v1 API): what the reference service serves and what the
// harness's traffic generator, replayer and oracle send and read. Amounts are
// integers in the smallest currency unit (cents), as in Voucherify.
package api

import "time"

// Credential headers every request carries.
const (
	HeaderAppID          = "X-App-Id"
	HeaderAppToken       = "X-App-Token"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderRequestID      = "X-Request-Id"
)

// Voucher types and discount types.
const (
	DiscountVoucher = "DISCOUNT_VOUCHER"
	GiftVoucher     = "GIFT_VOUCHER"

	DiscountAmount  = "AMOUNT"
	DiscountPercent = "PERCENT"
)

// Discount of a discount voucher.
type Discount struct {
	Type       string  `json:"type"`
	AmountOff  int64   `json:"amount_off,omitempty"`
	PercentOff float64 `json:"percent_off,omitempty"`
}

// Gift is the balance of a gift card.
type Gift struct {
	Amount  int64 `json:"amount"`
	Balance int64 `json:"balance"`
}

// VoucherRedemption is the redemption counter of a voucher. Quantity nil
// means unlimited.
type VoucherRedemption struct {
	Quantity         *int64 `json:"quantity"`
	RedeemedQuantity int64  `json:"redeemed_quantity"`
	RedeemedAmount   int64  `json:"redeemed_amount,omitempty"`
}

// Voucher is a discount voucher or a gift card.
type Voucher struct {
	ID             string             `json:"id,omitempty"`
	Code           string             `json:"code"`
	Object         string             `json:"object,omitempty"` // "voucher"
	Type           string             `json:"type"`
	Discount       *Discount          `json:"discount,omitempty"`
	Gift           *Gift              `json:"gift,omitempty"`
	MinOrderAmount int64              `json:"min_order_amount,omitempty"`
	StartDate      *time.Time         `json:"start_date,omitempty"`
	ExpirationDate *time.Time         `json:"expiration_date,omitempty"`
	Active         *bool              `json:"active,omitempty"`
	Redemption     *VoucherRedemption `json:"redemption,omitempty"`
	CreatedAt      *time.Time         `json:"created_at,omitempty"`
}

// Customer identifies who redeems.
type Customer struct {
	SourceID string `json:"source_id"`
}

// Order is what a voucher is applied to.
type Order struct {
	ID             string `json:"id,omitempty"`
	Amount         int64  `json:"amount"`
	DiscountAmount int64  `json:"discount_amount,omitempty"`
	TotalAmount    int64  `json:"total_amount,omitempty"`
}

// ValidateRequest is the body of POST /v1/vouchers/{code}/validate.
type ValidateRequest struct {
	Customer Customer `json:"customer"`
	Order    Order    `json:"order"`
}

// ValidateResponse is its answer.
type ValidateResponse struct {
	Code     string    `json:"code"`
	Valid    bool      `json:"valid"`
	Reason   string    `json:"reason,omitempty"`
	Key      string    `json:"key,omitempty"`
	Discount *Discount `json:"discount,omitempty"`
	Gift     *Gift     `json:"gift,omitempty"`
	Order    *Order    `json:"order,omitempty"`
}

// RedeemRequest is the body of POST /v1/vouchers/{code}/redemption.
type RedeemRequest struct {
	Customer Customer `json:"customer"`
	Order    Order    `json:"order"`
}

// Redemption results.
const (
	ResultSuccess = "SUCCESS"
	ResultFailure = "FAILURE"
)

// Redemption is the answer to a redeem, and an item of the redemptions list.
type Redemption struct {
	ID         string    `json:"id"`
	Object     string    `json:"object"` // "redemption"
	Date       time.Time `json:"date"`
	CustomerID string    `json:"customer_id"`
	Voucher    string    `json:"voucher"` // code
	Order      Order     `json:"order"`
	// Amount is the discount (discount voucher) or the amount taken from
	// the gift card's balance (gift card).
	Amount int64  `json:"amount"`
	Result string `json:"result"`
	// Remaining is the voucher's remaining quantity (nil when unlimited) or
	// the gift card's remaining balance.
	Remaining      *int64 `json:"remaining,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// RolledBack tells whether the redemption was rolled back, and by which rollback.
	RolledBack bool   `json:"rolled_back"`
	RollbackID string `json:"rollback_id,omitempty"`
}

// RollbackResponse is the answer to POST /v1/redemptions/{id}/rollback.
type RollbackResponse struct {
	ID         string    `json:"id"`
	Object     string    `json:"object"` // "redemption_rollback"
	Date       time.Time `json:"date"`
	Redemption string    `json:"redemption"`
	Voucher    string    `json:"voucher"`
	Amount     int64     `json:"amount"`
	Result     string    `json:"result"`
}

// RedemptionList is a page of GET /v1/redemptions.
type RedemptionList struct {
	Object      string       `json:"object"` // "list"
	DataRef     string       `json:"data_ref"`
	Redemptions []Redemption `json:"redemptions"`
	Total       int64        `json:"total"`
	HasMore     bool         `json:"has_more"`
}

// ImportResult is the answer to POST /v1/vouchers/import.
type ImportResult struct {
	Created int64    `json:"created"`
	Failed  int64    `json:"failed"`
	Errors  []string `json:"errors,omitempty"`
}

// Error is every error response: the HTTP code, a stable machine key and a message.
type Error struct {
	Code      int    `json:"code"`
	Key       string `json:"key"`
	Message   string `json:"message"`
	Details   string `json:"details,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Stable error keys.
const (
	KeyUnauthorized        = "unauthorized"
	KeyNotFound            = "not_found"
	KeyDuplicate           = "duplicate_found"
	KeyInvalidPayload      = "invalid_payload"
	KeyQuantityExceeded    = "quantity_exceeded"
	KeyGiftAmountExceeded  = "gift_amount_exceeded"
	KeyVoucherExpired      = "voucher_expired"
	KeyVoucherNotActiveYet = "voucher_not_active_yet"
	KeyVoucherDisabled     = "voucher_disabled"
	KeyOrderRulesViolated  = "order_rules_violated"
	KeyIdempotencyMismatch = "idempotency_key_reused"
	KeyAlreadyRolledBack   = "already_rolled_back"
	KeyRateLimited         = "too_many_requests"
	KeyInternal            = "internal_error"
	KeyUnavailable         = "service_unavailable"
	KeyRequestTimeout      = "request_timeout"
)

// Paths.
const (
	PathVouchers    = "/v1/vouchers"
	PathImport      = "/v1/vouchers/import"
	PathExport      = "/v1/vouchers/export"
	PathRedemptions = "/v1/redemptions"
	PathHealth      = "/healthz"
	PathReady       = "/readyz"
)

// The audit/event log in Mongo: one document per event, keyed by the event
// id (inserts only, never updates — see README on the embedded Mongo).
const (
	MongoDatabase   = "couponapi"
	EventCollection = "events"

	EventVoucherCreated       = "voucher.created"
	EventRedemptionCreated    = "redemption.created"
	EventRedemptionRolledBack = "redemption.rolled_back"
)

// Event is one audit-log document.
type Event struct {
	ID           string    `json:"id" bson:"_id"`
	Type         string    `json:"type" bson:"type"`
	Voucher      string    `json:"voucher" bson:"voucher"`
	RedemptionID string    `json:"redemption_id,omitempty" bson:"redemption_id,omitempty"`
	RollbackID   string    `json:"rollback_id,omitempty" bson:"rollback_id,omitempty"`
	Amount       int64     `json:"amount,omitempty" bson:"amount,omitempty"`
	At           time.Time `json:"at" bson:"at"`
}
