package oracle

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle/state"
)

// fixed is a checker with a set verdict, to test composition.
type fixed struct {
	name    string
	verdict Verdict
}

func (f fixed) Name() string { return f.name }
func (f fixed) Check(*Input) Result {
	r := Result{Name: f.name, Verdict: f.verdict, Checked: 1}
	if f.verdict == Fail {
		r.Violations = 1
		r.Examples = []Violation{{Message: f.name + " broke"}}
	}
	if f.verdict == Unknown {
		r.Reason = "no evidence"
	}
	return r
}

func TestCompose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts []Checker
		want  Verdict
	}{
		{"all pass", []Checker{fixed{"a", Pass}, fixed{"b", Pass}}, Pass},
		{"one fails", []Checker{fixed{"a", Pass}, fixed{"b", Fail}, fixed{"c", Unknown}}, Fail},
		{"one unknown", []Checker{fixed{"a", Pass}, fixed{"b", Unknown}}, Unknown},
		{"nothing selected", nil, Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := NewInput(nil, nil)
			require.NoError(t, err)
			r := Compose("all", tc.parts...).Check(in)
			require.Equal(t, tc.want, r.Verdict, r.String())
			require.Len(t, r.Results, len(tc.parts))
			if tc.want != Pass {
				require.NotEmpty(t, r.Reason)
			}
		})
	}
}

func TestByName(t *testing.T) {
	cs, err := ByName("no_over_redemption", "audit_parity")
	require.NoError(t, err)
	require.Equal(t, "no_over_redemption", cs[0].Name())
	require.Equal(t, "audit_parity", cs[1].Name())
	_, err = ByName("no_such")
	require.ErrorContains(t, err, `unknown invariant "no_such"`)
	require.Len(t, Names(), 9)
}

func TestNewInputPairs(t *testing.T) {
	ops := hist(
		redeem("a", OK, 0, 10, "V", "k1", "r1"),
		redeem("b", "", 5, 0, "V", "k2", ""),
	)
	// A completion whose invoke is missing is kept.
	ops = append(ops, history.Op{ID: "c", Type: history.Fail, F: history.Redeem, Voucher: "V", Time: ms(50)})
	in, err := NewInput(ops, nil)
	require.NoError(t, err)
	require.Len(t, in.Ops, 3)
	require.Equal(t, history.OK, in.Ops[0].Type())
	require.Equal(t, "r1", in.Ops[0].RedemptionID())
	require.Equal(t, history.Info, in.Ops[1].Type(), "a redeem that never completed is indeterminate")
	require.True(t, in.Ops[1].Completed().IsZero())
	require.Equal(t, history.Fail, in.Ops[2].Type())

	bad := hist(redeem("a", OK, 0, 10, "V", "k1", "r1"))
	bad[1].Type = "maybe"
	_, err = NewInput(bad, nil)
	require.ErrorContains(t, err, `unknown type "maybe"`)

	twice := append(hist(redeem("a", "", 0, 0, "V", "k1", "")), hist(redeem("a", "", 1, 0, "V", "k1", ""))...)
	_, err = NewInput(twice, nil)
	require.ErrorContains(t, err, "invoked twice")
}

func TestNilStateIsUnknownNotPass(t *testing.T) {
	results, err := Check(hist(redeem("a", OK, 0, 10, "V", "k1", "r1")), nil, All()...)
	require.NoError(t, err)
	for _, r := range results {
		require.Equal(t, Unknown, r.Verdict, r.String())
		require.NotEmpty(t, r.Reason)
	}
}

func TestResultJSON(t *testing.T) {
	results, err := Check(hist(redeem("a", OK, 0, 10, "V", "k1", "r1")),
		full([]state.Voucher{discount("V", 1, 1)}, nil), NoLostAck{})
	require.NoError(t, err)
	b, err := json.Marshal(results[0])
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, "no_lost_ack", back["name"])
	require.Equal(t, "fail", back["verdict"])
	require.EqualValues(t, 1, back["violations"])
	ex := back["examples"].([]any)[0].(map[string]any)
	require.Equal(t, []any{"a"}, ex["ops"])
	require.Equal(t, "V", ex["voucher"])
	require.Equal(t, "heroku", ex["platform"])
}
