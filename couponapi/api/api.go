// Package api holds the wire shapes of the coupon API (shaped like the public
// Voucherify v1 API): what the reference service serves and what the
// harness's traffic generator, replayer and oracle send and read. Amounts are
// integers in the smallest currency unit (cents), as in Voucherify.
//
// Successful calls answer 200 with the object, as Voucherify does (a create
// answers 200 too). Errors answer an Error object with a 4xx/5xx code and a
// stable Key.
package api

import (
	"fmt"
	"net/url"
	"time"
)

// ServicePackage is the import path of the reference service's main
// package, which the harness builds when no binary is given.
const ServicePackage = "github.com/cutover/cutover/cmd/couponapi"

// Headers. Every /v1 request carries the application credentials.
const (
	HeaderAppID          = "X-App-Id"
	HeaderAppToken       = "X-App-Token"
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderRequestID      = "X-Request-Id"
	// HeaderIdempotentReplayed is "true" on a response that replays the
	// stored answer of an earlier request with the same Idempotency-Key.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

// Voucher types and discount types.
const (
	DiscountVoucher = "DISCOUNT_VOUCHER"
	GiftVoucher     = "GIFT_VOUCHER"

	DiscountAmount  = "AMOUNT"
	DiscountPercent = "PERCENT"
)

// Discount of a discount voucher: AmountOff for AMOUNT, PercentOff (up to
// two decimals) for PERCENT, optionally capped by AmountLimit.
type Discount struct {
	Type        string  `json:"type"`
	AmountOff   int64   `json:"amount_off,omitempty"`
	PercentOff  float64 `json:"percent_off,omitempty"`
	AmountLimit int64   `json:"amount_limit,omitempty"`
}

// Gift is the value of a gift card: Amount when issued, Balance left.
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

// Voucher is a discount voucher or a gift card. It is both the body of
// POST /v1/vouchers (ID, Object, CreatedAt and the counters are ignored
// there; Active nil means true) and the answer of GET /v1/vouchers/{code}.
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
	UpdatedAt      *time.Time         `json:"updated_at,omitempty"`
}

// Customer identifies who redeems.
type Customer struct {
	SourceID string `json:"source_id"`
}

// Order is what a voucher is applied to. DiscountAmount and TotalAmount are
// filled in answers: the amount the voucher takes off (or the gift credits
// applied) and what is left to pay.
type Order struct {
	ID             string `json:"id,omitempty"`
	Amount         int64  `json:"amount"`
	DiscountAmount int64  `json:"discount_amount,omitempty"`
	TotalAmount    int64  `json:"total_amount,omitempty"`
}

// GiftCredits asks a gift card for a given amount instead of the order amount
// (Voucherify's "gift": {"credits": N}).
type GiftCredits struct {
	Credits int64 `json:"credits"`
}

// ValidateRequest is the body of POST /v1/vouchers/{code}/validate.
type ValidateRequest struct {
	Customer Customer     `json:"customer"`
	Order    Order        `json:"order"`
	Gift     *GiftCredits `json:"gift,omitempty"`
}

// ValidateResponse is its answer (200 whether valid or not; 404 when the
// code does not exist). Reason and Key say why a voucher is not valid; Order
// says what a redemption would apply now.
type ValidateResponse struct {
	Code     string    `json:"code"`
	Valid    bool      `json:"valid"`
	Reason   string    `json:"reason,omitempty"`
	Key      string    `json:"key,omitempty"`
	Discount *Discount `json:"discount,omitempty"`
	Gift     *Gift     `json:"gift,omitempty"`
	Order    *Order    `json:"order,omitempty"`
}

// RedeemRequest is the body of POST /v1/vouchers/{code}/redemption. A gift
// card gives the order amount, or Gift.Credits when set.
type RedeemRequest struct {
	Customer Customer     `json:"customer"`
	Order    Order        `json:"order"`
	Gift     *GiftCredits `json:"gift,omitempty"`
}

// Redemption results.
const (
	ResultSuccess = "SUCCESS"
	ResultFailure = "FAILURE"
)

// Redemption is the answer to a redeem, and an item of the redemptions list.
// Only successful redemptions are stored and listed; a refused redemption
// answers an Error.
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
	// Remaining is, right after this redemption, the voucher's remaining
	// quantity (nil when unlimited) or the gift card's remaining balance.
	Remaining      *int64 `json:"remaining,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// RolledBack tells whether the redemption was rolled back, and by which rollback.
	RolledBack bool   `json:"rolled_back"`
	RollbackID string `json:"rollback_id,omitempty"`
}

// RollbackRequest is the optional body of POST /v1/redemptions/{id}/rollback
// (the reason may also come as the "reason" query parameter).
type RollbackRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RollbackResponse is the answer to POST /v1/redemptions/{id}/rollback.
// Amount is what went back to the voucher; Remaining is the voucher's
// remaining quantity (nil when unlimited) or gift balance afterwards.
type RollbackResponse struct {
	ID         string    `json:"id"`
	Object     string    `json:"object"` // "redemption_rollback"
	Date       time.Time `json:"date"`
	Redemption string    `json:"redemption"`
	Voucher    string    `json:"voucher"`
	CustomerID string    `json:"customer_id,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Amount     int64     `json:"amount"`
	Result     string    `json:"result"`
	Remaining  *int64    `json:"remaining,omitempty"`
}

// RedemptionList is a page of GET /v1/redemptions. Query parameters:
// voucher (code), customer (source id), result, limit (1..100, default 10),
// page (1-based) or starting_after (a redemption id, for keyset paging), and
// order ("-created_at", the default, or "created_at"). MoreStartingAfter is
// the starting_after value of the next page when HasMore.
type RedemptionList struct {
	Object            string       `json:"object"` // "list"
	DataRef           string       `json:"data_ref"`
	Redemptions       []Redemption `json:"redemptions"`
	Total             int64        `json:"total"`
	HasMore           bool         `json:"has_more"`
	MoreStartingAfter string       `json:"more_starting_after,omitempty"`
}

