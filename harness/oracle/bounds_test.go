package oracle

import (
	"testing"

	"github.com/cutover/cutover/harness/oracle/state"
)

func TestBounds(t *testing.T) {
	v := []state.Voucher{discount("V", 10, 0)}
	runCases(t, Bounds{}, []checkCase{
		{
			name: "ok committed, fail not",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", Failed, 1, 11, "V", "k2", ""),
			},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Pass,
		},
		{
			name: "an info redeem that committed",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", Info, 1, 30000, "V", "k2", ""),
			},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5), red("r2", "V", "k2", 5)}),
			verdict: Pass,
		},
		{
			name: "an info redeem that did not commit",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", Info, 1, 30000, "V", "k2", ""),
			},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Pass,
		},
		{
			name: "a redeem that never completed may have committed",
			calls: []call{
				redeem("a", "", 0, 0, "V", "k1", ""),
			},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Pass,
		},
		{
			name: "timeout then retry with the same key: one redemption",
			calls: []call{
				redeem("a", Info, 0, 5000, "V", "k1", ""),
				redeem("b", OK, 5001, 5010, "V", "k1", "r1"),
			},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Pass,
		},
		{
			name: "an acknowledged redemption is missing",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 1, 11, "V", "k2", "r2"),
			},
			state:      full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"a", "b"},
		},
		{
			name: "more committed than attempted",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
			},
			state:      full(v, []state.Redemption{red("r1", "V", "k1", 5), red("r2", "V", "", 5)}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name: "a definitely failed redeem took effect",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", Info, 1, 30000, "V", "k3", ""),
				redeem("c", Failed, 2, 12, "V", "k2", ""),
			},
			state:      full(v, []state.Redemption{red("r1", "V", "k1", 5), red("r2", "V", "k2", 5)}),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"c"},
		},
		{
			name:       "a key nobody sent",
			calls:      []call{redeem("a", Info, 0, 10, "V", "k1", "")},
			state:      full(v, []state.Redemption{red("r9", "V", "k9", 5)}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:    "nothing redeemed",
			calls:   []call{validate("a", 0, 10, "V", yes())},
			state:   full(v, nil),
			verdict: Unknown,
		},
		{
			name:    "redemptions unreadable",
			calls:   []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:   &state.State{Missing: map[state.Part]string{state.Redemptions: "500 from GET /v1/redemptions"}},
			verdict: Unknown,
		},
	})
}
