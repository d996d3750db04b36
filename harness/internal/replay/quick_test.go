package replay

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// TestQuickKeepsTheMultiplier: --quick replays each stage in 1/factor of
// its time and samples 1/factor of the end users, so the planned rate stays
// multiplier × the trace's rate — within 10 %, for every stage of every
// shipped scenario that replays the shipped trace. (Sampling whole clients
// of a trace with 48 checkout servers planned 9.5× for the default scenario.)
// A sample's error shrinks as one over the square root of the end users it
// keeps; a stage planning fewer than minPlanned requests (the 1× smoke
// scenario keeps about 100 users a stage) is too small a sample to hold
// to 10 %, and is only logged.
func TestQuickKeepsTheMultiplier(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "scenarios", "*.yaml"))
	require.NoError(t, err)
	tested := 0
	traces := map[string][]trace.Request{}
	for _, path := range files {
		f, err := scenario.Load(path)
		require.NoError(t, err)
		s := f.Scenario
		if s.Traffic.Trace == "" || s.Traffic.Mode != "compress" || s.QuickFactor() <= 1 {
			continue
		}
		tested++
		t.Run(s.Name, func(t *testing.T) {
			quick := s.QuickFactor()
			mult := s.Traffic.Multiplier
			rp := newReplayer(t, Config{Port: 8080}) // plans only: nothing is sent
			tracePath := f.Resolve(s.Traffic.Trace)
			reqs, ok := traces[tracePath]
			if !ok {
				_, reqs, err = trace.ReadAll(tracePath)
				require.NoError(t, err)
				traces[tracePath] = reqs
			}
			from := time.Duration(0)
			for _, st := range s.Steps {
				if st.Hold == nil {
					continue
				}
				// As the run plans a hold: hold × multiplier of trace.
				span := time.Duration(float64(st.Hold.Duration.D()) * mult)
				to := from + span
				var slice []trace.Request
				for _, r := range reqs {
					if r.At >= from.Seconds() && r.At < to.Seconds() {
						slice = append(slice, r)
					}
				}
				inSlice := len(slice)
				n := 0
				require.NoError(t, rp.read(Stage{Trace: memTrace(t, slice), From: from, To: to, Multiplier: mult, Compress: quick},
					func(planned) error { n++; return nil }))

				traceRate := float64(inSlice) / span.Seconds()
				plannedRate := float64(n) / (span.Seconds() / mult / quick)
				t.Logf("trace %s–%s: %d requests (%.1f/s); quick ×%.2f plans %d: %.0f/s = %.2f× (want %g×)",
					from, to, inSlice, traceRate, quick, n, plannedRate, plannedRate/traceRate, mult)
				if n >= minPlanned {
					require.InEpsilon(t, mult*traceRate, plannedRate, 0.10)
				}
				from = to
			}
		})
	}
	require.Positive(t, tested, "no shipped scenario replays the shipped trace in --quick")
}

// minPlanned is the smallest stage TestQuickKeepsTheMultiplier holds to
// 10 %.
const minPlanned = 1000

func TestSampleUnit(t *testing.T) {
	for _, tc := range []struct {
		req  trace.Request
		want string
	}{
		{trace.Request{Client: "server-01", Customer: "cust-1", Key: "k1"}, "cust-1"},
		{trace.Request{Client: "server-01", Key: "k1"}, "k1"},
		{trace.Request{Client: "server-01", Undoes: "k1"}, "k1"},
		{trace.Request{Client: "admin"}, "admin"},
	} {
		require.Equal(t, tc.want, sampleUnit(&tc.req))
	}
	// A redeem, its retry and the rollback that undoes it are kept or
	// dropped together, in every stage.
	redeem := trace.Request{Client: "server-01", Customer: "cust-7", Key: "idem-7"}
	rollback := trace.Request{Client: "server-01", Customer: "cust-7", Undoes: "idem-7"}
	for _, share := range []float64{0.1, 0.25, 0.5} {
		require.Equal(t, sampled(sampleUnit(&redeem), share), sampled(sampleUnit(&rollback), share))
	}
}
