package oracle

import (
	"fmt"
	"sort"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// NoOverRedemption checks that no voucher was redeemed more often than its
// quantity allows: in the final state (redemptions not rolled back, and the
// service's own counter), and at every instant of the history (acknowledged
// redemptions that were certainly in effect at once).
type NoOverRedemption struct{}

var _ Checker = NoOverRedemption{}

func (NoOverRedemption) Name() string { return "no_over_redemption" }

func (c NoOverRedemption) Check(in *Input) Result {
	t := newTally(in, c.Name(), "per voucher with a quantity: committed redemptions not rolled back ≤ quantity, in the final state and at every instant of the history; checked counts vouchers")
	if !t.need(state.Vouchers) {
		return t.result("")
	}
	haveRedemptions := t.need(state.Redemptions)
	for _, v := range in.State.Vouchers {
		if v.Quantity == nil {
			continue
		}
		q := *v.Quantity
		t.res.Checked++
		if peak, at, ops := in.peakActive(v.Code, q); peak > q {
			t.violate(v.Code, fmt.Sprintf("voucher %s (quantity %d): %d acknowledged redemptions were in effect at once at %s", v.Code, q, peak, at.Format(time.RFC3339Nano)), ops...)
			continue
		}
		if haveRedemptions {
			var active int64
			var ops []*Operation
			for _, p := range in.redemptionsByVoucher[v.Code] {
				if r := in.State.Redemptions[p]; !r.RolledBack {
					active++
					if active > q || len(ops) < 10 {
						ops = append(ops, in.opsFor(r)...)
					}
				}
			}
			if active > q {
				t.violate(v.Code, fmt.Sprintf("voucher %s (quantity %d): %d redemptions committed and not rolled back in the final state", v.Code, q, active), ops...)
				continue
			}
		}
		if v.Redeemed > q {
			t.violate(v.Code, fmt.Sprintf("voucher %s (quantity %d): the service reports %d redeemed", v.Code, q, v.Redeemed))
		}
	}
	return t.result("no voucher with a limited quantity")
}

// peakActive sweeps the history of one voucher: a redemption is certainly
// in effect from the completion of the first ok redeem that returned it
// until the first rollback of it that was sent (and did not definitely
// fail). An answer naming a redemption the final state holds on another
// voucher is not one of this voucher's (no_lost_ack reports it). It
// returns the largest number in effect at once, when, and — if that
// exceeds limit — the ok redeems in effect then.
func (in *Input) peakActive(voucher string, limit int64) (peak int64, at time.Time, ops []*Operation) {
	type edge struct {
		at    time.Time
		delta int
		op    int32
	}
	first := map[string]int32{}
	var edges []edge
	for _, p := range in.redeemsByVoucher[voucher] {
		o := &in.Ops[p]
		if o.Type() != history.OK {
			continue
		}
		id := o.RedemptionID()
		if p, held := in.redemptionByID[id]; held && in.State.Redemptions[p].Voucher != voucher {
			continue
		}
		if id == "" {
			id = "op:" + o.ID()
		} else if q, seen := first[id]; seen {
			if in.Ops[q].Completed().After(o.Completed()) {
				first[id] = p
			}
			continue
		}
		first[id] = p
	}
	if len(first) == 0 {
		return 0, time.Time{}, nil
	}
	for id, p := range first {
		edges = append(edges, edge{at: in.Ops[p].Completed(), delta: +1, op: p})
		var end time.Time
		for _, rp := range in.rollbacksByTarget[id] {
			r := &in.Ops[rp]
			if r.Type() == history.Fail {
				continue
			}
			if end.IsZero() || r.Invoked().Before(end) {
				end = r.Invoked()
			}
		}
		if !end.IsZero() {
			edges = append(edges, edge{at: end, delta: -1, op: p})
		}
	}
	// Ends before starts at the same instant: never count an overlap that
	// might not have been one.
	sort.Slice(edges, func(i, j int) bool {
		if !edges[i].at.Equal(edges[j].at) {
			return edges[i].at.Before(edges[j].at)
		}
		if edges[i].delta != edges[j].delta {
			return edges[i].delta < edges[j].delta
		}
		return edges[i].op < edges[j].op
	})
	var n int64
	var peakAt int
	for i, e := range edges {
		n += int64(e.delta)
		if n > peak {
			peak, peakAt = n, i
		}
	}
	if peak <= limit {
		return peak, edges[peakAt].at, nil
	}
	// The operations in effect at the peak.
	active := map[int32]bool{}
	for _, e := range edges[:peakAt+1] {
		if e.delta > 0 {
			active[e.op] = true
		} else {
			delete(active, e.op)
		}
	}
	pos := make([]int32, 0, len(active))
	for p := range active {
		pos = append(pos, p)
	}
	sort.Slice(pos, func(i, j int) bool { return pos[i] < pos[j] })
	return peak, edges[peakAt].at, in.ops(pos)
}
