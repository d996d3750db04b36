package replay

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/traffic/trace"
)

// TestStreamPlansABoundedWayAhead: a stage replayed without a Plan is
// planned a bounded number of requests ahead of the pace loop (so memory
// does not grow with the stage's length), in the trace's order, and a
// stage stopped early still reads its whole slice, so the next stage
// starts where it should and the slice's size is known.
func TestStreamPlansABoundedWayAhead(t *testing.T) {
	n := 4 * streamAhead * streamBatch
	reqs := make([]trace.Request, 0, n+1)
	for i := range n {
		reqs = append(reqs, getReq(float64(i)*0.001, fmt.Sprintf("c%d", i%50)))
	}
	// The next stage's requests.
	reqs = append(reqs, getReq(float64(n)*0.001+1, "next"), getReq(float64(n)*0.001+2, "next"))
	to := time.Duration(float64(n)*0.001*float64(time.Second)) + 500*time.Millisecond
	bound := int64((streamAhead + 2) * streamBatch) // the queue, the batch handed over and the one being filled

	for _, tc := range []struct {
		name string
		take int // requests the pace loop asks for before it stops
	}{
		{"read whole", n},
		{"stopped early", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := memTrace(t, reqs)
			rp := newReplayer(t, Config{Port: 1})
			st := Stage{Name: "s", Trace: tr, To: to}
			require.NoError(t, st.check())
			s, err := rp.stream(st)
			require.NoError(t, err)
			// Nobody consumes: the planner stops at the bound.
			require.Eventually(t, func() bool { return len(s.batches) == streamAhead }, 5*time.Second, time.Millisecond)
			time.Sleep(50 * time.Millisecond)
			require.LessOrEqual(t, s.total.Load(), bound, "planned ahead of a pace loop that took nothing")

			var last uint64
			for i := range tc.take {
				p, ok := s.next(context.Background())
				require.True(t, ok, "request %d", i)
				require.Greater(t, p.seq, last, "in order")
				last = p.seq
				require.LessOrEqual(t, s.total.Load(), int64(i+1)+bound)
			}
			total, err := s.finish()
			require.NoError(t, err)
			require.Equal(t, int64(n), total, "the slice's size, read whole")
			// The trace stands past the slice, at the next stage's first
			// request.
			next, err := tr.Next()
			require.NoError(t, err)
			require.Equal(t, "next", next.Client)
			require.Equal(t, reqs[n].At, next.At, "the next stage's first request is left for it")
		})
	}
}

// TestStreamStopsOnABadLineLater: a bad line past the first batch ends
// the stage with an error naming it, once the requests before it are sent.
func TestStreamStopsOnABadLineLater(t *testing.T) {
	srv := newCouponServer()
	port := serve(t, "127.0.0.1:0", srv)
	bad := streamBatch + 10
	var b strings.Builder
	for i := range 2 * streamBatch {
		op := "get"
		if i == bad {
			op = "nope"
		}
		fmt.Fprintf(&b, `{"at":%.4f,"client":"c","op":%q,"method":"GET","path":"/v1/vouchers/A"}`+"\n", float64(i)*0.0001, op)
	}
	r, err := trace.NewReader(strings.NewReader(b.String()), "broken.jsonl")
	require.NoError(t, err)
	rp := newReplayer(t, Config{Port: port})
	res, err := rp.Replay(context.Background(), Stage{Name: "s", Trace: r, Multiplier: 1})
	require.ErrorContains(t, err, fmt.Sprintf("broken.jsonl:%d: op: unknown", bad+1))
	require.Equal(t, int64(bad), res.Requests, "every request before the bad line was sent")
}
