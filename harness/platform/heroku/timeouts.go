package heroku

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// TimedOut is one request the router answered 503 H12, and what its dyno
// did with it afterwards. Heroku does not tell the dyno: it finishes the
// request and answers into the void, so a write can commit after the client
// gave up on it and while the client's retry is already on its way — the
// race a retry with the same Idempotency-Key must survive. The router log
// has no line for the late answer; the simulation records it as evidence.
type TimedOut struct {
	RequestID string
	Method    string
	Path      string
	Dyno      string
	// At is when the router answered H12.
	At time.Time
	// Answered is when the dyno's response head came, before At when the
	// router held a response it had (router-timeout-burst's response
	// hold), after At when the dyno was still working at the deadline;
	// zero when no answer ever came (the dyno died or the app closed).
	Answered time.Time
	// Status is the dyno's status code (0 without an answer).
	Status int
	// Replayed is set when the dyno marked its answer as the replay of an
	// earlier one (Idempotent-Replayed: true, as Stripe-style APIs and
	// the reference service do): a retry had done the work first.
	Replayed bool
}

// InFlight says whether the dyno was still working on the request when the
// client got its H12: it answered later.
func (t TimedOut) InFlight() bool { return !t.Answered.IsZero() && t.Answered.After(t.At) }

// CommittedAfter says whether the request is a write that the dyno carried
// out after the client saw the H12: it answered 2xx later, and not as a
// replay. Its client could not know it succeeded; a retry it sent raced an
// uncommitted original.
func (t TimedOut) CommittedAfter() bool {
	return t.InFlight() && write(t.Method) && t.Status >= 200 && t.Status < 300 && !t.Replayed
}

func write(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// TimeoutCounts sums up the router's H12s.
type TimeoutCounts struct {
	// H12 is how many requests the router answered 503 H12.
	H12 int `json:"h12"`
	// Held counts H12s whose dyno had answered before the deadline (the
	// router held the response): the work was done before the client saw
	// the 503.
	Held int `json:"held"`
	// InFlight counts H12s whose dyno answered after the 503.
	InFlight int `json:"in_flight"`
	// CommittedAfter counts writes the dyno carried out after the 503
	// (answered 2xx, not a replay).
	CommittedAfter int `json:"committed_after"`
	// ReplayedAfter counts writes the dyno answered after the 503 as a
	// replay: the client's retry committed first.
	ReplayedAfter int `json:"replayed_after"`
	// Unanswered counts H12s the dyno never answered.
	Unanswered int `json:"unanswered"`
}

// CountTimeouts sums up ts.
func CountTimeouts(ts []TimedOut) TimeoutCounts {
	var c TimeoutCounts
	for _, t := range ts {
		c.H12++
		switch {
		case t.Answered.IsZero():
			c.Unanswered++
		case !t.InFlight():
			c.Held++
		default:
			c.InFlight++
			if t.CommittedAfter() {
				c.CommittedAfter++
			}
			if t.Replayed && write(t.Method) {
				c.ReplayedAfter++
			}
		}
	}
	return c
}

// timeoutBook keeps the router's H12s. The answer of an H12 exchange is
// filled in by the goroutine that finishes it.
type timeoutBook struct {
	mu   sync.Mutex
	list []TimedOut
}

// add records an H12 and returns its index for answer.
func (b *timeoutBook) add(t TimedOut) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.list = append(b.list, t)
	return len(b.list) - 1
}

// answer records the dyno's late answer to H12 number i.
func (b *timeoutBook) answer(i int, at time.Time, resp *http.Response) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.list[i].Answered, b.list[i].Status, b.list[i].Replayed = at, resp.StatusCode, replayed(resp)
}

func (b *timeoutBook) all() []TimedOut {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]TimedOut(nil), b.list...)
}

// replayed reads the Idempotent-Replayed marker of an answer.
func replayed(resp *http.Response) bool {
	return strings.EqualFold(resp.Header.Get("Idempotent-Replayed"), "true")
}

// TimedOut returns every request the router answered H12 so far, in the
// order of the H12s, with what the dynos did with them since.
func (a *App) TimedOut() []TimedOut { return a.rt.timeouts.all() }

// RequestTimeout is the router's first-byte window after scaling (30 s ×
// RequestTimerScale): a dyno that has not started its answer by then gets
// its client an H12, whatever it is doing.
func (a *App) RequestTimeout() time.Duration { return a.rt.requestTimeout }
