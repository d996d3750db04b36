package chaos

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/history"
)

// Event is one fault on the run's timeline.
type Event struct {
	Name   string    `json:"name"`
	Kind   string    `json:"kind"`
	Target string    `json:"target,omitempty"`
	Stage  string    `json:"stage,omitempty"`
	Start  time.Time `json:"start"`
	// End is when the fault healed (zero for one-shot faults and faults
	// still active at the end).
	End   time.Time `json:"end,omitempty"`
	Error string    `json:"error,omitempty"`

	fault Fault
}

// Evidence is what the event's fault left in rec.
func (e Event) Evidence(rec *Record) Effect {
	w, ok := e.fault.(Witness)
	if !ok {
		return Effect{Summary: "this fault kind cannot show evidence"}
	}
	return w.Evidence(rec, Window{Start: e.Start, End: e.End})
}

// Nemesis applies faults on a timeline and records every start and heal as
// history entries (process "nemesis"), as Jepsen's nemesis does.
type Nemesis struct {
	env    *Env
	record func(history.Op)
	now    func() time.Time

	mu     sync.Mutex
	active map[string]*running
	events []Event
	seq    int
	wg     sync.WaitGroup
	// failed receives the first fault that could not start: the rehearsal
	// is then not the one the scenario describes.
	failed chan error
}

type running struct {
	spec   Spec
	fault  Fault
	event  int
	cancel context.CancelFunc // stops the pending start / timed heal
	// on: Start returned without error (the fault is in place).
	on     bool
	healed bool
}

// NewNemesis returns a nemesis acting on env; record receives history
// entries (it must be safe for concurrent use).
func NewNemesis(env *Env, record func(history.Op)) *Nemesis {
	return &Nemesis{env: env, record: record, now: time.Now, active: map[string]*running{}, failed: make(chan error, 1)}
}

// Failed delivers the first error of a fault that could not start.
func (n *Nemesis) Failed() <-chan error { return n.failed }

// StartError is a fault that could not start.
type StartError struct {
	Name, Kind string
	Err        error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("fault %s (%s) could not start: %v", e.Name, e.Kind, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// Schedule starts fault f after a delay, in the background, and heals it
// after dur when dur > 0 and it can be healed. stage labels the entries.
//
// Stop and Heal cancel a start still pending and a timed heal, but not a
// Start under way: a dyno cycle still restarting when the run ends is
// let finish (Stop waits for it), or the fault would fail for the
// harness's own ending; only ctx ending (an interrupted run) cancels it.
func (n *Nemesis) Schedule(parent context.Context, spec Spec, f Fault, stage string, after, dur time.Duration) {
	ctx, cancel := context.WithCancel(parent)
	r := &running{spec: spec, fault: f, cancel: cancel, event: -1}
	n.mu.Lock()
	n.active[spec.Name] = r
	n.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if !sleep(ctx, after) {
			return
		}
		n.start(parent, r, stage)
		if _, ok := f.(Healer); !ok || dur <= 0 {
			return
		}
		if !sleep(ctx, dur) {
			return
		}
		_ = n.heal(context.WithoutCancel(ctx), spec.Name)
	}()
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (n *Nemesis) op(typ history.Type, id string, r *running, phase string, err error) history.Op {
	v := map[string]string{"phase": phase, "kind": r.spec.Kind}
	if r.spec.Target != "" {
		v["target"] = r.spec.Target
	}
	for k, p := range r.spec.Params {
		v["param."+k] = p
	}
	op := history.Op{ID: id, Type: typ, Process: history.Nemesis, F: r.spec.Name, Time: n.now(), Value: v}
	op.Intended = op.Time
	if err != nil {
		op.Error = err.Error()
	}
	return op
}

func (n *Nemesis) start(ctx context.Context, r *running, stage string) {
	n.mu.Lock()
	n.seq++
	id := fmt.Sprintf("nemesis-%d", n.seq)
	ev := Event{Name: r.spec.Name, Kind: r.spec.Kind, Target: r.spec.Target, Stage: stage, Start: n.now(), fault: r.fault}
	n.events = append(n.events, ev)
	r.event = len(n.events) - 1
	n.mu.Unlock()

	inv := n.op(history.Invoke, id, r, "start", nil)
	inv.Stage = stage
	n.record(inv)
	err := r.fault.Start(ctx, n.env)
	done := n.op(history.OK, id, r, "start", err)
	done.Stage = stage
	n.mu.Lock()
	r.on = err == nil
	n.mu.Unlock()
	if err != nil {
		done.Type = history.Info
		n.mu.Lock()
		n.events[r.event].Error = err.Error()
		n.mu.Unlock()
		if ctx.Err() == nil {
			select {
			case n.failed <- &StartError{Name: r.spec.Name, Kind: r.spec.Kind, Err: err}:
			default:
			}
		}
	}
	n.record(done)
}

// Heal ends the named fault now (a heal step). Healing a fault that has no
// Heal, or already healed, is not an error.
func (n *Nemesis) Heal(ctx context.Context, name string) error {
	n.mu.Lock()
	r, ok := n.active[name]
	n.mu.Unlock()
	if !ok {
		return fmt.Errorf("heal %s: no such fault was started", name)
	}
	r.cancel() // a timed heal no longer needs to happen
	return n.heal(ctx, name)
}

func (n *Nemesis) heal(ctx context.Context, name string) error {
	n.mu.Lock()
	r := n.active[name]
	if r == nil || r.healed || r.event < 0 {
		n.mu.Unlock()
		return nil
	}
	h, ok := r.fault.(Healer)
	r.healed = true
	n.seq++
	id := fmt.Sprintf("nemesis-%d", n.seq)
	n.mu.Unlock()
	if !ok {
		return nil
	}
	n.record(n.op(history.Invoke, id, r, "heal", nil))
	err := h.Heal(ctx, n.env)
	done := n.op(history.OK, id, r, "heal", err)
	if err != nil {
		done.Type = history.Info
	}
	n.record(done)
	n.mu.Lock()
	n.events[r.event].End = n.now()
	if err != nil {
		n.events[r.event].Error = joinMsg(n.events[r.event].Error, "heal: "+err.Error())
	}
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("heal %s: %w", name, err)
	}
	return nil
}

// Active names the faults in place and not yet healed, sorted: a fault
// whose Start has not returned yet (a Toxiproxy toxic on its way) is not
// active, nor is one whose Start failed.
func (n *Nemesis) Active() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for name, r := range n.active {
		if r.on && !r.healed {
			if _, ok := r.fault.(Healer); ok {
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Events returns the timeline so far.
func (n *Nemesis) Events() []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Event(nil), n.events...)
}

// Stop cancels pending faults, heals every active one and waits for the
// nemesis's goroutines.
func (n *Nemesis) Stop(ctx context.Context) error {
	n.mu.Lock()
	var names []string
	for name, r := range n.active {
		r.cancel()
		names = append(names, name)
	}
	n.mu.Unlock()
	n.wg.Wait()
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if err := n.heal(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
