package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cutover/cutover/internal/machine"
)

// FormatVersion is the version of the summary.json format this package
// writes. Fields are only ever added within a version; a removal or a change
// of meaning bumps it. summary-format.md documents every field.
const FormatVersion = 2

// Verdict is the outcome of a run.
type Verdict string

const (
	Pass Verdict = "pass"
	Fail Verdict = "fail"
	// Inconclusive: the run could not decide — too few samples, a fault
	// that left no evidence, an invariant that could not be checked, or
	// the rehearsal machine itself saturated.
	Inconclusive Verdict = "inconclusive"
)

// GateResult is the outcome of one gate of one stage.
type GateResult string

const (
	GatePass GateResult = "pass"
	GateFail GateResult = "fail"
	// GateInconclusive means the budget could not be judged: too few
	// samples, or the machine itself was saturated (a latency limit would
	// measure it rather than a platform).
	GateInconclusive GateResult = "inconclusive"
	// GateSkipped is a comparative budget that does not apply: one side
	// had weight 0 and no traffic to compare.
	GateSkipped GateResult = "skipped"
)

// StageStatus is how a stage ended.
type StageStatus string

// Stage statuses.
const (
	StageCompleted   StageStatus = "completed"
	StageRolledBack  StageStatus = "rolled_back" // a gate broke during it; weights were rolled back
	StageSkipped     StageStatus = "skipped"     // not run, because an earlier stage rolled back
	StageInterrupted StageStatus = "interrupted" // the run stopped during it
)

// Summary is summary.json: the verdict of a run and the figures behind it.
type Summary struct {
	FormatVersion int `json:"format_version"`
	// Shards are the workers of a sharded replay (traffic.shards), with
	// their clock offsets against the run; empty when one process sent
	// everything.
	Shards       []ShardWorker `json:"shards,omitempty"`
	RunID        string        `json:"run_id"`
	Scenario     string        `json:"scenario"`
	ScenarioFile string        `json:"scenario_file"`
	Seed         uint64        `json:"seed"`
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

	Stages []Stage `json:"stages"`
	// Conditions are disturbances the scenario sets up without a fault
	// step (the partner's firewall, clients that ignore the DNS TTL), each
	// with its evidence, judged like faults.
	Conditions []Fault     `json:"conditions"`
	Invariants []Invariant `json:"invariants"`
	// Rollback is null when the weights were never rolled back.
	Rollback *Rollback `json:"rollback"`
	// Capacity is the scenario's capacity step, when it has one.
	Capacity *CapacityStep `json:"capacity,omitempty"`
}

// CapacityStep is what a capacity step measured, in brief: the whole is
// in its capacity.json. It does not change the verdict.
type CapacityStep struct {
	Name string `json:"name,omitempty"`
	// File and Page are capacity.json and capacity.html, in the results
	// folder; the probes' own results folders are under ProbesDir.
	File      string  `json:"file"`
	Page      string  `json:"page"`
	ProbesDir string  `json:"probes_dir"`
	DurationS float64 `json:"duration_s"`
	// PeakRate is the recorded peak (1×) in req/s; at Budget a month,
	// HerokuAtBudget and TargetAtBudget are the multiples each platform
	// carries; HerokuBinds and TargetBinds what binds first.
	PeakRate       float64 `json:"peak_rate_rps"`
	Budget         float64 `json:"budget_usd"`
	HerokuAtBudget float64 `json:"heroku_multiple_at_budget"`
	TargetAtBudget float64 `json:"target_multiple_at_budget"`
	HerokuBinds    string  `json:"heroku_binds,omitempty"`
	TargetBinds    string  `json:"target_binds,omitempty"`
	// Error says why there is no plan, or no measurement.
	Error string `json:"error,omitempty"`
}

// Stage is one weight setting held while traffic was replayed.
type Stage struct {
	Name   string      `json:"name"`
	Status StageStatus `json:"status"`
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

	// LostShards names the shard workers of a sharded replay that were
	// lost during the stage, and Unsent counts the planned requests they
	// never sent: the stage ran on partial traffic.
	LostShards []int `json:"lost_shards,omitempty"`
	Unsent     int64 `json:"unsent,omitempty"`
	// Unreported counts the requests a lost worker may have sent without
	// reporting them: the history holds them as indeterminate.
	Unreported int64 `json:"unreported,omitempty"`

	// Machine is what the rehearsal machine and each component of the
	// run (harness, router, load balancer, DNS model, the stack's servers,
	// each dyno and replica) used during the stage, and whether the machine
	// itself was the bottleneck; nil when the machine was not sampled.
	Machine *StageMachine `json:"machine,omitempty"`
}

