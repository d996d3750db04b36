package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// FormatVersion is the version of the summary.json format this package
// writes. Fields are only ever added within a version; a removal or a change
// of meaning bumps it. summary-format.md documents every field.
const FormatVersion = 1

// Verdict is the outcome of a run.
type Verdict string

const (
	Pass Verdict = "pass"
	Fail Verdict = "fail"
)

// GateResult is the outcome of one gate of one stage.
type GateResult string

const (
	GatePass GateResult = "pass"
	GateFail GateResult = "fail"
	// GateInconclusive means too few samples to judge the budget.
	GateInconclusive GateResult = "inconclusive"
)

// Stage statuses.
const (
	StageCompleted   = "completed"
	StageRolledBack  = "rolled_back" // a gate broke during it; weights were rolled back
	StageSkipped     = "skipped"     // not run, because an earlier stage rolled back
	StageInterrupted = "interrupted" // the run stopped during it
)

// Summary is summary.json: the verdict of a run and the figures behind it.
type Summary struct {
	FormatVersion int    `json:"format_version"`
	RunID         string `json:"run_id"`
	Scenario      string `json:"scenario"`
	ScenarioFile  string `json:"scenario_file"`
	Seed          uint64 `json:"seed"`
	// Driver is how the stack was provided: embedded or docker.
	Driver string `json:"driver"`
	// Target is the kind of target platform: local, kind or kubeconfig.
	Target string `json:"target"`
	// SourcePlatform and TargetPlatform name the two sides as they appear in
	// weights, observed splits and the history (e.g. heroku and aws).
	SourcePlatform string `json:"source_platform"`
	TargetPlatform string `json:"target_platform"`
	// Multiplier is how much faster than recorded the trace was replayed.
	Multiplier float64 `json:"multiplier"`

	Verdict Verdict `json:"verdict"`
	// Reasons say why, one sentence each; for a pass, what was shown.
	Reasons []string `json:"reasons"`
	// ExpectedVerdict is what the scenario says should happen (a scenario
	// that plants a bug expects fail).
	ExpectedVerdict Verdict `json:"expected_verdict"`

	Incomplete       bool   `json:"incomplete"`
	IncompleteReason string `json:"incomplete_reason,omitempty"`

	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	DurationS float64   `json:"duration_s"`

	Stages     []Stage     `json:"stages"`
	Invariants []Invariant `json:"invariants"`
	// Rollback is null when the weights were never rolled back.
	Rollback *Rollback `json:"rollback"`
}

// Stage is one weight setting held while traffic was replayed.
type Stage struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// Weights are the configured Route53 weights by platform (sum 100).
	Weights map[string]int `json:"weights"`
	// ObservedSplit is the percentage of requests each platform served.
	ObservedSplit map[string]float64 `json:"observed_split"`

	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished"`
	DurationS float64   `json:"duration_s"`

	// PlannedRate is the request rate the trace asked for (after the
	// multiplier); AchievedRate the rate requests were actually sent at.
	PlannedRate  float64 `json:"planned_rate"`
	AchievedRate float64 `json:"achieved_rate"`

	Figures
	Platforms map[string]Figures `json:"platforms"`
	Endpoints map[string]Figures `json:"endpoints"`

	Gates    []Gate   `json:"gates"`
	Breaches []Breach `json:"breaches"`
	Faults   []Fault  `json:"faults"`
}

// Figures are the load figures of a set of requests.
type Figures struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	LatencyMS Latency `json:"latency_ms"`
	// ErrorCodes counts errors by Heroku code (H12), HTTP status (503) or
	// "no_response" (timeouts and connection errors).
	ErrorCodes map[string]int64 `json:"error_codes"`
}

// Latency percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Gate metrics.
const (
	MetricP50       = "p50_ms"
	MetricP95       = "p95_ms"
	MetricP99       = "p99_ms"
	MetricErrorRate = "error_rate"
)

// Gate is one budget checked at the end of a stage.
type Gate struct {
	// Endpoint and Platform narrow the gate; empty means all.
	Endpoint string     `json:"endpoint"`
	Platform string     `json:"platform"`
	Metric   string     `json:"metric"`
	Budget   float64    `json:"budget"`
	Observed float64    `json:"observed"`
	Samples  int64      `json:"samples"`
	Result   GateResult `json:"result"`
	Note     string     `json:"note,omitempty"`
}

// Label names the gate for people: "p99 latency of redeem on aws".
func (g Gate) Label() string {
	s := MetricName(g.Metric)
	if g.Endpoint != "" {
		s += " of " + g.Endpoint
	}
	if g.Platform != "" {
		s += " on " + g.Platform
	}
	return s
}

// Describe says how the gate fared in a sentence, with units: "p99
// latency on aws was 412ms, over its budget of 250ms".
func (g Gate) Describe() string {
	rel := "within"
	switch g.Result {
	case GateFail:
		rel = "over"
	case GateInconclusive:
		return fmt.Sprintf("%s could not be judged (%d samples): %s", g.Label(), g.Samples, g.Note)
	}
	return fmt.Sprintf("%s was %s, %s its budget of %s", g.Label(), MetricValue(g.Metric, g.Observed), rel, MetricValue(g.Metric, g.Budget))
}

