package oracle

import (
	"fmt"
	"sort"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// Operation is one client operation: its invoke and its completion.
type Operation struct {
	Invoke *history.Op
	// Done is the completion (ok, fail or info), nil when the history ends
	// before the operation completed.
	Done *history.Op
	// Cached once at pairing, as every checker asks for them.
	outcome                 history.Type
	voucher, key, rid, rbid string
}

// ID is the operation's id.
func (o *Operation) ID() string { return o.Invoke.ID }

// F is the operation name (redeem, rollback, validate, ...).
func (o *Operation) F() string { return o.Invoke.F }

// Type is the outcome: ok, fail, or info — unknown, including an operation
// that never completed.
func (o *Operation) Type() history.Type { return o.outcome }

// Last is the completion, or the invoke when there is none.
func (o *Operation) Last() *history.Op {
	if o.Done != nil {
		return o.Done
	}
	return o.Invoke
}

// Invoked is when the request was sent; Completed when its answer (or its
// failure) arrived, or the zero time if it never did.
func (o *Operation) Invoked() time.Time { return o.Invoke.Time }

// Completed is when the operation completed (zero if it never did).
func (o *Operation) Completed() time.Time {
	if o.Done == nil {
		return time.Time{}
	}
	return o.Done.Time
}

// pick returns the completion's value when set, else the invoke's.
func pick(done, invoke string) string {
	if done != "" {
		return done
	}
	return invoke
}

// settle caches the fields checkers read: the completion's value when it
// has one, else the invoke's.
func (o *Operation) settle() {
	i, d := o.Invoke, o.Done
	if d == nil {
		d = &history.Op{}
	}
	o.voucher = pick(d.Voucher, i.Voucher)
	o.key = pick(d.IdempotencyKey, i.IdempotencyKey)
	o.rid = pick(d.RedemptionID, i.RedemptionID)
	o.rbid = pick(d.RollbackID, i.RollbackID)
}

// Voucher is the voucher code the operation acted on.
func (o *Operation) Voucher() string { return o.voucher }

// IdempotencyKey is the key the request carried.
func (o *Operation) IdempotencyKey() string { return o.key }

// RedemptionID is the id a redeem returned, or the one a rollback targets.
func (o *Operation) RedemptionID() string { return o.rid }

// RollbackID is the id a rollback returned.
func (o *Operation) RollbackID() string { return o.rbid }

// Valid is a validate's answer, if it got one.
func (o *Operation) Valid() (valid, known bool) {
	if o.Done == nil || o.Done.Valid == nil {
		return false, false
	}
	return *o.Done.Valid, true
}

// Input is what every checker reads: the history's operations and the final
// state, each indexed once so that no checker does quadratic work.
type Input struct {
	// Ops are the client operations in invoke order.
	Ops []Operation
	// Faults are the nemesis entries in time order.
	Faults []*history.Op
	State  *state.State

	// History indexes (positions in Ops), each list in invoke order.
	redeemsByVoucher  map[string][]int32
	redeemsByKey      map[string][]int32
	rollbacksByTarget map[string][]int32
	validatesBy       map[string][]int32
	// historyVouchers lists voucher codes in order of first appearance.
	historyVouchers []string
	historyKeys     []string

	// State indexes (positions in State slices).
	voucherByCode         map[string]int32
	redemptionByID        map[string]int32
	redemptionsByVoucher  map[string][]int32
	redemptionsByKey      map[string][]int32
	rollbacksByRedemption map[string][]int32
	stateKeys             []string

	// keysWhy says why the final state's idempotency keys cannot be
	// trusted ("" when they can); customersKnown tells whether the state's
	// redemptions name their customers.
	keysWhy        string
	customersKnown bool
}

// NewInput pairs every invoke with its completion and indexes history and
// state. st may be nil (checkers that need it then say unknown). The ops
// must stay unchanged while the Input is used.
func NewInput(ops []history.Op, st *state.State) (*Input, error) {
	if st == nil {
		st = &state.State{Missing: map[state.Part]string{
			state.Vouchers: "not read", state.Redemptions: "not read", state.Rollbacks: "not read",
			state.Events: "not read", state.Validations: "not read", state.IdempotencyKeys: "not read",
			state.Database: "not read",
		}}
	}
	in := &Input{
		State:             st,
		Ops:               make([]Operation, 0, len(ops)/2+1),
		redeemsByVoucher:  map[string][]int32{},
		redeemsByKey:      make(map[string][]int32, len(ops)/4),
		rollbacksByTarget: make(map[string][]int32, len(ops)/20),
		validatesBy:       map[string][]int32{},
	}
	if err := in.pair(ops); err != nil {
		return nil, err
	}
	in.indexHistory()
	in.indexState()
	return in, nil
}

// pair builds Ops from invoke/completion entries sharing an id.
func (in *Input) pair(ops []history.Op) error {
	pending := map[string]int32{}
	for i := range ops {
		e := &ops[i]
		if e.Process == history.Nemesis {
			in.Faults = append(in.Faults, e)
			continue
		}
		if e.Type == history.Invoke {
			if _, dup := pending[e.ID]; dup {
				return fmt.Errorf("history entry %d: operation %q invoked twice without completing", e.Index, e.ID)
			}
			pending[e.ID] = int32(len(in.Ops))
			in.Ops = append(in.Ops, Operation{Invoke: e, outcome: history.Info})
			continue
		}
		switch e.Type {
		case history.OK, history.Fail, history.Info:
		default:
			return fmt.Errorf("history entry %d: operation %q has unknown type %q", e.Index, e.ID, e.Type)
		}
		pos, ok := pending[e.ID]
		if !ok {
			// A completion without its invoke: keep it, sent and
			// completed at once, rather than lose it.
			in.Ops = append(in.Ops, Operation{Invoke: e, Done: e, outcome: e.Type})
			continue
		}
		delete(pending, e.ID)
		in.Ops[pos].Done, in.Ops[pos].outcome = e, e.Type
	}
	for i := range in.Ops {
		in.Ops[i].settle()
	}
	sort.SliceStable(in.Faults, func(i, j int) bool { return in.Faults[i].Time.Before(in.Faults[j].Time) })
	return nil
}

func (in *Input) indexHistory() {
	seenVoucher := map[string]bool{}
	for i := range in.Ops {
		o := &in.Ops[i]
		pos := int32(i)
		v := o.Voucher()
		switch o.F() {
		case history.Redeem:
			in.redeemsByVoucher[v] = append(in.redeemsByVoucher[v], pos)
			if k := o.IdempotencyKey(); k != "" {
				if _, seen := in.redeemsByKey[k]; !seen {
					in.historyKeys = append(in.historyKeys, k)
				}
				in.redeemsByKey[k] = append(in.redeemsByKey[k], pos)
			}
		case history.Rollback:
			if id := o.RedemptionID(); id != "" {
				in.rollbacksByTarget[id] = append(in.rollbacksByTarget[id], pos)
			}
		case history.Validate:
			in.validatesBy[v] = append(in.validatesBy[v], pos)
		default:
			continue
		}
		if v != "" && !seenVoucher[v] {
			seenVoucher[v] = true
			in.historyVouchers = append(in.historyVouchers, v)
		}
	}
}

func (in *Input) indexState() {
	st := in.State
	in.voucherByCode = make(map[string]int32, len(st.Vouchers))
	for i, v := range st.Vouchers {
		in.voucherByCode[v.Code] = int32(i)
	}
	in.redemptionByID = make(map[string]int32, len(st.Redemptions))
	in.redemptionsByVoucher = make(map[string][]int32, len(st.Vouchers))
	in.redemptionsByKey = make(map[string][]int32, len(st.Redemptions))
	for i, r := range st.Redemptions {
		in.redemptionByID[r.ID] = int32(i)
		in.redemptionsByVoucher[r.Voucher] = append(in.redemptionsByVoucher[r.Voucher], int32(i))
		if r.IdempotencyKey != "" {
			if _, seen := in.redemptionsByKey[r.IdempotencyKey]; !seen {
				in.stateKeys = append(in.stateKeys, r.IdempotencyKey)
			}
			in.redemptionsByKey[r.IdempotencyKey] = append(in.redemptionsByKey[r.IdempotencyKey], int32(i))
		}
	}
	in.rollbacksByRedemption = make(map[string][]int32, len(st.Rollbacks))
	for i, rb := range st.Rollbacks {
		in.rollbacksByRedemption[rb.RedemptionID] = append(in.rollbacksByRedemption[rb.RedemptionID], int32(i))
	}
	for _, r := range st.Redemptions {
		if r.Customer != "" {
			in.customersKnown = true
			break
		}
	}
	switch ok, why := st.Has(state.IdempotencyKeys); {
	case !ok:
		in.keysWhy = fmt.Sprintf("final state has no %s (%s)", state.IdempotencyKeys, why)
	case len(in.stateKeys) == 0 && len(st.Redemptions) > 0 && len(in.historyKeys) > 0:
		in.keysWhy = fmt.Sprintf("none of the %d redemptions in the final state carries an idempotency key, although the redeems sent %d keys (the service's listing does not expose idempotency_key?)", len(st.Redemptions), len(in.historyKeys))
	}
}

// needKeys marks the result unknown unless the final state's idempotency
// keys can be trusted.
func (t *tally) needKeys() bool {
	if ok, _ := t.in.State.Has(state.Redemptions); !ok {
		return false
	}
	if t.in.keysWhy != "" {
		t.undecided = append(t.undecided, t.in.keysWhy)
		return false
	}
	return true
}

// ops resolves positions to operations.
func (in *Input) ops(pos []int32) []*Operation {
	out := make([]*Operation, len(pos))
	for i, p := range pos {
		out[i] = &in.Ops[p]
	}
	return out
}

// OpsFor returns the redeems behind redemption r, for examples: the ok
// redeems that returned its id, or else the redeems that sent its key.
func (in *Input) OpsFor(r state.Redemption) []*Operation { return in.opsFor(r) }

func (in *Input) opsFor(r state.Redemption) []*Operation {
	var out []*Operation
	for _, p := range in.redeemsByVoucher[r.Voucher] {
		o := &in.Ops[p]
		if o.Type() == history.OK && o.RedemptionID() == r.ID {
			out = append(out, o)
		}
	}
	if len(out) == 0 && r.IdempotencyKey != "" {
		out = in.ops(in.redeemsByKey[r.IdempotencyKey])
	}
	return out
}

// voucher returns the final state of a voucher.
func (in *Input) voucher(code string) (state.Voucher, bool) {
	i, ok := in.voucherByCode[code]
	if !ok {
		return state.Voucher{}, false
	}
	return in.State.Vouchers[i], true
}

// FaultBefore describes the most recent fault entry at or before t ("" when
// none): its name, kind and phase when recorded, target and time.
func (in *Input) FaultBefore(t time.Time) string {
	i := sort.Search(len(in.Faults), func(i int) bool { return in.Faults[i].Time.After(t) })
	if i == 0 {
		return ""
	}
	f := in.Faults[i-1]
	s := f.F
	if kind := f.Value["kind"]; kind != "" && kind != f.F {
		s += " (" + kind + ")"
	}
	if phase := f.Value["phase"]; phase != "" {
		s += " " + phase
	} else {
		s += " " + string(f.Type)
	}
	if target := f.Value["target"]; target != "" {
		s += " on " + target
	}
	return s + " at " + f.Time.Format(time.RFC3339Nano)
}
