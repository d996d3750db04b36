package oracle

import (
	"fmt"
	"strings"

	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// Ledger checks each voucher's books the way Jepsen's bank test checks
// account balances against transfers: the counters the service keeps —
// redeemed_quantity, redeemed_amount and a gift card's balance — equal
// the sum over the voucher's committed redemptions that are not rolled
// back; in the service's own answers and in Postgres read directly, and
// the two readings agree voucher by voucher and redemption by redemption.
// A rollback applied twice, a lost counter update or a cache answering
// for the database all show here.
type Ledger struct{}

var _ Checker = Ledger{}

func (Ledger) Name() string { return "ledger" }

func (c Ledger) Check(in *Input) Result {
	t := newTally(in, c.Name(), "per voucher: redeemed_quantity, redeemed_amount and gift balance = the sums over its committed redemptions not rolled back, through the service's API and in Postgres read directly, and the two readings agree; checked counts vouchers, once per reading")
	okV := t.need(state.Vouchers)
	okR := t.need(state.Redemptions)
	okDB := t.need(state.Database)
	if okV && okR {
		t.books("through the service's API", in.State.Vouchers, in.State.Redemptions)
	}
	if okDB {
		t.books("in Postgres", in.State.Database.Vouchers, in.State.Database.Redemptions)
	}
	if okV && okR && okDB {
		t.agree(in.State.Vouchers, in.State.Redemptions, in.State.Database)
	}
	return t.result("no voucher in the final state")
}

// sums is what a voucher's redemptions in effect add up to.
type sums struct{ n, amount int64 }

// books compares each voucher's counters with its redemptions, in one
// reading.
func (t *tally) books(where string, vouchers []state.Voucher, redemptions []state.Redemption) {
	in := make(map[string]sums, len(vouchers))
	for _, r := range redemptions {
		if r.RolledBack {
			continue
		}
		s := in[r.Voucher]
		s.n++
		s.amount += r.Amount
		in[r.Voucher] = s
	}
	for _, v := range vouchers {
		t.res.Checked++
		s := in[v.Code]
		var d []string
		if v.Redeemed != s.n {
			d = append(d, fmt.Sprintf("redeemed_quantity %d", v.Redeemed))
		}
		if v.RedeemedAmount != s.amount {
			d = append(d, fmt.Sprintf("redeemed_amount %d", v.RedeemedAmount))
		}
		if v.Gift() && v.FinalBalance != v.InitialBalance-s.amount {
			d = append(d, fmt.Sprintf("balance %d (issued %d)", v.FinalBalance, v.InitialBalance))
		}
		if len(d) > 0 {
			t.violate(v.Code, fmt.Sprintf("%s, voucher %s has %s, but its %d redemptions in effect add up to %d", where, v.Code, strings.Join(d, ", "), s.n, s.amount), t.in.okRedeems(v.Code)...)
		}
	}
}

// agree compares the service's reading with the database's.
func (t *tally) agree(vouchers []state.Voucher, redemptions []state.Redemption, db state.Reading) {
	dbV := make(map[string]state.Voucher, len(db.Vouchers))
	for _, v := range db.Vouchers {
		dbV[v.Code] = v
	}
	for _, v := range vouchers {
		w, ok := dbV[v.Code]
		delete(dbV, v.Code)
		switch {
		case !ok:
			t.violate(v.Code, fmt.Sprintf("the service reports voucher %s, which Postgres does not hold", v.Code))
		case !sameVoucher(v, w):
			t.violate(v.Code, fmt.Sprintf("voucher %s: the service reports %s, Postgres holds %s", v.Code, describeCounters(v), describeCounters(w)), t.in.okRedeems(v.Code)...)
		}
	}
	for _, v := range db.Vouchers {
		if _, left := dbV[v.Code]; left {
			t.violate(v.Code, fmt.Sprintf("Postgres holds voucher %s, which the service does not report", v.Code))
		}
	}

	keys := t.in.keysWhy == ""
	same := func(r, s state.Redemption) {
		if r.Voucher != s.Voucher || r.Amount != s.Amount || r.RolledBack != s.RolledBack ||
			(keys && r.IdempotencyKey != s.IdempotencyKey) || (t.in.customersKnown && r.Customer != s.Customer) {
			t.violate(r.Voucher, fmt.Sprintf("redemption %s: the service lists %s, Postgres holds %s", r.ID, describeRow(r), describeRow(s)), t.in.opsFor(r)...)
		}
	}
	// Both readings list redemptions in commit order: compare them side by
	// side when they hold the same ids, by id otherwise.
	if aligned(redemptions, db.Redemptions) {
		for i := range redemptions {
			same(redemptions[i], db.Redemptions[i])
		}
		return
	}
	dbR := make(map[string]state.Redemption, len(db.Redemptions))
	for _, r := range db.Redemptions {
		dbR[r.ID] = r
	}
	for _, r := range redemptions {
		s, ok := dbR[r.ID]
		delete(dbR, r.ID)
		if !ok {
			t.violate(r.Voucher, fmt.Sprintf("the service lists redemption %s on %s, which Postgres does not hold", r.ID, r.Voucher), t.in.opsFor(r)...)
			continue
		}
		same(r, s)
	}
	for _, r := range db.Redemptions {
		if _, left := dbR[r.ID]; left {
			t.violate(r.Voucher, fmt.Sprintf("Postgres holds redemption %s on %s, which the service does not list", r.ID, r.Voucher), t.in.opsFor(r)...)
		}
	}
}

// aligned tells whether a and b list the same redemption ids in one order.
func aligned(a, b []state.Redemption) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

func sameVoucher(a, b state.Voucher) bool {
	qa, qb := int64(-1), int64(-1)
	if a.Quantity != nil {
		qa = *a.Quantity
	}
	if b.Quantity != nil {
		qb = *b.Quantity
	}
	return a.Type == b.Type && qa == qb && a.Redeemed == b.Redeemed && a.RedeemedAmount == b.RedeemedAmount &&
		a.InitialBalance == b.InitialBalance && a.FinalBalance == b.FinalBalance
}

func describeCounters(v state.Voucher) string {
	q := "unlimited"
	if v.Quantity != nil {
		q = fmt.Sprint(*v.Quantity)
	}
	s := fmt.Sprintf("quantity %s, redeemed_quantity %d, redeemed_amount %d", q, v.Redeemed, v.RedeemedAmount)
	if v.Gift() {
		s += fmt.Sprintf(", balance %d of %d", v.FinalBalance, v.InitialBalance)
	}
	return s
}

func describeRow(r state.Redemption) string {
	return fmt.Sprintf("voucher %s, amount %d, rolled back %t, key %q, customer %q", r.Voucher, r.Amount, r.RolledBack, r.IdempotencyKey, r.Customer)
}
