// Package trace is the format of recorded or synthesized coupon traffic: JSON
// lines, optionally gzip-compressed, one request a line with its offset from
// the start of the trace, in order. An optional first line carries the
// trace's metadata ({"meta":{...}}), and writers leave a sidecar
// (FILE.meta.json) with the final request count. Reading streams: a trace
// never has to fit in memory.
package trace

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
)

// Format names this version of the trace format in the metadata line.
const Format = "cutover-trace/1"

// Operation names besides the history's (validate, redeem, rollback, create,
// get, import, export, list).
const (
	// Other is a request the coupon API classification does not know
	// (health checks, unknown paths); it is replayed as it is.
	Other = "other"
)

// Ops lists every operation name a trace line may carry.
var Ops = []string{
	history.Validate, history.Redeem, history.Rollback, history.Create,
	history.Get, history.Import, history.Export, history.List, Other,
}

// RedemptionPlaceholder stands for the redemption id in the path of a
// rollback whose redemption is only known at run time; the replayer
// substitutes the id returned by the redeem named in the line's Undoes.
const RedemptionPlaceholder = "{redemption_id}"

// Body encodings of a Request.
const (
	// BodyJSON (the empty string) means Body is the request body itself, a
	// JSON document.
	BodyJSON = ""
	// BodyText means Body is a JSON string holding the (UTF-8) body.
	BodyText = "text"
	// BodyBase64 means Body is a JSON string holding the base64 body.
	BodyBase64 = "base64"
)

// Request is one line of a trace.
type Request struct {
	// At is the offset in seconds from the start of the trace.
	At float64 `json:"at"`
	// Client is the virtual client that sent the request; the client DNS
	// model keeps one resolver cache per client.
	Client string `json:"client"`
	// Op is the operation name (validate, redeem, rollback, ...).
	Op     string `json:"op"`
	Method string `json:"method"`
	// Path is the request path with its query string.
	Path string `json:"path"`

	// Voucher is the voucher code the request is about, if any.
	Voucher string `json:"voucher,omitempty"`
	// Customer is the customer source id in the body, if any.
	Customer string `json:"customer,omitempty"`
	// Amount is the order amount in the body (cents), if any.
	Amount int64 `json:"amount,omitempty"`
	// Key is the idempotency key of a redeem; a retry carries the same key.
	Key string `json:"key,omitempty"`
	// Undoes is, on a rollback, the idempotency key of the redeem it rolls
	// back; the path then holds RedemptionPlaceholder.
	Undoes string `json:"undoes,omitempty"`

	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body, encoded as BodyEncoding says.
	Body         json.RawMessage `json:"body,omitempty"`
	BodyEncoding string          `json:"body_encoding,omitempty"`
}

// Meta describes a trace: where it came from and how large it is.
type Meta struct {
	Format string `json:"format"`
	// Source says how the trace was made ("synth", "record", "import goreplay").
	Source string `json:"source,omitempty"`
	// Command regenerates the trace, where it can be regenerated.
	Command string `json:"command,omitempty"`
	Seed    uint64 `json:"seed,omitempty"`
	// Start is the wall-clock start of the recorded window (RFC 3339), if known.
	Start string `json:"start,omitempty"`
	// Duration is the offset of the last request, in seconds.
	Duration float64 `json:"duration_s,omitempty"`
	// Requests is the number of request lines (known once the trace is written).
	Requests int64 `json:"requests,omitempty"`
	// SeedData names the fixture of vouchers the trace needs, if any.
	SeedData string `json:"seed_data,omitempty"`
}

// metaLine is the optional first line of a trace.
type metaLine struct {
	Meta *Meta `json:"meta"`
}

// SetBody stores b as the request body, choosing the readable encoding: the
// JSON document itself when b is JSON, text when it is UTF-8, base64 otherwise.
func (r *Request) SetBody(b []byte) {
	r.Body, r.BodyEncoding = nil, BodyJSON
	if len(b) == 0 {
		return
	}
	if json.Valid(b) {
		r.Body = append(json.RawMessage(nil), b...)
		return
	}
	var s string
	if utf8.Valid(b) {
		s, r.BodyEncoding = string(b), BodyText
	} else {
		s, r.BodyEncoding = base64.StdEncoding.EncodeToString(b), BodyBase64
	}
	enc, _ := json.Marshal(s) // a string always marshals
	r.Body = enc
}

