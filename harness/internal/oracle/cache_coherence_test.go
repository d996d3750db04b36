package oracle

import (
	"testing"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

const probeTarget = "http://127.0.0.1:8080"

// probed adds a probe of every changed voucher, sent long after the run,
// answering as the voucher's counters say unless valid overrides it.
func probed(st *state.State, valid ...bool) *state.State {
	st.ProbeTargets = []string{probeTarget}
	for i, v := range state.Changed(st) {
		val := state.Validation{Voucher: v.Code, Target: probeTarget, Valid: !v.Exhausted(), At: ms(100_000)}
		if i < len(valid) {
			val.Valid = valid[i]
		}
		st.Validations = append(st.Validations, val)
	}
	return st
}

func TestCacheCoherence(t *testing.T) {
	rs := []state.Redemption{red("r1", "V", "k1", 5)}
	exhausted := func() *state.State { return full([]state.Voucher{discount("V", 1, 1)}, rs) }
	runCases(t, CacheCoherence{Bound: 100 * time.Millisecond}, []checkCase{
		{
			name:    "exhausted and the probe says so",
			calls:   []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:   probed(exhausted()),
			verdict: Pass,
		},
		{
			name:       "exhausted but the probe calls it valid",
			calls:      []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:      probed(exhausted(), true),
			verdict:    Fail,
			violations: 1,
		},
		{
			name: "a validate sent past the grace after the voucher ran out calls it valid",
			calls: []call{
				validate("v1", 0, 2, "V", yes()),
				redeem("a", OK, 5, 10, "V", "k1", "r1"),
				validate("v2", 2000, 2002, "V", yes()),
			},
			state:      probed(exhausted()),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"v2"},
		},
		{
			name: "a validate within the grace may be stale; one after it is judged",
			calls: []call{
				redeem("a", OK, 5, 10, "V", "k1", "r1"),
				validate("v2", 8, 12, "V", yes()),
				validate("v3", 900, 902, "V", yes()),
				validate("v4", 3000, 3002, "V", no()),
			},
			state:   probed(exhausted()),
			verdict: Pass,
		},
		{
			name: "an indeterminate redeem is not certainly in effect",
			calls: []call{
				redeem("a", Info, 5, 10, "V", "k1", ""),
				validate("v2", 3000, 3002, "V", yes()),
			},
			state:   probed(exhausted()),
			verdict: Pass,
		},
		{
			name: "a gift card at zero",
			calls: []call{
				redeem("a", OK, 5, 10, "G", "k1", "r1"),
				validate("v2", 3000, 3002, "G", yes()),
			},
			state:      probed(full([]state.Voucher{gift("G", 100, 0)}, []state.Redemption{red("r1", "G", "k1", 100)})),
			verdict:    Fail,
			violations: 1,
		},
		{
			name: "a rollback sent before the window gives the quantity back",
			calls: []call{
				redeem("a", OK, 5, 10, "V", "k1", "r1"),
				rollback("b", OK, 1500, 1510, "V", "r1", "rb1"),
				validate("v2", 3000, 3002, "V", yes()),
			},
			state:   probed(full([]state.Voucher{discount("V", 1, 0)}, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb1")})),
			verdict: Pass,
		},
		{
			name: "a voucher whose counter disagrees with its rows is the ledger's",
			calls: []call{
				redeem("a", OK, 5, 10, "V", "k1", "r1"),
				validate("v2", 3000, 3002, "V", yes()),
			},
			state:   probed(full([]state.Voucher{discount("V", 1, 0)}, rs)),
			verdict: Pass,
		},
		{
			name:    "not exhausted: valid is right",
			calls:   []call{redeem("a", OK, 5, 10, "V", "k1", "r1")},
			state:   probed(full([]state.Voucher{discount("V", 2, 1)}, rs)),
			verdict: Pass,
		},
		{
			name:  "not exhausted, but the probe says used up",
			calls: []call{redeem("a", OK, 5, 10, "V", "k1", "r1")},
			state: func() *state.State {
				st := probed(full([]state.Voucher{discount("V", 2, 1)}, rs), false)
				st.Validations[0].Key = api.KeyQuantityExceeded
				return st
			}(),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:  "a gift card probe reports a stale balance",
			calls: []call{redeem("a", OK, 5, 10, "G", "k1", "r1")},
			state: func() *state.State {
				st := probed(full([]state.Voucher{gift("G", 100, 60)}, []state.Redemption{red("r1", "G", "k1", 40)}))
				b := int64(100)
				st.Validations[0].Balance = &b
				return st
			}(),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:  "a changed voucher left unprobed",
			calls: []call{redeem("a", OK, 5, 10, "V", "k1", "r1")},
			state: func() *state.State {
				st := probed(full([]state.Voucher{discount("V", 1, 1), discount("W", 5, 1)}, append(rs, red("r2", "W", "k2", 5))))
				st.Validations = st.Validations[:1]
				return st
			}(),
			verdict: Unknown,
		},
		{
			name:  "a probe sent before the grace ran out is not judged",
			calls: []call{redeem("a", OK, 5, 10, "V", "k1", "r1")},
			state: func() *state.State {
				st := probed(exhausted())
				st.Validations[0].At = ms(500)
				return st
			}(),
			verdict: Unknown,
		},
		{
			name: "validates without their answers, and no probe",
			calls: []call{
				redeem("a", OK, 5, 10, "V", "k1", "r1"),
				validate("v2", 3000, 3002, "V", nil),
			},
			state: func() *state.State {
				st := exhausted()
				st.SetMissing(state.Validations, "vouchers unreadable")
				return st
			}(),
			verdict: Unknown,
		},
	})
}

func TestCacheCoherenceGraceFollowsTheBound(t *testing.T) {
	calls := []call{
		redeem("a", OK, 5, 10, "V", "k1", "r1"),
		validate("v2", 2000, 2002, "V", yes()),
	}
	st := func(bound time.Duration) *state.State {
		s := probed(full([]state.Voucher{discount("V", 1, 1)}, []state.Redemption{red("r1", "V", "k1", 5)}))
		s.CacheBound = bound
		return s
	}
	runCases(t, CacheCoherence{Bound: 3 * time.Second}, []checkCase{
		{name: "a stale answer within the documented bound is not judged", calls: calls, state: st(0), verdict: Pass},
		{name: "the state's bound comes first", calls: calls, state: st(100 * time.Millisecond), verdict: Fail, violations: 1},
	})
	runCases(t, CacheCoherence{Bound: 100 * time.Millisecond}, []checkCase{
		{name: "a stale answer after the bound is a violation", calls: calls, state: st(0), verdict: Fail, violations: 1},
	})
}
