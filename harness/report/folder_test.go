package report_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
)

func TestFolderWritesAtomicallyAndMarksIncomplete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run-1")
	f, err := report.Create(dir)
	require.NoError(t, err)

	inc, _, err := report.Incomplete(dir)
	require.NoError(t, err)
	require.True(t, inc, "a folder being written is marked incomplete")

	// A file being written is invisible under its name until closed.
	w, err := f.Create(report.HistoryFile)
	require.NoError(t, err)
	_, err = w.Write([]byte(`{"index":0}` + "\n"))
	require.NoError(t, err)
	_, err = os.Stat(f.Path(report.HistoryFile))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, w.Close())
	b, err := os.ReadFile(f.Path(report.HistoryFile))
	require.NoError(t, err)
	require.Equal(t, `{"index":0}`+"\n", string(b))

	// Rewriting replaces the whole file; an aborted write leaves the old one.
	require.NoError(t, f.WriteFile(report.RouterLogFile, []byte("first\n")))
	w, err = f.Create(report.RouterLogFile)
	require.NoError(t, err)
	_, err = w.Write([]byte("half of the sec"))
	require.NoError(t, err)
	w.Abort()
	b, err = os.ReadFile(f.Path(report.RouterLogFile))
	require.NoError(t, err)
	require.Equal(t, "first\n", string(b))

	// A writer that was never closed (the process died) leaves only a hidden
	// temporary file, which Finish removes.
	w, err = f.Create(report.StageResultsName(1, "canary 10%"))
	require.NoError(t, err)
	_, err = w.Write([]byte("partial"))
	require.NoError(t, err)
	matches, _ := filepath.Glob(filepath.Join(dir, report.StagesDir, "*"))
	require.Len(t, matches, 1)
	require.Contains(t, filepath.Base(matches[0]), ".tmp-")

	require.NoError(t, f.MarkIncomplete("interrupted by SIGINT during stage canary"))
	inc, why, err := report.Incomplete(dir)
	require.NoError(t, err)
	require.True(t, inc)
	require.Equal(t, "interrupted by SIGINT during stage canary", why)

	require.NoError(t, f.Finish())
	inc, _, err = report.Incomplete(dir)
	require.NoError(t, err)
	require.False(t, inc)
	matches, _ = filepath.Glob(filepath.Join(dir, report.StagesDir, "*"))
	require.Empty(t, matches, "temporary files are removed")
	st, err := os.Stat(f.Path(report.HistoryFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())
}

func TestCreateRefusesAFolderInUse(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "summary.json"), []byte("{}"), 0o644))
	_, err := report.Create(dir)
	require.ErrorContains(t, err, "not empty")
}

func TestStageResultsName(t *testing.T) {
	for _, tc := range []struct {
		index int
		stage string
		want  string
	}{
		{1, "canary-10", "stages/01-canary-10.bin"},
		{12, "aws 25% / heroku 75%", "stages/12-aws_25____heroku_75_.bin"},
		{3, "", "stages/03-stage.bin"},
	} {
		require.Equal(t, tc.want, report.StageResultsName(tc.index, tc.stage))
	}
}
