package oracle

import (
	"testing"

	"github.com/cutover/cutover/harness/internal/oracle/state"
)

func TestNoOverRedemption(t *testing.T) {
	runCases(t, NoOverRedemption{}, []checkCase{
		{
			name: "two of quantity two, the third refused",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 1, 11, "V", "k2", "r2"),
				redeem("c", Failed, 2, 12, "V", "k3", ""),
			},
			state:   full([]state.Voucher{discount("V", 2, 2)}, []state.Redemption{red("r1", "V", "k1", 5), red("r2", "V", "k2", 5)}),
			verdict: Pass,
		},
		{
			name: "three committed for quantity two",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 1, 11, "V", "k2", "r2"),
				redeem("c", Info, 2, 30000, "V", "k3", ""),
			},
			state:      full([]state.Voucher{discount("V", 2, 2)}, []state.Redemption{red("r1", "V", "k1", 5), red("r2", "V", "k2", 5), red("r3", "V", "k3", 5)}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name: "three acknowledged at once, one rolled back later: the history proves it",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 1, 11, "V", "k2", "r2"),
				redeem("c", OK, 2, 12, "V", "k3", "r3"),
				rollback("d", OK, 50, 60, "V", "r3", "rb3"),
			},
			state: full([]state.Voucher{discount("V", 2, 2)}, []state.Redemption{
				red("r1", "V", "k1", 5), red("r2", "V", "k2", 5), rolledBack(red("r3", "V", "k3", 5), "rb3"),
			}),
			verdict:    Fail,
			violations: 1,
			ops:        []string{"a", "b", "c"},
		},
		{
			name: "redeem, roll back, redeem again: never more than the quantity at once",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				rollback("b", OK, 20, 30, "V", "r1", "rb1"),
				redeem("c", OK, 25, 40, "V", "k2", "r2"),
			},
			state:   full([]state.Voucher{discount("V", 1, 1)}, []state.Redemption{rolledBack(red("r1", "V", "k1", 5), "rb1"), red("r2", "V", "k2", 5)}),
			verdict: Pass,
		},
		{
			name: "a retried key returning the same redemption counts once",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 20, 30, "V", "k1", "r1"),
			},
			state:   full([]state.Voucher{discount("V", 1, 1)}, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict: Pass,
		},
		{
			name:       "the service's counter exceeds the quantity",
			calls:      []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:      full([]state.Voucher{discount("V", 1, 2)}, []state.Redemption{red("r1", "V", "k1", 5)}),
			verdict:    Fail,
			violations: 1,
		},
		{
			name:    "unlimited vouchers only: nothing to decide",
			calls:   []call{redeem("a", OK, 0, 10, "U", "k1", "r1")},
			state:   full([]state.Voucher{{Code: "U", Type: "DISCOUNT_VOUCHER"}}, []state.Redemption{red("r1", "U", "k1", 5)}),
			verdict: Unknown,
		},
		{
			name:    "vouchers unreadable",
			calls:   []call{redeem("a", OK, 0, 10, "V", "k1", "r1")},
			state:   &state.State{Missing: map[state.Part]string{state.Vouchers: "GET /v1/vouchers: connection refused"}},
			verdict: Unknown,
		},
		{
			name: "redemptions unreadable but the history proves it",
			calls: []call{
				redeem("a", OK, 0, 10, "V", "k1", "r1"),
				redeem("b", OK, 1, 11, "V", "k2", "r2"),
			},
			state:      &state.State{Vouchers: []state.Voucher{discount("V", 1, 1)}, Missing: map[state.Part]string{state.Redemptions: "timeout"}},
			verdict:    Fail,
			violations: 1,
		},
	})
}
