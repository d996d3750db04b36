// Package oracle decides from evidence whether a run kept the coupon
// service's business rules, the way Jepsen checks a database: each invariant
// is a checker that reads the run's history (every client operation as
// invoke, then ok / fail / info) and the final state, and says pass, fail
// (with example operations a reader can look up in the history) or unknown
// (with the reason it could not decide — never a silent pass).
package oracle

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// Checker is one invariant.
type Checker interface {
	// Name is the invariant's stable name, as scenarios spell it.
	Name() string
	Check(in *Input) Result
}

// Verdict is a checker's answer.
type Verdict string

// Verdicts.
const (
	Pass    Verdict = "pass"
	Fail    Verdict = "fail"
	Unknown Verdict = "unknown"
)

// MaxExamples is how many example violations a result keeps.
const MaxExamples = 5

// Result is what one checker found.
type Result struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Verdict     Verdict `json:"verdict"`
	// Reason says why the verdict is unknown (or what a fail is about).
	Reason string `json:"reason,omitempty"`
	// Checked counts the things the checker examined (vouchers, keys,
	// operations — its description says which).
	Checked    int64       `json:"checked"`
	Violations int64       `json:"violations"`
	Examples   []Violation `json:"examples,omitempty"`
	// Results are the parts of a composed check.
	Results []Result `json:"results,omitempty"`
}

// Violation is one broken rule, with what a reader needs to find the
// requests in the history.
type Violation struct {
	Message string `json:"message"`
	// Ops are the ids of the operations that show the violation.
	Ops []string `json:"ops,omitempty"`
	// Indexes are the history entries (completions) of those operations.
	Indexes  []int64 `json:"indexes,omitempty"`
	Voucher  string  `json:"voucher,omitempty"`
	Platform string  `json:"platform,omitempty"`
	// Intended and Time are when the first operation was planned and when
	// it completed (or was sent, if it never completed).
	Intended time.Time `json:"intended,omitzero"`
	Time     time.Time `json:"time,omitzero"`
	// Fault is the most recent fault that started before Time.
	Fault string `json:"fault,omitempty"`
}

func (r Result) String() string {
	s := fmt.Sprintf("%s: %s (checked %d, violations %d)", r.Name, r.Verdict, r.Checked, r.Violations)
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

// Check indexes the history and state once and runs every checker over
// them. An error means the history itself is malformed.
func Check(ops []history.Op, st *state.State, checkers ...Checker) ([]Result, error) {
	in, err := NewInput(ops, st)
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(checkers))
	for i, c := range checkers {
		out[i] = c.Check(in)
	}
	return out, nil
}

// Compose is a checker that holds when all of its checkers hold: it fails
// if any fails, is unknown if none fails but one is unknown, and passes
// otherwise. Its result carries each part in Results.
func Compose(name string, checkers ...Checker) Checker {
	return composed{name: name, checkers: checkers}
}

type composed struct {
	name     string
	checkers []Checker
}

var _ Checker = composed{}

func (c composed) Name() string { return c.name }

func (c composed) Check(in *Input) Result {
	r := Result{Name: c.name, Description: "all of its invariants hold", Verdict: Pass}
	var failed, unknown []string
	for _, ch := range c.checkers {
		sub := ch.Check(in)
		r.Results = append(r.Results, sub)
		r.Checked += sub.Checked
		r.Violations += sub.Violations
		for _, ex := range sub.Examples {
			if len(r.Examples) < MaxExamples {
				r.Examples = append(r.Examples, ex)
			}
		}
		switch sub.Verdict {
		case Fail:
			failed = append(failed, sub.Name)
		case Unknown:
			unknown = append(unknown, sub.Name+": "+sub.Reason)
		}
	}
	switch {
	case len(c.checkers) == 0:
		r.Verdict, r.Reason = Unknown, "no invariant was selected"
	case len(failed) > 0:
		r.Verdict, r.Reason = Fail, "broken: "+strings.Join(failed, ", ")
	case len(unknown) > 0:
		r.Verdict, r.Reason = Unknown, "undecided: "+strings.Join(unknown, "; ")
	}
	return r
}

// All returns every invariant checker, in a stable order.
func All() []Checker {
	return []Checker{
		NoOverRedemption{},
		Bounds{},
		Idempotency{},
		NoLostAck{},
		GiftCardConservation{},
		RollbackOnce{},
		AuditParity{},
		CacheCoherence{Bound: DefaultCacheBound},
		Ledger{},
	}
}

// Names returns the names of every invariant, sorted.
func Names() []string {
	var names []string
	for _, c := range All() {
		names = append(names, c.Name())
	}
	sort.Strings(names)
	return names
}

// ByName returns the checkers a scenario names.
func ByName(names ...string) ([]Checker, error) {
	byName := map[string]Checker{}
	for _, c := range All() {
		byName[c.Name()] = c
	}
	out := make([]Checker, 0, len(names))
	for _, n := range names {
		c, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("unknown invariant %q (known: %s)", n, strings.Join(Names(), ", "))
		}
		out = append(out, c)
	}
	return out, nil
}

// tally accumulates one checker's result.
type tally struct {
	in  *Input
	res Result
	// undecided is why the checker lacks evidence, if it does.
	undecided []string
}

func newTally(in *Input, name, description string) *tally {
	return &tally{in: in, res: Result{Name: name, Description: description}}
}

// need marks the result unknown unless state part p was read.
func (t *tally) need(p state.Part) bool {
	ok, why := t.in.State.Has(p)
	if !ok {
		t.undecided = append(t.undecided, fmt.Sprintf("final state has no %s (%s)", p, why))
	}
	return ok
}

// violate records one violation shown by ops (may be empty).
func (t *tally) violate(voucher, msg string, ops ...*Operation) {
	t.res.Violations++
	if len(t.res.Examples) >= MaxExamples {
		return
	}
	t.res.Examples = append(t.res.Examples, t.in.Example(voucher, msg, ops...))
}

// Example describes one violation shown by ops (may be empty): their ids
// and history entries, and where, when and after which fault the first one
// happened.
func (in *Input) Example(voucher, msg string, ops ...*Operation) Violation {
	v := Violation{Message: msg, Voucher: voucher}
	for i, op := range ops {
		if i == 10 {
			break
		}
		v.Ops = append(v.Ops, op.ID())
		v.Indexes = append(v.Indexes, op.Last().Index)
	}
	if len(ops) > 0 {
		first := ops[0]
		v.Platform = first.Last().Platform
		v.Intended = first.Invoke.Intended
		v.Time = first.Last().Time
		v.Fault = in.FaultBefore(v.Time)
		if v.Voucher == "" {
			v.Voucher = first.Voucher()
		}
	}
	return v
}

// result settles the verdict: any violation is a fail (a violation is
// proof even with evidence missing); otherwise missing evidence or nothing
// checked is unknown.
func (t *tally) result(nothing string) Result {
	r := t.res
	switch {
	case r.Violations > 0:
		r.Verdict = Fail
		if len(t.undecided) > 0 {
			r.Reason = "also undecided: " + strings.Join(t.undecided, "; ")
		}
	case len(t.undecided) > 0:
		r.Verdict, r.Reason = Unknown, strings.Join(t.undecided, "; ")
	case r.Checked == 0:
		r.Verdict, r.Reason = Unknown, nothing
	default:
		r.Verdict = Pass
	}
	return r
}
