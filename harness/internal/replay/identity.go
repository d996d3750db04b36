package replay

import (
	"encoding/json"
	"strings"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// Identity remaps the identities a trace names so that one trace can be
// replayed twice against the same databases: voucher codes, customers and
// idempotency keys get the run's prefix. In amplify mode each copy of a
// request also gets a copy tag on its customer, idempotency key and client,
// so the copies are distinct customers redeeming the same vouchers. The
// mapping is a pure function: retries of one redeem keep sharing their key,
// and a rollback still names the key of the redeem it undoes.
type Identity struct {
	// Run is the per-run prefix, e.g. "r42-".
	Run string
	// Copy is the amplify copy tag ("" for the original, "a1-", "a2-", ...).
	Copy string
}

// Voucher maps a voucher code (the same for every copy).
func (id Identity) Voucher(code string) string {
	if code == "" {
		return ""
	}
	return id.Run + code
}

// Customer maps a customer source id.
func (id Identity) Customer(c string) string {
	if c == "" {
		return ""
	}
	return id.Run + id.Copy + c
}

// Key maps an idempotency key.
func (id Identity) Key(k string) string {
	if k == "" {
		return ""
	}
	return id.Run + id.Copy + k
}

// Client maps a virtual client id (the run prefix is not needed: the DNS
// model lives as long as the run).
func (id Identity) Client(c string) string { return id.Copy + c }

// SeedVoucher maps a voucher of the seed fixture, so the harness creates the
// vouchers the remapped trace names.
func (id Identity) SeedVoucher(v api.Voucher) api.Voucher {
	v.Code = id.Voucher(v.Code)
	v.ID = ""
	return v
}

// remapPath replaces the voucher code segment of a coupon API path.
func (id Identity) remapPath(path, voucher string) string {
	if voucher == "" || id.Run == "" {
		return path
	}
	// /v1/vouchers/{code}[/...]
	prefix := api.PathVouchers + "/"
	if !strings.HasPrefix(path, prefix) {
		return path
	}
	rest := path[len(prefix):]
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	if rest[:end] != voucher {
		return path
	}
	return prefix + id.Voucher(voucher) + rest[end:]
}

// remapBody rewrites the identities inside a JSON body: the customer of a
// validate or redeem, the code of a created voucher, the codes of an
// import (a JSON array of vouchers, or an object with a "vouchers" array).
// A body it cannot parse is sent as recorded.
func (id Identity) remapBody(op string, body []byte) []byte {
	if len(body) == 0 || (id.Run == "" && id.Copy == "") {
		return body
	}
	var changed bool
	switch op {
	case history.Validate, history.Redeem:
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return body
		}
		if c, ok := m["customer"].(map[string]any); ok {
			if s, ok := c["source_id"].(string); ok && s != "" {
				c["source_id"], changed = id.Customer(s), true
			}
		}
		if changed {
			return marshalOr(m, body)
		}
	case history.Create:
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return body
		}
		if id.recode(m) {
			return marshalOr(m, body)
		}
	case history.Import:
		var v any
		if json.Unmarshal(body, &v) != nil {
			return body
		}
		list, _ := v.([]any)
		if m, ok := v.(map[string]any); ok {
			list, _ = m["vouchers"].([]any)
		}
		for _, item := range list {
			if m, ok := item.(map[string]any); ok && id.recode(m) {
				changed = true
			}
		}
		if changed {
			return marshalOr(v, body)
		}
	}
	return body
}

func (id Identity) recode(m map[string]any) bool {
	if s, ok := m["code"].(string); ok && s != "" && id.Run != "" {
		m["code"] = id.Voucher(s)
		return true
	}
	return false
}

func marshalOr(v any, fallback []byte) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return fallback
	}
	return b
}

// planFrom remaps one trace line.
func (id Identity) remap(r trace.Request) (path string, body []byte, err error) {
	body, err = r.BodyBytes()
	if err != nil {
		return "", nil, err
	}
	return id.remapPath(r.Path, r.Voucher), id.remapBody(r.Op, body), nil
}
