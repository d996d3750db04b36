package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/stats"
)

// AllEndpoints is the endpoint name of a profile row that covers every
// request of its stage.
const AllEndpoints = "all"

// Profile is the load profile of a run — per stage and endpoint: how many
// requests, at what rate, how many errors and the latency distribution. It
// is what `cutover compare` compares, and a committed baseline
// (results/baselines/*.json) is a Profile.
type Profile struct {
	FormatVersion int    `json:"format_version"`
	RunID         string `json:"run_id"`
	Scenario      string `json:"scenario"`
	Seed          uint64 `json:"seed"`
	// Source says what the profile was built from: "vegeta" results files
	// or the "history".
	Source string       `json:"source"`
	Rows   []ProfileRow `json:"rows"`
	// MachineBound names the stages in which the rehearsal machine, not a
	// platform, was the bottleneck, each with the judgement's reasons
	// (summary stages[].machine.saturation). Their latency measured the
	// machine: Compare shows it and does not count it as a regression,
	// as a run does not judge those stages' latency budgets.
	MachineBound map[string]string `json:"machine_bound,omitempty"`
}

// NoteMachineBound records which of stages the rehearsal machine was the
// bottleneck of.
func (p *Profile) NoteMachineBound(stages []Stage) {
	for _, st := range stages {
		if st.Machine == nil || !st.Machine.Saturation.Saturated {
			continue
		}
		if p.MachineBound == nil {
			p.MachineBound = map[string]string{}
		}
		p.MachineBound[st.Name] = st.Machine.Saturation.Why()
	}
}

// ProfileRow is one stage and endpoint of a Profile.
type ProfileRow struct {
	Stage    string `json:"stage"`
	Endpoint string `json:"endpoint"`
	Requests int64  `json:"requests"`
	Errors   int64  `json:"errors"`
	// First and Last bound the requests' send and completion times.
	First   time.Time       `json:"first"`
	Last    time.Time       `json:"last"`
	Latency stats.Histogram `json:"latency"`
}

// Rate is requests per second over the row's span.
func (r ProfileRow) Rate() float64 {
	s := r.Last.Sub(r.First).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(r.Requests) / s
}

// ErrorRate is the fraction of requests that failed.
func (r ProfileRow) ErrorRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Requests)
}

func (r *ProfileRow) add(start time.Time, latency time.Duration, isErr bool) {
	r.Requests++
	if isErr {
		r.Errors++
	}
	r.Latency.Add(latency)
	end := start.Add(latency)
	if r.First.IsZero() || start.Before(r.First) {
		r.First = start
	}
	if end.After(r.Last) {
		r.Last = end
	}
}

// profileBuilder gathers rows in the order stages are first seen.
type profileBuilder struct {
	rows   map[[2]string]*ProfileRow
	stages []string
}

func newProfileBuilder() *profileBuilder {
	return &profileBuilder{rows: map[[2]string]*ProfileRow{}}
}

func (b *profileBuilder) add(stage, endpoint string, start time.Time, latency time.Duration, isErr bool) {
	for _, ep := range []string{AllEndpoints, endpoint} {
		k := [2]string{stage, ep}
		r := b.rows[k]
		if r == nil {
			if ep == AllEndpoints {
				b.stages = append(b.stages, stage)
			}
			r = &ProfileRow{Stage: stage, Endpoint: ep}
			b.rows[k] = r
		}
		r.add(start, latency, isErr)
	}
}

