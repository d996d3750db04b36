package oracle

import (
	"testing"

	"github.com/cutover/cutover/harness/internal/oracle/state"
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
			// The lower bound is no_lost_ack's, checked one by one there.
			name: "an acknowledged redemption is missing",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 1, 11, "V", "k2", "r2"),
			},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Pass,
		},
		{
			name: "two commits for one key count once",
			calls: []call{
				redeem("a", Info, 0, 5000, "V", "k1", ""),
				redeem("b", OK, 5001, 5010, "V", "k1", "r2"),
			},
			state:      full(v, []state.Redemption{red("r1", "V", "k1", 5), red("r2", "V", "k1", 5)}),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"a", "b"},
		},
		{
			name: "keys unlisted: the count still bounds, the keys are undecided",
			calls: []call{
				redeem("a", Info, 0, 5000, "V", "k1", ""),
				redeem("b", OK, 5001, 5010, "V", "k1", "r2"),
				redeem("c", OK, 6000, 6010, "V", "k2", "r3"),
			},
			state:   full(v, []state.Redemption{red("r2", "V", "", 5), red("r3", "V", "", 5)}),
			verdict: Unknown,
		},
		{
			name:       "a key sent only to another voucher",
			calls:      []call{redeem("a", Info, 0, 10, "W", "k1", ""), redeem("b", Info, 0, 10, "V", "k2", "")},
			state:      full(append(v, discount("W", 10, 0)), []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict:    Fail,
			violations: 1,
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
