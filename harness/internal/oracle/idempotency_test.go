package oracle

import (
	"testing"

	"github.com/cutover/cutover/harness/internal/oracle/state"
)

func TestIdempotency(t *testing.T) {
	v := []state.Voucher{discount("V", 10, 0)}
	runCases(t, Idempotency{}, []checkCase{
		{
			name: "a retry after ok returns the same redemption",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 20, 30, "V", "k1", "r1"),
			},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Pass,
		},
		{
			name: "a retry after a client timeout: the first committed",
			calls: []call{
				redeem("a", Info, 0, 5000, "V", "k1", ""),
				redeem("b", OK, 5001, 5010, "V", "k1", "r1"),
			},
			state:   full(v, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Pass,
		},
		{
			name: "a retry after a client timeout: both committed",
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
			name: "two ok answers with different ids",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 20, 30, "V", "k1", "r2"),
			},
			state:      &state.State{Missing: map[state.Part]string{state.Redemptions: "unreadable"}},
			verdict:    Fail,
			violations: 1,
			ops:        []string{"a", "b"},
		},
		{
			name:       "the ok answer names another redemption than the committed one",
			calls:      []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:      full(v, []state.Redemption{red("r2", "V", "k1", 5)}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:       "two committed under one key the history never sent",
			calls:      []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:      full(v, []state.Redemption{red("r1", "V", "k1", 5), red("r2", "V", "k2", 5), red("r3", "V", "k2", 5)}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:    "no keys at all",
			calls:   []call{redeem("a", OK, 0, 10, "V", "", "r1")},
			state:   full(v, []state.Redemption{red("r1", "V", "", 5)}),
			verdict: Unknown,
		},
		{
			name: "keys unlisted: nothing to compare the commits with",
			calls: []call{
				redeem("a", Info, 0, 5000, "V", "k1", ""),
				redeem("b", OK, 5001, 5010, "V", "k1", "r2"),
			},
			state:   full(v, []state.Redemption{red("r1", "V", "", 5), red("r2", "V", "", 5)}),
			verdict: Unknown,
		},
		{
			name: "keys unlisted: two ok answers with different ids still show",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 20, 30, "V", "k1", "r2"),
			},
			state:      full(v, []state.Redemption{red("r1", "V", "", 5), red("r2", "V", "", 5)}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:    "state unreadable, history consistent",
			calls:   []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:   nil,
			verdict: Unknown,
		},
	})
}
