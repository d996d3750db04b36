package platform_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/platform"
)

func TestEventLineRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 47, 20, 123_000_000, time.UTC)
	for _, tc := range []struct {
		ev   platform.Event
		line string
	}{
		{platform.Event{Time: at, Object: "pod/coupon-1", Reason: "Killing", Message: "Stopping container coupon"},
			"2026-11-27T03:47:20.123Z pod/coupon-1: Killing: Stopping container coupon\n"},
		{platform.Event{Time: at, Object: "node/w1", Reason: "Cordoned"}, "2026-11-27T03:47:20.123Z node/w1: Cordoned\n"},
		{platform.Event{Time: at, Object: "pod/x", Reason: "stdout", Message: "a: b"}, "2026-11-27T03:47:20.123Z pod/x: stdout: a: b\n"},
	} {
		require.Equal(t, tc.line, tc.ev.String())
		got, err := platform.ParseEvent(tc.line)
		require.NoError(t, err)
		require.Equal(t, tc.ev, got)
	}
	require.Equal(t, "2026-11-27T03:47:20.123Z pod/x: Started: two lines\n",
		platform.Event{Time: at, Object: "pod/x", Reason: "Started", Message: "two\nlines"}.String(), "one event, one line")
	for _, bad := range []string{"", "yesterday pod/x: Started", "2026-11-27T03:47:20.123Z no-object"} {
		_, err := platform.ParseEvent(bad)
		require.Error(t, err, bad)
	}
}
