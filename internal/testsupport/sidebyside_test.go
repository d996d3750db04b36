package testsupport

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSideBySide: every call is timed at least floor times (b.N when
// larger), after its warm rounds, rotating which goes first; each call's
// durations come back sorted, in the order of the calls.
func TestSideBySide(t *testing.T) {
	var order []int
	calls := make([]func() time.Duration, 3)
	for k := range calls {
		next := time.Duration(100 * (k + 1))
		calls[k] = func() time.Duration {
			order = append(order, k)
			next-- // descending: the result must be sorted
			return next
		}
	}
	var took [][]time.Duration
	testing.Benchmark(func(b *testing.B) {
		if b.N > 1 {
			return // the first run (b.N 1) is the one looked at
		}
		took = SideBySide(b, 2, 5, calls...)
	})
	require.Len(t, took, 3)
	for k, s := range took {
		require.Len(t, s, 5, "call %d", k)
		require.True(t, slices.IsSorted(s), "call %d", k)
		require.Less(t, s[len(s)-1], time.Duration(100*(k+1)), "call %d's own durations", k)
	}
	// Two warm rounds in order, then the measured rounds rotate.
	require.Equal(t, []int{0, 1, 2, 0, 1, 2, 0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 1, 2, 1, 2, 0}, order)
}
