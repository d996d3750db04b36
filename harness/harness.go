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

	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness/run"
)

// Option changes how a scenario runs.
type Option func(*run.Options)

// Quick scales the scenario's durations down (cutover run --quick).
func Quick() Option { return func(o *run.Options) { o.Quick = true } }

// Infra overrides the stack driver (embedded, docker).
func Infra(driver string) Option { return func(o *run.Options) { o.Infra = driver } }

// Target overrides the target platform (local, kind, kubeconfig).
func Target(target string) Option { return func(o *run.Options) { o.Target = target } }

// Seed overrides the scenario's seed.
func Seed(seed uint64) Option { return func(o *run.Options) { o.Seed = seed } }

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
func Run(t testing.TB, path string, opts ...Option) *run.Outcome {
	t.Helper()
	o := run.Options{Out: filepath.Join(t.TempDir(), "results")}
	for _, f := range opts {
		f(&o)
	}
	if o.ServiceBinary == "" {
		o.ServiceBinary = couponapitest.Binary(t)
	}
	if testing.Verbose() {
		o.Progress = os.Stdout
	}
	out, err := run.Run(context.Background(), path, o)
	require.NoError(t, err, "scenario %s did not complete", path)
	if !out.AsExpected() {
		t.Errorf("scenario %s: %s\nverdict %s:\n  %s\nresults: %s", path,
			strings.Join(out.Unexpected, "; "), out.Summary.Verdict,
			strings.Join(out.Summary.Reasons, "\n  "), out.Dir)
	}
	return out
}