// ImportResult is the answer to POST /v1/vouchers/import. Errors holds the
// first failures (at most 100), each naming the item or line.
type ImportResult struct {
	Created int64    `json:"created"`
	Failed  int64    `json:"failed"`
	Errors  []string `json:"errors,omitempty"`
}

// Readiness is the body of GET /readyz: Status "ok" (200) or "unavailable"
// (503), and one line per dependency.
type Readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Error is every error response: the HTTP code, a stable machine key and a message.
type Error struct {
	Code      int    `json:"code"`
	Key       string `json:"key"`
	Message   string `json:"message"`
	Details   string `json:"details,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Error makes *Error an error, so clients can return it as one.
func (e *Error) Error() string {
	if e.Details != "" {
		return fmt.Sprintf("%d %s: %s (%s)", e.Code, e.Key, e.Message, e.Details)
	}
	return fmt.Sprintf("%d %s: %s", e.Code, e.Key, e.Message)
}

// Stable error keys (Voucherify's where it has one).
const (
	KeyUnauthorized         = "unauthorized"           // 401
	KeyNotFound             = "not_found"              // 404
	KeyMethodNotAllowed     = "method_not_allowed"     // 405
	KeyDuplicate            = "duplicate_resource_key" // 409: voucher code in use
	KeyInvalidPayload       = "invalid_payload"        // 400
	KeyInvalidVoucher       = "invalid_voucher"        // 400: voucher object specified incorrectly
	KeyInvalidAmount        = "invalid_amount"         // 400: negative amount or credits
	KeyMissingAmount        = "missing_amount"         // 400: a gift card or percent voucher needs an amount
	KeyPayloadTooLarge      = "query_too_large"        // 413
	KeyUnsupportedMediaType = "unsupported_media_type" // 415
	KeyQuantityExceeded     = "quantity_exceeded"      // 400
	KeyGiftAmountExceeded   = "gift_amount_exceeded"   // 400: balance lower than the amount
	KeyVoucherExpired       = "voucher_expired"        // 400
	KeyVoucherNotActiveYet  = "voucher_not_active"     // 400: before its start date
	KeyVoucherDisabled      = "voucher_disabled"       // 400: active=false
	KeyOrderRulesViolated   = "order_rules_violated"   // 400: order below min_order_amount
	KeyIdempotencyMismatch  = "idempotency_key_reused" // 422: same key, different request
	KeyAlreadyRolledBack    = "already_rolled_back"    // 400
	KeyRateLimited          = "too_many_requests"      // 429
	KeyInternal             = "internal_error"         // 500
	KeyUnavailable          = "service_unavailable"    // 503: a dependency failed or timed out
	KeyRequestTimeout       = "request_timeout"        // 503 from the router (not sent by couponapi)
)

// Paths.
const (
	PathVouchers    = "/v1/vouchers"
	PathImport      = "/v1/vouchers/import"
	PathExport      = "/v1/vouchers/export"
	PathRedemptions = "/v1/redemptions"
	PathHealth      = "/healthz"
	PathReady       = "/readyz"
	PathMetrics     = "/metrics"
)

// VoucherPath is GET /v1/vouchers/{code}.
func VoucherPath(code string) string { return PathVouchers + "/" + url.PathEscape(code) }

// ValidatePath is POST /v1/vouchers/{code}/validate.
func ValidatePath(code string) string { return VoucherPath(code) + "/validate" }

// RedeemPath is POST /v1/vouchers/{code}/redemption.
func RedeemPath(code string) string { return VoucherPath(code) + "/redemption" }

// RedemptionPath is GET /v1/redemptions/{id}.
func RedemptionPath(id string) string { return PathRedemptions + "/" + url.PathEscape(id) }

// RollbackPath is POST /v1/redemptions/{id}/rollback.
func RollbackPath(id string) string { return RedemptionPath(id) + "/rollback" }

// Import content types.
const (
	ContentTypeJSON = "application/json"
	ContentTypeCSV  = "text/csv"
)

// The audit/event log in Mongo: one document per event, keyed by the event
// id (inserts only, never updates — see README on the embedded Mongo).
const (
	MongoDatabase   = "couponapi"
	EventCollection = "events"

	EventVoucherCreated       = "voucher.created"
	EventRedemptionCreated    = "redemption.created"
	EventRedemptionRolledBack = "redemption.rolled_back"
	// EventVouchersImported is one event per committed import batch (Count
	// vouchers), so a bulk import does not flood the audit log.
	EventVouchersImported = "vouchers.imported"
)

// Event is one audit-log document. The same JSON is posted to the partner
// webhook (PARTNER_WEBHOOK_URL) for redemption.created events.
type Event struct {
	ID           string    `json:"id" bson:"_id"`
	Type         string    `json:"type" bson:"type"`
	Voucher      string    `json:"voucher" bson:"voucher"`
	RedemptionID string    `json:"redemption_id,omitempty" bson:"redemption_id,omitempty"`
	RollbackID   string    `json:"rollback_id,omitempty" bson:"rollback_id,omitempty"`
	Amount       int64     `json:"amount,omitempty" bson:"amount,omitempty"`
	At           time.Time `json:"at" bson:"at"`
	// CustomerID and OrderID describe a redemption; Count an import batch.
	CustomerID string `json:"customer_id,omitempty" bson:"customer_id,omitempty"`
	OrderID    string `json:"order_id,omitempty" bson:"order_id,omitempty"`
	Count      int64  `json:"count,omitempty" bson:"count,omitempty"`
}
