package bugs

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "", want: ""},
		{in: " , ", want: ""},
		{in: "check_then_act", want: "check_then_act"},
		{in: "rollback_twice, check_then_act", want: "check_then_act,rollback_twice"},
		{in: "check_then_act,nope", wantErr: `unknown bug "nope"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, err := Parse(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, s.String())
		})
	}
}

func TestTableIsComplete(t *testing.T) {
	seen := map[Bug]bool{}
	for _, b := range Bugs {
		require.False(t, seen[b.Name], "duplicate %s", b.Name)
		seen[b.Name] = true
		require.NotEmpty(t, b.Effect)
		require.NotContains(t, b.Effect, "\n", "one line per bug")
	}
	require.Len(t, seen, 9)
	var none Set
	require.False(t, none.Has(CheckThenAct))
}

func FuzzParse(f *testing.F) {
	f.Add("check_then_act,import_buffer")
	f.Add(",,x")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			return
		}
		again, err := Parse(s.String())
		require.NoError(t, err)
		require.Equal(t, s.String(), again.String())
	})
}
