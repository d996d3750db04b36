package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// list names every scenario of a folder; with none found it says where it
// looked and exits 2 instead of printing an empty table.
func TestList(t *testing.T) {
	withScenario := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(withScenario, "demo.yaml"), []byte(validScenario), 0o644))
	empty := t.TempDir()
	missing := filepath.Join(t.TempDir(), "nowhere")
	for _, tc := range []struct {
		name       string
		dir        string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"a scenario", withScenario, exitPass, filepath.Join(withScenario, "demo.yaml"), ""},
		{"an empty folder", empty, exitInput, "", "no *.yaml file in " + empty},
		{"a missing folder", missing, exitInput, "", "looked in " + missing},
		{"the repository's scenarios", "../../scenarios", exitPass, "staged-cutover.yaml", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI("list", "--dir", tc.dir)
			require.Equal(t, tc.wantCode, code, stderr)
			require.Contains(t, stdout, tc.wantStdout)
			require.Contains(t, stderr, tc.wantStderr)
			if tc.wantCode != exitPass {
				require.Empty(t, stdout, "no empty table")
			}
		})
	}
}
