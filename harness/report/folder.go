// Package report writes and reads a run's results folder — the evidence a
// platform team attaches to its go/no-go decision — and turns it into
// summary.json, a self-contained report.html and run-to-run comparisons.
//
// A folder is written atomically: Create marks it incomplete first, every
// file is written to a hidden temporary name and renamed into place when it
// is whole, and Finish removes the mark. A run that crashes or is interrupted
// leaves a folder marked INCOMPLETE with whole files in it, never a
// half-written one.
package report

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Names of the files and folders inside a results folder.
const (
	// IncompleteFile exists while a run is writing the folder, and stays if
	// it never finished. Its content says why, when known.
	IncompleteFile  = "INCOMPLETE"
	SummaryFile     = "summary.json"
	ScenarioFile    = "scenario.yaml"
	EnvironmentFile = "environment.json"
	HistoryFile     = "history.jsonl"
	// RouterLogFile holds the simulated Heroku router's log lines.
	RouterLogFile = "logs/heroku-router.log"
	// DynoLogsDir holds one file per dyno (web.1.log, ...).
	DynoLogsDir = "logs/dynos"
	// TargetLogsDir holds the target platform's logs, one file per replica.
	TargetLogsDir = "logs/target"
	// WorkerLogsDir holds the log of each shard worker of a sharded replay
	// (shard-0.log, ...): what it logged, and when it joined or was lost.
	WorkerLogsDir = "logs/workers"
	// StagesDir holds one vegeta-encoded (gob) results file per stage, named
	// by StageResultsName; `vegeta report` and `vegeta plot` read them.
	StagesDir = "stages"
	// ProfileFile is the compact latency profile compare and --baseline use.
	ProfileFile = "profile.json"
	ReportFile  = "report.html"

	tmpPrefix = ".tmp-"
)

// Folder is a results folder being written by a run.
type Folder struct {
	dir string
}

// Create makes the results folder dir (it must not exist, or be empty) and
// marks it incomplete until Finish.
func Create(dir string) (*Folder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create results folder: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("create results folder: %w", err)
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("create results folder %s: not empty (pick another --out, or remove it)", dir)
	}
	f := &Folder{dir: dir}
	if err := f.WriteFile(IncompleteFile, []byte("run in progress since "+time.Now().UTC().Format(time.RFC3339)+"\n")); err != nil {
		return nil, err
	}
	return f, nil
}

// Dir is the folder's path.
func (f *Folder) Dir() string { return f.dir }

// Path is the path of name (slash-separated, relative) inside the folder.
func (f *Folder) Path(name string) string { return filepath.Join(f.dir, filepath.FromSlash(name)) }

// WriteFile writes name atomically.
func (f *Folder) WriteFile(name string, data []byte) error {
	af, err := f.Create(name)
	if err != nil {
		return err
	}
	if _, err := af.Write(data); err != nil {
		af.Abort()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return af.Close()
}

// Create opens name for writing. Nothing appears under name until Close;
// Abort throws the content away.
func (f *Folder) Create(name string) (*AtomicFile, error) {
	path := f.Path(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), tmpPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	return &AtomicFile{tmp: tmp, path: path, name: name}, nil
}

// MarkIncomplete records why the run did not finish (interrupted, a stage
// failed to start, ...). The folder stays marked incomplete.
func (f *Folder) MarkIncomplete(reason string) error {
	return f.WriteFile(IncompleteFile, []byte(reason+"\n"))
}

// Finish marks the folder complete and removes temporary files left by
// writers that were never closed.
func (f *Folder) Finish() error {
	err := filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), tmpPrefix) {
			return os.Remove(path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish results folder: %w", err)
	}
	if err := os.Remove(f.Path(IncompleteFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("finish results folder: %w", err)
	}
	return syncDir(f.dir)
}

// Incomplete reports whether the folder at dir is marked incomplete, and why.
func Incomplete(dir string) (bool, string, error) {
	b, err := os.ReadFile(filepath.Join(dir, IncompleteFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("read incomplete mark: %w", err)
	}
	return true, strings.TrimSpace(string(b)), nil
}

// StageResultsName is the name, inside the folder, of the vegeta results of
// the index-th stage (from 1) called stage.
func StageResultsName(index int, stage string) string {
	return fmt.Sprintf("%s/%02d-%s.bin", StagesDir, index, safeName(stage))
}

// stageResultFiles lists the stage results files of the folder at dir in
// stage order.
func stageResultFiles(dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, StagesDir, "*.bin"))
	if err != nil {
		return nil, fmt.Errorf("list stage results: %w", err)
	}
	sort.Strings(matches)
	return matches, nil
}

// safeName keeps letters, digits, '-', '_' and '.', and replaces the rest.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "stage"
	}
	return b.String()
}

// AtomicFile is a file that appears under its name only when closed.
type AtomicFile struct {
	tmp  *os.File
	path string
	name string
	done bool
}

var _ io.WriteCloser = (*AtomicFile)(nil)

// Write appends to the file's content.
func (a *AtomicFile) Write(p []byte) (int, error) { return a.tmp.Write(p) }

// Close syncs the content and renames it into place.
func (a *AtomicFile) Close() error {
	if a.done {
		return nil
	}
	a.done = true
	if err := a.tmp.Sync(); err != nil {
		a.tmp.Close()
		os.Remove(a.tmp.Name())
		return fmt.Errorf("write %s: %w", a.name, err)
	}
	if err := a.tmp.Close(); err != nil {
		os.Remove(a.tmp.Name())
		return fmt.Errorf("write %s: %w", a.name, err)
	}
	if err := os.Rename(a.tmp.Name(), a.path); err != nil {
		os.Remove(a.tmp.Name())
		return fmt.Errorf("write %s: %w", a.name, err)
	}
	return nil
}

// Abort discards what was written; name is left as it was.
func (a *AtomicFile) Abort() {
	if a.done {
		return
	}
	a.done = true
	a.tmp.Close()
	os.Remove(a.tmp.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