func (b *profileBuilder) profile(stageOrder []string) []ProfileRow {
	order := map[string]int{}
	for i, s := range stageOrder {
		order[s] = i
	}
	for i, s := range b.stages {
		if _, ok := order[s]; !ok {
			order[s] = len(stageOrder) + i
		}
	}
	rows := make([]ProfileRow, 0, len(b.rows))
	for _, r := range b.rows {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(x, y ProfileRow) int {
		if c := order[x.Stage] - order[y.Stage]; c != 0 {
			return c
		}
		if x.Endpoint == AllEndpoints || y.Endpoint == AllEndpoints {
			return boolInt(y.Endpoint == AllEndpoints) - boolInt(x.Endpoint == AllEndpoints)
		}
		return strings.Compare(x.Endpoint, y.Endpoint)
	})
	return rows
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// errNoLoad is why a folder has no profile: no request was recorded.
var errNoLoad = errors.New("no load recorded")

// ResultIsError says whether a vegeta result counts against the error
// budget: no response, or a 5xx (Heroku router errors are 503s).
func ResultIsError(r *vegeta.Result) bool { return r.Code == 0 || r.Code >= 500 }

// BuildProfile builds the profile of the results folder dir from its
// per-stage vegeta results, or from its history when it has none.
func BuildProfile(dir string) (*Profile, error) {
	p := &Profile{FormatVersion: FormatVersion}
	var order []string
	if s, err := ReadSummary(dir); err == nil {
		p.RunID, p.Scenario, p.Seed = s.RunID, s.Scenario, s.Seed
		p.NoteMachineBound(s.Stages)
		for _, st := range s.Stages {
			order = append(order, st.Name)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	files, err := stageResultFiles(dir)
	if err != nil {
		return nil, err
	}
	b := newProfileBuilder()
	if len(files) > 0 {
		p.Source = "vegeta"
		for _, path := range files {
			if err := addStageResults(b, path); err != nil {
				return nil, err
			}
		}
		p.Rows = b.profile(order)
		return p, nil
	}
	hf, err := os.Open(filepath.Join(dir, HistoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("build profile of %s: %w: no stage results (%s/*.bin) and no %s", dir, errNoLoad, StagesDir, HistoryFile)
	}
	if err != nil {
		return nil, fmt.Errorf("build profile: %w", err)
	}
	defer hf.Close()
	ops, err := history.Read(hf, hf.Name())
	if err != nil {
		return nil, fmt.Errorf("build profile: %w", err)
	}
	p.Source = "history"
	for _, op := range ops {
		if op.Type == history.Invoke || op.Process == history.Nemesis || op.Stage == "" {
			continue
		}
		b.add(op.Stage, op.F, op.Intended, op.Latency, op.IsError())
	}
	p.Rows = b.profile(order)
	return p, nil
}

// addStageResults adds one vegeta results file (any encoding vegeta reads).
// The stage is the result's attack name, or else the file's name.
func addStageResults(b *profileBuilder, path string) error {
	return readStageResults(path, func(stage string, r *vegeta.Result) {
		b.add(stage, Endpoint(r.Method, r.URL), r.Timestamp, r.Latency, ResultIsError(r))
	})
}

// readStageResults calls fn for every result in the vegeta results file.
func readStageResults(path string, fn func(stage string, r *vegeta.Result)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read stage results: %w", err)
	}
	defer f.Close()
	fallback := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if i := strings.IndexByte(fallback, '-'); i > 0 && strings.Trim(fallback[:i], "0123456789") == "" {
		fallback = fallback[i+1:]
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read stage results: %w", err)
	}
	if st.Size() == 0 {
		return nil
	}
	dec := vegeta.DecoderFor(f)
	if dec == nil {
		return fmt.Errorf("%s: not a vegeta results file (gob, JSON or CSV)", path)
	}
	for n := 1; ; n++ {
		var r vegeta.Result
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: result %d: %w", path, n, err)
		}
		stage := r.Attack
		if stage == "" {
			stage = fallback
		}
		fn(stage, &r)
	}
}

// WriteProfile writes p to path as JSON.
func WriteProfile(path string, p *Profile) error {
	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write profile: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write profile: %w", err)
	}
	return nil
}

// LoadProfile reads a profile from path: a results folder (built from its
// stage results or history, or its profile.json when those are gone) or a
// profile JSON file such as a committed baseline.
func LoadProfile(path string) (*Profile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load profile: %w", err)
	}
	if st.IsDir() {
		p, err := BuildProfile(path)
		if err == nil {
			return p, nil
		}
		if _, serr := os.Stat(filepath.Join(path, ProfileFile)); serr != nil {
			return nil, err
		}
		path = filepath.Join(path, ProfileFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load profile: %w", err)
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: not a profile: %w", path, err)
	}
	if p.FormatVersion < 1 || p.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("%s: format_version %d, this cutover reads 1..%d", path, p.FormatVersion, FormatVersion)
	}
	if len(p.Rows) == 0 {
		return nil, fmt.Errorf("%s: profile has no rows", path)
	}
	return &p, nil
}
