// Package history records what every client operation of a run did, in
// Jepsen's terms: an invoke, then an ok (it definitely took effect), a fail
// (it definitely did not) or an info (unknown: it may still have taken
// effect). Faults are entries on the same timeline. A history is plain data:
// the replayer writes it, the oracle checks it, the report draws it.
package history

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/cutover/cutover/internal/jsonl"
)

// Type is the kind of a history entry.
type Type string

const (
	Invoke Type = "invoke"
	OK     Type = "ok"
	Fail   Type = "fail"
	Info   Type = "info"
)

// Operation names (the trace's op field).
const (
	Validate = "validate"
	Redeem   = "redeem"
	Rollback = "rollback"
	Create   = "create"
	Get      = "get"
	Import   = "import"
	Export   = "export"
	List     = "list"
	// Nemesis is the process name of fault entries.
	Nemesis = "nemesis"
)

// Op is one history entry. An operation appears twice: its invoke, and its
// completion (ok, fail or info) with the same ID.
type Op struct {
	// Index is the entry's position in the history.
	Index int64 `json:"index"`
	// ID names the operation; invoke and completion share it.
	ID   string `json:"id"`
	Type Type   `json:"type"`
	// Process is the virtual client that issued the operation, or "nemesis".
	Process string `json:"process"`
	// F is the operation name (redeem, validate, ..., or a fault name).
	F string `json:"f"`

	Voucher        string `json:"voucher,omitempty"`
	Customer       string `json:"customer,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Amount is the order amount (redeem/validate) in the smallest currency unit.
	Amount int64 `json:"amount,omitempty"`
	// Applied is the discount or gift amount the service says it applied.
	Applied int64 `json:"applied,omitempty"`
	// RedemptionID is returned by a redeem, or targeted by a rollback.
	RedemptionID string `json:"redemption_id,omitempty"`
	// RollbackID is returned by a rollback.
	RollbackID string `json:"rollback_id,omitempty"`
	// Valid is the answer of a validate that got one (nil otherwise).
	Valid *bool `json:"valid,omitempty"`

	// Platform that served the request (heroku / aws), by resolved address.
	Platform   string `json:"platform,omitempty"`
	Status     int    `json:"status,omitempty"`
	HerokuCode string `json:"heroku_code,omitempty"`
	// ErrorKey is the service's machine error key (quantity_exceeded ...).
	ErrorKey  string `json:"error_key,omitempty"`
	Error     string `json:"error,omitempty"`
	RequestID string `json:"request_id,omitempty"`

	// Intended is when the plan said to send; Time is when this entry
	// happened (sent for an invoke, completed otherwise).
	Intended time.Time `json:"intended"`
	Time     time.Time `json:"time"`
	// Latency is measured from Intended (no coordinated omission).
	Latency time.Duration `json:"latency_ns,omitempty"`
	// Stage is the name of the step the operation belongs to.
	Stage string `json:"stage,omitempty"`

	// Value carries fault details (target, parameters) for nemesis entries.
	Value map[string]string `json:"value,omitempty"`
}

// IsError says whether a completed client operation counts against an
// error budget: no response or an indeterminate outcome, a Heroku router
// error, or a 5xx. A 4xx business answer (quantity exceeded, expired
// voucher) is the service working, not an error. The gate, the figures of
// the report and the faults' evidence all count errors with it.
func (o Op) IsError() bool {
	return o.Type == Info || o.HerokuCode != "" || o.Status >= 500 || (o.Type == Fail && o.Status == 0)
}

// Writer appends entries to a JSON-lines stream, numbering them. Each line
// is what json.Encoder would write for the entry (see Op.AppendJSON).
type Writer struct {
	bw   *bufio.Writer
	next int64
}

// NewWriter writes JSON lines to w; call Flush at the end.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, 64<<10)}
}

// Write numbers op and appends it.
func (w *Writer) Write(op Op) error {
	op.Index = w.next
	w.next++
	// Encode into the buffer's free space: no copy when the line fits.
	b, err := op.appendJSON(w.bw.AvailableBuffer())
	if err != nil {
		return fmt.Errorf("write history entry %d: %w", op.Index, err)
	}
	if _, err := w.bw.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write history entry %d: %w", op.Index, err)
	}
	return nil
}

// Flush writes buffered entries.
func (w *Writer) Flush() error { return w.bw.Flush() }

// Read decodes a JSON-lines history; name is used in errors.
func Read(r io.Reader, name string) ([]Op, error) {
	return jsonl.Read[Op](r, name, nil)
}
