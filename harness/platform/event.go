package platform

import (
	"fmt"
	"strings"
	"time"
)

// Event is one line of a target platform's lifecycle log, as the local and
// Kubernetes platforms write it and the fault witnesses read it:
//
//	2026-11-27T03:47:20.123Z pod/coupon-7f9c-x2: Killing: Stopping container coupon
type Event struct {
	Time    time.Time
	Object  string // pod/coupon-1, node/..., cluster/...
	Reason  string // Kubernetes' event reasons: Started, Killing, Unhealthy ...
	Message string
}

// EventTimeLayout is the timestamp of an event line: UTC, milliseconds.
const EventTimeLayout = "2006-01-02T15:04:05.000Z"

// String is the event as one log line, newline included; a message's own
// newlines become spaces.
func (e Event) String() string {
	var b strings.Builder
	b.Grow(64 + len(e.Message))
	b.WriteString(e.Time.UTC().Format(EventTimeLayout))
	b.WriteByte(' ')
	b.WriteString(e.Object)
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if m := strings.ReplaceAll(strings.TrimSpace(e.Message), "\n", " "); m != "" {
		b.WriteString(": ")
		b.WriteString(m)
	}
	b.WriteByte('\n')
	return b.String()
}

// ParseEvent reads one event line.
func ParseEvent(line string) (Event, error) {
	ts, rest, ok := strings.Cut(strings.TrimSpace(line), " ")
	if !ok {
		return Event{}, fmt.Errorf("event line %q: no timestamp", line)
	}
	t, err := time.Parse(EventTimeLayout, ts)
	if err != nil {
		return Event{}, fmt.Errorf("event line %q: %w", line, err)
	}
	obj, rest, ok := strings.Cut(rest, ": ")
	if !ok {
		return Event{}, fmt.Errorf("event line %q: no object", line)
	}
	reason, msg, _ := strings.Cut(rest, ": ")
	return Event{Time: t, Object: obj, Reason: reason, Message: msg}, nil
}
