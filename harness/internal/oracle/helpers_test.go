package oracle

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// Outcomes, short for the tables.
const (
	OK     = history.OK
	Failed = history.Fail
	Info   = history.Info
)

// t0 is the start of every hand-written history.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// call is one operation of a hand-written history: sent at from (ms),
// completed at to with outcome typ ("" = never completed).
type call struct {
	id       string
	f        string
	typ      history.Type
	from, to int
	voucher  string
	key      string
	rid      string // redemption returned (redeem) or targeted (rollback)
	rbid     string // rollback returned
	valid    *bool
	amount   int64
	platform string
	customer string
	// applied is what an ok answer says was applied (a redemption's amount).
	applied int64
}

func yes() *bool { v := true; return &v }
func no() *bool  { v := false; return &v }

// redeem is a redeem whose ok answer says it applied 5, the amount of the
// redemptions the tables hold unless they say otherwise.
func redeem(id string, typ history.Type, from, to int, voucher, key, rid string) call {
	return call{id: id, f: history.Redeem, typ: typ, from: from, to: to, voucher: voucher, key: key, rid: rid, platform: "heroku", applied: 5}
}

func rollback(id string, typ history.Type, from, to int, voucher, rid, rbid string) call {
	return call{id: id, f: history.Rollback, typ: typ, from: from, to: to, voucher: voucher, rid: rid, rbid: rbid, platform: "aws"}
}

func validate(id string, from, to int, voucher string, valid *bool) call {
	return call{id: id, f: history.Validate, typ: history.OK, from: from, to: to, voucher: voucher, valid: valid, platform: "aws"}
}

// hist turns calls into a time-ordered history: invokes carry what was
// sent, completions what came back.
func hist(calls ...call) []history.Op {
	var ops []history.Op
	for _, c := range calls {
		inv := history.Op{ID: c.id, Type: history.Invoke, Process: "p-" + c.id, F: c.f, Voucher: c.voucher,
			IdempotencyKey: c.key, Amount: c.amount, Customer: c.customer, Intended: ms(c.from), Time: ms(c.from)}
		if c.f == history.Rollback {
			inv.RedemptionID = c.rid
		}
		ops = append(ops, inv)
		if c.typ == "" {
			continue
		}
		done := inv
		done.Type, done.Time, done.Platform = c.typ, ms(c.to), c.platform
		switch c.typ {
		case history.OK:
			done.Status = 200
			done.RedemptionID, done.RollbackID, done.Valid, done.Applied = c.rid, c.rbid, c.valid, c.applied
		case history.Fail:
			done.Status = 400
		}
		ops = append(ops, done)
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Time.Before(ops[j].Time) })
	for i := range ops {
		ops[i].Index = int64(i)
	}
	return ops
}

func qty(n int64) *int64 { return &n }

func discount(code string, q int64, redeemed int64) state.Voucher {
	return state.Voucher{Code: code, Type: "DISCOUNT_VOUCHER", Quantity: qty(q), Redeemed: redeemed}
}

func gift(code string, initial, final int64) state.Voucher {
	return state.Voucher{Code: code, Type: "GIFT_VOUCHER", InitialBalance: initial, FinalBalance: final}
}

func red(id, voucher, key string, amount int64) state.Redemption {
	return state.Redemption{ID: id, Voucher: voucher, IdempotencyKey: key, Amount: amount}
}

func rolledBack(r state.Redemption, rbid string) state.Redemption {
	r.RolledBack, r.RollbackID, r.RollbackCount = true, rbid, 1
	return r
}

// full is a state with every part read; rollbacks are derived from the
// redemptions unless given.
func full(vs []state.Voucher, rs []state.Redemption) *state.State {
	st := &state.State{Vouchers: vs, Redemptions: rs}
	st.DeriveRollbacks()
	st.Derived = nil
	return st
}

// checkCase is one table row shared by the checker tests.
type checkCase struct {
	name       string
	calls      []call
	state      *state.State
	verdict    Verdict
	violations int64
	// ops, when set, must appear in the first example.
	ops []string
}

func runCases(t *testing.T, c Checker, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := NewInput(hist(tc.calls...), tc.state)
			require.NoError(t, err)
			r := c.Check(in)
			require.Equal(t, tc.verdict, r.Verdict, "result: %s\nexamples: %+v", r, r.Examples)
			require.Equal(t, tc.violations, r.Violations, "result: %s\nexamples: %+v", r, r.Examples)
			require.Equal(t, c.Name(), r.Name)
			if r.Verdict == Unknown {
				require.NotEmpty(t, r.Reason, "unknown must say why")
			}
			if r.Violations > 0 {
				require.NotEmpty(t, r.Examples)
				require.NotEmpty(t, r.Examples[0].Message)
			}
			if tc.ops != nil {
				require.Subset(t, r.Examples[0].Ops, tc.ops)
			}
		})
	}
}