// BodyBytes returns the request body as it goes on the wire.
func (r *Request) BodyBytes() ([]byte, error) {
	if len(r.Body) == 0 {
		return nil, nil
	}
	switch r.BodyEncoding {
	case BodyJSON:
		return r.Body, nil
	case BodyText, BodyBase64:
		var s string
		if err := json.Unmarshal(r.Body, &s); err != nil {
			return nil, fmt.Errorf("body: %s body is not a JSON string: %w", r.BodyEncoding, err)
		}
		if r.BodyEncoding == BodyText {
			return []byte(s), nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("body: bad base64: %w", err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("body_encoding: unknown %q (want \"\", %q or %q)", r.BodyEncoding, BodyText, BodyBase64)
	}
}

// Validate checks one line; the error names the offending field.
func (r *Request) Validate() error {
	switch {
	case math.IsNaN(r.At) || math.IsInf(r.At, 0) || r.At < 0:
		return fmt.Errorf("at: %v is not a non-negative number of seconds", r.At)
	case r.Method == "":
		return fmt.Errorf("method: missing")
	case strings.ContainsAny(r.Method, " \t\r\n"):
		return fmt.Errorf("method: %q is not an HTTP method", r.Method)
	case !strings.HasPrefix(r.Path, "/"):
		return fmt.Errorf("path: %q does not start with /", r.Path)
	case strings.ContainsAny(r.Path, " \t\r\n"):
		return fmt.Errorf("path: %q contains white space", r.Path)
	case r.Client == "":
		return fmt.Errorf("client: missing")
	case !knownOp(r.Op):
		return fmt.Errorf("op: unknown %q (want one of %s)", r.Op, strings.Join(Ops, ", "))
	case r.Undoes != "" && r.Op != history.Rollback:
		return fmt.Errorf("undoes: only a rollback undoes a redeem, this is a %s", r.Op)
	case r.Op == history.Rollback && r.Undoes == "" && strings.Contains(r.Path, RedemptionPlaceholder):
		return fmt.Errorf("undoes: a rollback of %s needs the key of the redeem it undoes", RedemptionPlaceholder)
	}
	if _, err := r.BodyBytes(); err != nil {
		return err
	}
	return nil
}

func knownOp(op string) bool {
	for _, o := range Ops {
		if o == op {
			return true
		}
	}
	return false
}

// Classify names the coupon API operation of a request and the voucher code
// (or redemption id, for a rollback) its path names.
func Classify(method, path string) (op, subject string) {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimSuffix(path, "/")
	seg := strings.Split(strings.TrimPrefix(path, "/"), "/")
	get := method == "GET" || method == "HEAD"
	post := method == "POST" || method == "PUT"
	switch {
	case path == api.PathImport && post:
		return history.Import, ""
	case path == api.PathExport && get:
		return history.Export, ""
	case path == api.PathVouchers && post:
		return history.Create, ""
	case path == api.PathVouchers && get, path == api.PathRedemptions && get:
		return history.List, ""
	case len(seg) == 3 && seg[0] == "v1" && seg[1] == "vouchers":
		switch {
		case get:
			return history.Get, seg[2]
		case post:
			return history.Create, seg[2]
		}
	case len(seg) == 4 && seg[0] == "v1" && seg[1] == "vouchers" && post:
		switch seg[3] {
		case "validate":
			return history.Validate, seg[2]
		case "redemption":
			return history.Redeem, seg[2]
		}
	case len(seg) == 4 && seg[0] == "v1" && seg[1] == "redemptions" && seg[3] == "rollback" && post:
		return history.Rollback, seg[2]
	}
	return Other, ""
}

// Annotate fills the derived fields of a request made from raw HTTP (an
// import or a recording): the operation, the voucher, the idempotency key,
// and the customer and order amount of a validate or redeem body. Fields
// already set are kept.
func Annotate(r *Request) {
	op, subject := Classify(r.Method, r.Path)
	if r.Op == "" {
		r.Op = op
	}
	if r.Voucher == "" && op != history.Rollback {
		r.Voucher = subject
	}
	if r.Key == "" && op == history.Redeem {
		r.Key = HeaderValue(r.Headers, api.HeaderIdempotencyKey)
	}
	if op != history.Validate && op != history.Redeem {
		return
	}
	b, err := r.BodyBytes()
	if err != nil || len(b) == 0 {
		return
	}
	var body api.RedeemRequest
	if json.Unmarshal(b, &body) != nil {
		return
	}
	if r.Customer == "" {
		r.Customer = body.Customer.SourceID
	}
	if r.Amount == 0 {
		r.Amount = body.Order.Amount
	}
}

// HeaderValue looks a header up case-insensitively.
func HeaderValue(h map[string]string, name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
