package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/platform"
)

// The drain's evidence counts what package kube logs (Cordon, Evicted,
// Scheduled), including the API server's whole-second stamps within the
// second the drain began, and nothing before that second.
func TestNodeDrainEvidence(t *testing.T) {
	start := time.Date(2026, 12, 5, 11, 25, 9, 249_000_000, time.UTC)
	ev := func(at time.Time, reason string) platform.Event {
		return platform.Event{Time: at, Object: "pod/x", Reason: reason}
	}
	rec := &Record{End: start.Add(time.Minute), Target: []platform.Event{
		ev(start.Add(-2*time.Second).Truncate(time.Second), "Scheduled"), // the pod's first start
		ev(start.Add(10*time.Millisecond), "Cordon"),
		ev(start.Add(80*time.Millisecond), "Evicted"),
		ev(start.Truncate(time.Second), "Scheduled"),      // its replacement, stamped 11:25:09
		ev(start.Add(-100*time.Millisecond), "Scheduled"), // precise, and before the drain
	}}
	got := (&nodeDrain{drained: "worker"}).Evidence(rec, Window{Start: start, End: start.Add(10 * time.Second)})
	require.True(t, got.Observed)
	require.Equal(t, map[string]float64{"cordoned": 1, "evicted": 1, "rescheduled": 1}, got.Evidence)
}