// StageMachine is the machine's share of a stage: the aggregated samples
// and the saturation judgement. When Saturation.Saturated, the stage's
// latency gates were inconclusive: they would have measured the machine,
// not a platform (error budgets still judged).
type StageMachine struct {
	machine.Window
	Saturation machine.Judgement `json:"saturation"`
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

// Metric is what a gate measures.
type Metric string

// Gate metrics.
const (
	MetricP50       Metric = "p50_ms"
	MetricP95       Metric = "p95_ms"
	MetricP99       Metric = "p99_ms"
	MetricErrorRate Metric = "error_rate"
)

// Action is what the engine did when a gate broke.
type Action string

// Breach actions (scenario gate.on_breach, or none when the gate only
// records).
const (
	ActionRollback Action = "rollback"
	ActionAbort    Action = "abort"
	ActionNone     Action = "none"
)

// Gate is one budget checked at the end of a stage.
type Gate struct {
	// Endpoint and Platform narrow the gate; empty means all.
	Endpoint string `json:"endpoint"`
	Platform string `json:"platform"`
	Metric   Metric `json:"metric"`
	// Budget is the limit in the metric's unit; for a comparative budget,
	// Ratio × Reference.
	Budget   float64    `json:"budget"`
	Observed float64    `json:"observed"`
	Samples  int64      `json:"samples"`
	Result   GateResult `json:"result"`
	Note     string     `json:"note,omitempty"`

	// A comparative budget judges Platform against Compare in the same
	// window: Reference is Compare's observed value, Ratio the allowed
	// factor, MinDeltaMS the difference below which nothing breaks, PValue
	// the two-sided Mann–Whitney p-value of the comparison.
	Compare          string  `json:"compare,omitempty"`
	Ratio            float64 `json:"ratio,omitempty"`
	MinDeltaMS       float64 `json:"min_delta_ms,omitempty"`
	Reference        float64 `json:"reference,omitempty"`
	ReferenceSamples int64   `json:"reference_samples,omitempty"`
	PValue           float64 `json:"p_value,omitempty"`
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
	case GateSkipped:
		return fmt.Sprintf("%s was not judged: %s", g.Label(), g.Note)
	}
	if g.Compare != "" {
		factor := 0.0
		if g.Reference > 0 {
			factor = g.Observed / g.Reference
		}
		return fmt.Sprintf("%s was %s, %.2fx %s's %s in the same window, %s its budget of %gx (one-sided p=%.2g)",
			g.Label(), MetricValue(g.Metric, g.Observed), factor, g.Compare, MetricValue(g.Metric, g.Reference), rel, g.Ratio, g.PValue/2)
	}
	return fmt.Sprintf("%s was %s, %s its budget of %s", g.Label(), MetricValue(g.Metric, g.Observed), rel, MetricValue(g.Metric, g.Budget))
}

// MetricName is a gate metric in words.
func MetricName(metric Metric) string {
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
	return string(metric)
}

// MetricValue prints a value of metric in its unit: 412ms, 2.25%.
func MetricValue(metric Metric, v float64) string {
	if metric == MetricErrorRate {
		return pctPlain(v)
	}
	return msText(v)
}

// Breach is a gate that broke while a stage ran.
type Breach struct {
	// Stage is the hold during which the gate broke.
	Stage    string    `json:"stage"`
	Metric   Metric    `json:"metric"`
	Endpoint string    `json:"endpoint"`
	Platform string    `json:"platform"`
	Compare  string    `json:"compare,omitempty"`
	Budget   float64   `json:"budget"`
	Observed float64   `json:"observed"`
	At       time.Time `json:"at"`
	// Action is what the engine did: rollback, abort or none.
	Action Action `json:"action"`
	// Machine is how the rehearsal machine was judged over the window in
	// which the budget broke (the gate's window during a stage, the whole
	// stage at its end): a breach counts only where the machine was not
	// the bottleneck, and this is the evidence. Nil when the machine was
	// not sampled.
	Machine *machine.Judgement `json:"machine,omitempty"`
}

// Same says whether two breaches are of one budget in one stage: the
// same metric, endpoint, platform, reference platform and budget.
func (b Breach) Same(o Breach) bool {
	return b.Stage == o.Stage && b.Metric == o.Metric && b.Endpoint == o.Endpoint &&
		b.Platform == o.Platform && b.Compare == o.Compare && b.Budget == o.Budget
}

// Fault is one injected disturbance and what it did.
type Fault struct {
	Name   string            `json:"name"`
	Kind   string            `json:"kind"`
	Target string            `json:"target"`
	Params map[string]string `json:"params,omitempty"`
	Start  time.Time         `json:"start"`
	End    time.Time         `json:"end"`
	// Error says why the fault could not start or heal.
	Error  string `json:"error,omitempty"`
	Effect Effect `json:"effect"`
}