// MetricName is a gate metric in words.
func MetricName(metric string) string {
	switch metric {
	case MetricP50:
		return "p50 latency"
	case MetricP95:
		return "p95 latency"
	case MetricP99:
		return "p99 latency"
	case MetricErrorRate:
		return "error rate"
	}
	return metric
}

// MetricValue prints a value of metric in its unit: 412ms, 2.25%.
func MetricValue(metric string, v float64) string {
	if metric == MetricErrorRate {
		return pctPlain(v)
	}
	return msText(v)
}

// Breach is a gate that broke while a stage ran.
type Breach struct {
	Metric   string    `json:"metric"`
	Endpoint string    `json:"endpoint"`
	Platform string    `json:"platform"`
	Budget   float64   `json:"budget"`
	Observed float64   `json:"observed"`
	At       time.Time `json:"at"`
	// Action is what the engine did: "rollback" or "none".
	Action string `json:"action"`
}

// Fault is one injected disturbance.
type Fault struct {
	Name   string            `json:"name"`
	Target string            `json:"target"`
	Params map[string]string `json:"params,omitempty"`
	Start  time.Time         `json:"start"`
	End    time.Time         `json:"end"`
}

// Invariant is the result of one business-rule check.
type Invariant struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Checked     int64     `json:"checked"`
	Violations  int64     `json:"violations"`
	Examples    []Example `json:"examples"`
}

// Example is one violation, with the operations that show it.
type Example struct {
	Ops     []string `json:"ops"`
	Message string   `json:"message"`
}

// Rollback records the weights being rolled back after a broken gate.
type Rollback struct {
	Stage  string         `json:"stage"`
	At     time.Time      `json:"at"`
	Reason string         `json:"reason"`
	From   map[string]int `json:"from"`
	To     map[string]int `json:"to"`
	// DurationS is how long until the target served no more new requests.
	DurationS float64 `json:"duration_s"`
}

// WriteSummary writes s as the folder's summary.json.
func (f *Folder) WriteSummary(s *Summary) error {
	if s.FormatVersion == 0 {
		s.FormatVersion = FormatVersion
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	return f.WriteFile(SummaryFile, append(b, '\n'))
}

// ReadSummary reads the summary.json of the results folder dir.
func ReadSummary(dir string) (*Summary, error) {
	path := filepath.Join(dir, SummaryFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read summary: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("%s: format_version %d is newer than this cutover reads (%d); upgrade cutover", path, s.FormatVersion, FormatVersion)
	}
	return &s, nil
}

// Validate checks the fields every consumer relies on.
func (s *Summary) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.FormatVersion < 1 || s.FormatVersion > FormatVersion {
		bad("format_version: %d, want 1..%d", s.FormatVersion, FormatVersion)
	}
	if s.RunID == "" {
		bad("run_id: empty")
	}
	if s.Scenario == "" {
		bad("scenario: empty")
	}
	if s.Verdict != Pass && s.Verdict != Fail {
		bad("verdict: %q, want pass or fail", s.Verdict)
	}
	if s.ExpectedVerdict != "" && s.ExpectedVerdict != Pass && s.ExpectedVerdict != Fail {
		bad("expected_verdict: %q, want pass, fail or empty", s.ExpectedVerdict)
	}
	if len(s.Reasons) == 0 {
		bad("reasons: none given")
	}
	if s.Started.IsZero() {
		bad("started: not set")
	}
	if !s.Incomplete && s.Finished.Before(s.Started) {
		bad("finished: %s is before started %s", s.Finished, s.Started)
	}
	names := map[string]bool{}
	for i, st := range s.Stages {
		where := fmt.Sprintf("stages[%d]", i)
		if st.Name == "" {
			bad("%s.name: empty", where)
		} else if names[st.Name] {
			bad("%s.name: %q used twice", where, st.Name)
		}
		names[st.Name] = true
		sum := 0
		for _, w := range st.Weights {
			if w < 0 {
				bad("%s.weights: negative weight %d", where, w)
			}
			sum += w
		}
		if sum != 100 {
			bad("%s.weights: sum to %d, want 100", where, sum)
		}
		if st.ErrorRate < 0 || st.ErrorRate > 1 {
			bad("%s.error_rate: %g, want a fraction in [0,1]", where, st.ErrorRate)
		}
		for j, g := range st.Gates {
			if g.Result != GatePass && g.Result != GateFail && g.Result != GateInconclusive {
				bad("%s.gates[%d].result: %q", where, j, g.Result)
			}
		}
	}
	for i, inv := range s.Invariants {
		if inv.Name == "" {
			bad("invariants[%d].name: empty", i)
		}
		if inv.Violations > 0 && len(inv.Examples) == 0 {
			bad("invariants[%d] (%s): %d violations but no example", i, inv.Name, inv.Violations)
		}
	}
	if s.Rollback != nil && s.Rollback.Stage != "" && !names[s.Rollback.Stage] {
		bad("rollback.stage: %q is not a stage", s.Rollback.Stage)
	}
	return errors.Join(errs...)
}

// Faults lists every fault of the run in start order.
func (s *Summary) Faults() []Fault {
	var fs []Fault
	for _, st := range s.Stages {
		fs = append(fs, st.Faults...)
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Start.Before(fs[j].Start) })
	return fs
}
