package oracle

import (
	"testing"
	"time"

	"github.com/cutover/cutover/harness/oracle/state"
)

func TestCacheCoherence(t *testing.T) {
	rs := []state.Redemption{red("r1", "V", "k1", 5)}
	probes := func(valid bool, vs ...state.Voucher) *state.State {
		st := full(vs, rs)
		st.Validations = []state.Validation{{Voucher: "V", Target: "http://127.0.0.1:8080", Valid: valid, At: ms(100000)}}
		return st
	}
	runCases(t, CacheCoherence{}, []checkCase{
		{
			name:    "exhausted and the probe says so",
			calls:   []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:   probes(false, discount("V", 1, 1)),
			verdict: Pass,
		},
		{
			name:       "exhausted but the probe calls it valid",
			calls:      []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:      probes(true, discount("V", 1, 1)),
			verdict:    Fail,
			violations: 1,
		},
		{
			name: "a validate sent after the last redeem calls it valid",
			calls: []call{
				validate("v1", 0, 2, "V", yes()),
				redeem("a", OK, 5, 10, "V", "k1", "r1"),
				validate("v2", 20, 22, "V", yes()),
			},
			state:      full([]state.Voucher{discount("V", 1, 1)}, rs),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"v2"},
		},
		{
			name: "a validate overlapping the last redeem may be stale",
			calls: []call{
				redeem("a", OK, 5, 10, "V", "k1", "r1"),
				validate("v2", 8, 12, "V", yes()),
				validate("v3", 20, 22, "V", no()),
			},
			state:   full([]state.Voucher{discount("V", 1, 1)}, rs),
			verdict: Pass,
		},
		{
			name: "an indeterminate redeem leaves the moment unknown",
			calls: []call{
				redeem("a", Info, 5, 10, "V", "k1", ""),
				validate("v2", 20, 22, "V", yes()),
			},
			state:   full([]state.Voucher{discount("V", 1, 1)}, rs),
			verdict: Unknown,
		},
		{
			name: "a gift card at zero",
			calls: []call{
				redeem("a", OK, 5, 10, "G", "k1", "r1"),
				validate("v2", 20, 22, "G", yes()),
			},
			state:      full([]state.Voucher{gift("G", 100, 0)}, []state.Redemption{red("r1", "G", "k1", 100)}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:    "not exhausted: valid is right",
			calls:   []call{redeem("a", OK, 5, 10, "V", "k1", "r1")},
			state:   probes(true, discount("V", 2, 1)),
			verdict: Unknown,
		},
	})
}

func TestCacheCoherenceGrace(t *testing.T) {
	calls := []call{
		redeem("a", OK, 5, 10, "V", "k1", "r1"),
		validate("v2", 20, 22, "V", yes()),
	}
	st := full([]state.Voucher{discount("V", 1, 1)}, []state.Redemption{red("r1", "V", "k1", 5)})
	runCases(t, CacheCoherence{Grace: 50 * time.Millisecond}, []checkCase{
		{name: "a stale answer within the grace is not judged", calls: calls, state: st, verdict: Unknown},
	})
	runCases(t, CacheCoherence{Grace: 5 * time.Millisecond}, []checkCase{
		{name: "a stale answer after the grace is a violation", calls: calls, state: st, verdict: Fail, violations: 1},
	})
}
