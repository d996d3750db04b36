package jsonl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/internal/jsonl"
)

type item struct {
	N int `json:"n"`
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []item
		err      string
	}{
		{"lines and blanks", "{\"n\":1}\n\n{\"n\":2}\n", []item{{1}, {2}}, ""},
		{"empty", "", nil, ""},
		{"bad json names the line", "{\"n\":1}\n{\"n\":\n", nil, "f.jsonl:2:"},
		{"check names the line", "{\"n\":1}\n{\"n\":-1}\n", nil, "f.jsonl:2: negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := jsonl.Read(strings.NewReader(tc.in), "f.jsonl", func(v *item) error {
				if v.N < 0 {
					return errors.New("negative")
				}
				return nil
			})
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzRead(f *testing.F) {
	f.Add("{\"n\":1}\n{\"n\":2}\n")
	f.Fuzz(func(t *testing.T, in string) {
		_, err := jsonl.Read[item](strings.NewReader(in), "f", nil)
		if err != nil && !strings.HasPrefix(err.Error(), "f:") {
			t.Fatalf("error does not name the file and line: %v", err)
		}
	})
}