// Effect is the evidence a fault left in the run's own data: router codes
// in the router log, dyno state lines, refused calls, added latency on a
// link, pods evicted, errors and recovery after a database outage.
type Effect struct {
	// Observed is whether the evidence shows the fault bit.
	Observed bool `json:"observed"`
	// Required is false when the scenario accepts that the fault may have
	// no visible effect (fault.effect: optional); a required fault that
	// leaves no evidence makes the run inconclusive.
	Required bool `json:"required"`
	// Evidence are the figures counted, by name (h12, r15, refused,
	// added_latency_ms, pods_evicted, recovery_s ...).
	Evidence map[string]float64 `json:"evidence"`
	// Summary says what was seen, in a sentence.
	Summary string `json:"summary"`
}

// Invariant results.
const (
	InvariantHeld    = "held"
	InvariantBroken  = "broken"
	InvariantUnknown = "unknown"
)

// Invariant is the result of one business-rule check.
type Invariant struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Result is held, broken or unknown (the checker lacked evidence;
	// Reason says what).
	Result     string    `json:"result"`
	Reason     string    `json:"reason,omitempty"`
	Checked    int64     `json:"checked"`
	Violations int64     `json:"violations"`
	Examples   []Example `json:"examples"`
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
	if s.Verdict != Pass && s.Verdict != Fail && s.Verdict != Inconclusive {
		bad("verdict: %q, want pass, fail or inconclusive", s.Verdict)
	}
	if s.ExpectedVerdict != "" && s.ExpectedVerdict != Pass && s.ExpectedVerdict != Fail && s.ExpectedVerdict != Inconclusive {
		bad("expected_verdict: %q, want pass, fail, inconclusive or empty", s.ExpectedVerdict)
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
			if g.Result != GatePass && g.Result != GateFail && g.Result != GateInconclusive && g.Result != GateSkipped {
				bad("%s.gates[%d].result: %q", where, j, g.Result)
			}
		}
	}
	for i, inv := range s.Invariants {
		if inv.Name == "" {
			bad("invariants[%d].name: empty", i)
		}
		if inv.Result != InvariantHeld && inv.Result != InvariantBroken && inv.Result != InvariantUnknown {
			bad("invariants[%d].result: %q, want held, broken or unknown", i, inv.Result)
		}
		if inv.Result == InvariantUnknown && inv.Reason == "" {
			bad("invariants[%d] (%s): unknown without a reason", i, inv.Name)
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

// Requests is the number of client requests of every stage.
func (s *Summary) Requests() int64 {
	var n int64
	for _, st := range s.Stages {
		n += st.Requests
	}
	return n
}

// Skew is a clock offset and how well it is known, in milliseconds.
type Skew struct{ OffsetMS, ErrorMS float64 }

// WorstSkew is the largest clock offset of a shard worker against the run.
func (s *Summary) WorstSkew() Skew {
	var w Skew
	for _, sh := range s.Shards {
		if math.Abs(sh.ClockOffsetMS) >= math.Abs(w.OffsetMS) {
			w = Skew{sh.ClockOffsetMS, sh.ClockErrorMS}
		}
	}
	return w
}

// ShardWorker is one worker of a sharded replay as the run saw it.
type ShardWorker struct {
	Shard int    `json:"shard"`
	Host  string `json:"host,omitempty"`
	// ClockOffsetMS is the worker's clock minus the run's, known within
	// ClockErrorMS (half the round trip it was measured by).
	ClockOffsetMS float64 `json:"clock_offset_ms"`
	ClockErrorMS  float64 `json:"clock_error_ms"`
	// Lost says why the worker was lost; empty when it was not.
	Lost string `json:"lost,omitempty"`
	// CPUMSPerRequest is the CPU time the worker's process spent per
	// request it sent, and PeakRSSMB its peak memory: what a pod of it
	// needs at this rate. Zero for in-process workers (they share the
	// run's process).
	CPUMSPerRequest float64 `json:"cpu_ms_per_request,omitempty"`
	PeakRSSMB       float64 `json:"peak_rss_mb,omitempty"`
	// CPURequestMilli and MemoryRequestMB are what the worker's pod asked
	// for (job workers), sized from a measured worker capacity;
	// Undersized says where the worker used more than that, in words.
	CPURequestMilli int64   `json:"cpu_request_milli,omitempty"`
	MemoryRequestMB float64 `json:"memory_request_mb,omitempty"`
	Undersized      string  `json:"undersized,omitempty"`
}

// Saturated returns the judgement of the named stage's machine when the
// rehearsal machine, not a platform, was the bottleneck in it.
func (s *Summary) Saturated(stage string) (machine.Judgement, bool) {
	for _, st := range s.Stages {
		if st.Name == stage && st.Machine != nil && st.Machine.Saturation.Saturated {
			return st.Machine.Saturation, true
		}
	}
	return machine.Judgement{}, false
}
