// Package harness runs cutover scenarios inside Go tests: one call runs a
// whole rehearsal and fails the test, with the verdict's reasons, when the
// outcome is not what the scenario expects.
//
//	func TestCutover(t *testing.T) {
//		harness.Run(t, "scenarios/staged-cutover.yaml", harness.Quick())
//	}
package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/internal/oracle"
	"github.com/cutover/cutover/harness/internal/run"
	"github.com/cutover/cutover/harness/internal/shard"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/internal/gobuild"
)

// Options are the settings of one run (the flags of `cutover run`).
type Options = run.Options

// Outcome is what a finished run produced: its results folder, its summary,
// and how it differs from what the scenario expects.
type Outcome = run.Outcome

// Errors of a run that did not produce a verdict: bad input (exit 2),
// infrastructure that could not start or a fault that could not be applied
// (exit 3).
type (
	InputError = run.InputError
	InfraError = run.InfraError
	FaultError = run.FaultError
)

// StackConfig says how to start a stack on its own (cutover infra up).
type StackConfig = run.StackConfig

// RunScenario runs the scenario file at path and returns its outcome,
// whatever the verdict; an error means the run produced none (see the
// error types above). It is what `cutover run` does; Run wraps it for Go
// tests.
func RunScenario(ctx context.Context, path string, o Options) (*Outcome, error) {
	return run.Run(ctx, path, withCapacity(o))
}

// StartStack starts the infrastructure of a run with the driver c names.
func StartStack(ctx context.Context, c StackConfig) (stack.Stack, error) {
	return run.StartStack(ctx, c)
}

// WorkerImage is the image a sharded run's Indexed Job runs (`make
// images` builds it from cmd/cutover).
const WorkerImage = run.WorkerImage

// WorkerOptions configure one shard worker of a sharded run
// (traffic.shards): see Work.
type WorkerOptions = shard.WorkerOptions

// Work runs one shard worker (cutover worker) until the run coordinating
// it is over: it sends its shard's requests and streams every operation
// back.
func Work(ctx context.Context, o WorkerOptions) error { return shard.Work(ctx, o) }

// Invariants names every business invariant the oracle can check, sorted
// (a scenario checks all of them but partner_sync unless it names some).
func Invariants() []string { return oracle.Names() }

// Option changes how a scenario runs in Run.
type Option func(*run.Options)

// Quick scales the scenario's durations down (cutover run --quick).
func Quick() Option { return func(o *run.Options) { o.Quick = true } }

// Infra overrides the stack driver (embedded, docker).
func Infra(driver string) Option { return func(o *run.Options) { o.Infra = driver } }

// Target overrides the target platform (local, kind, kubeconfig).
func Target(target string) Option { return func(o *run.Options) { o.Target = target } }

// Shards splits the replay across n workers running where workers says
// ("in-process", "job"; empty: the scenario's, else the default for its
// target).
func Shards(n int, workers string) Option {
	return func(o *run.Options) { o.Shards, o.Workers = n, workers }
}

// Seed overrides the scenario's seed.
func Seed(seed uint64) Option { return func(o *run.Options) { o.Seed = seed } }

// Multiplier overrides the scenario's traffic.multiplier.
func Multiplier(m float64) Option { return func(o *run.Options) { o.Multiplier = m } }

// Out sets the results folder (default: a folder of the test's temp dir).
func Out(dir string) Option { return func(o *run.Options) { o.Out = dir } }

// ServiceBinary sets the couponapi binary (default: built from this module
// for the test).
func ServiceBinary(path string) Option { return func(o *run.Options) { o.ServiceBinary = path } }

// Baseline fails the run when it regresses beyond maxRegression (0.1 =
// 10 %) against a profile or results folder.
func Baseline(path string, maxRegression float64) Option {
	return func(o *run.Options) { o.Baseline, o.MaxRegression = path, maxRegression }
}

// Run runs the scenario at path and fails t, with the verdict's reasons and
// the results folder, when the outcome is not what the scenario expects
// (its expect section: verdict, failing invariants, breach). It returns the
// outcome for further assertions.
//
// A scenario expected to pass that did not, only in stages where the
// rehearsal machine itself was saturated (and with every invariant held
// and every fault applied), skips t instead, saying so with the machine's
// figures: the machine could not carry the load, so the run is evidence
// about the machine, not about the platforms — as a load tool warns when
// the load generator is the limit.
func Run(t testing.TB, path string, opts ...Option) *Outcome {
	t.Helper()
	o := run.Options{Out: filepath.Join(t.TempDir(), "results")}
	for _, f := range opts {
		f(&o)
	}
	if o.ServiceBinary == "" {
		bin, err := gobuild.Binary(context.Background(), api.ServicePackage, "")
		require.NoError(t, err, "build the reference service")
		o.ServiceBinary = bin
	}
	if testing.Verbose() {
		o.Progress = os.Stdout
	}
	out, err := run.Run(context.Background(), path, withCapacity(o))
	require.NoError(t, err, "scenario %s did not complete", path)
	if !out.AsExpected() {
		if why := MachineBound(out.Summary); why != "" {
			t.Skipf("scenario %s was not as expected (%s), but the rehearsal machine, not a platform, was the bottleneck wherever it went wrong — %s: this machine cannot judge the scenario at ×%g (results: %s)",
				path, strings.Join(out.Unexpected, "; "), why, out.Summary.Multiplier, out.Dir)
		}
		t.Errorf("scenario %s: %s\nverdict %s:\n  %s\nresults: %s", path,
			strings.Join(out.Unexpected, "; "), out.Summary.Verdict,
			strings.Join(out.Summary.Reasons, "\n  "), out.Dir)
	}
	return out
}

// machineBound says why the outcome of a scenario expected to pass is the
// machine's doing: every stage where a gate failed, broke or could not be
// judged was saturated, and nothing else went wrong (invariants, faults,
// an unfinished run). "" otherwise.
func MachineBound(s *report.Summary) string {
	if s.ExpectedVerdict != report.Pass || s.Incomplete {
		return ""
	}
	for _, inv := range s.Invariants {
		if inv.Result != report.InvariantHeld {
			return ""
		}
	}
	for _, f := range append(s.Faults(), s.Conditions...) {
		if f.Error != "" || (f.Effect.Required && !f.Effect.Observed) {
			return ""
		}
	}
	// What the verdict holds against a run (verdict.Decide): a failed gate
	// or a breach acted on in any stage; a gate that could not be judged on
	// a weighted platform in the last stage that ran.
	last := -1
	for i, st := range s.Stages {
		if st.Status != report.StageSkipped {
			last = i
		}
	}
	var why []string
	for i, st := range s.Stages {
		// Where only the replayer fell behind, comparisons of the platforms
		// were judged all the same: one that broke is the platforms' doing.
		if st.Machine != nil && st.Machine.Saturation.Comparable {
			for _, b := range st.Breaches {
				if b.Compare != "" {
					return ""
				}
			}
		}
		wrong := len(st.Breaches) > 0
		for _, g := range st.Gates {
			unjudged := i == last && g.Result == report.GateInconclusive && (g.Platform == "" || st.Weights[g.Platform] > 0)
			wrong = wrong || g.Result == report.GateFail || unjudged
		}
		if !wrong {
			continue
		}
		if st.Machine == nil || !st.Machine.Saturation.Saturated {
			return ""
		}
		why = append(why, st.Name+": "+st.Machine.Saturation.Why())
	}
	return strings.Join(why, "; ")
}
