package history

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIsError(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want bool
	}{
		{Op{Type: OK, Status: 200}, false},
		{Op{Type: Fail, Status: 400}, false},
		{Op{Type: Fail, Status: 429}, false},
		{Op{Type: Fail}, true},
		{Op{Type: Info}, true},
		{Op{Type: Fail, Status: 500}, true},
		{Op{Type: Info, Status: 503, HerokuCode: "H12"}, true},
	} {
		require.Equal(t, tc.want, tc.op.IsError(), "%+v", tc.op)
	}
}
