// Package run executes one scenario end to end, in the order DESIGN.md
// gives: load and check the scenario, start the stack, deploy the service on
// the Heroku simulation and on the target, create the hosted zone and the
// weighted records, then for each step change weights, replay traffic, fire
// faults and evaluate the gate (rolling back when it breaks), drain, read
// the final state, check the invariants and write the results folder.
package run

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/route53"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/internal/gobuild"
	"github.com/cutover/cutover/internal/machine"
)

// Options are the flags of `cutover run`.
type Options struct {
	// Infra and Target override the scenario's driver and target platform.
	Infra, Target string
	// Out is the results folder; default results/<run-id> under the
	// current directory.
	Out string
	// Seed overrides the scenario's seed when non-zero.
	Seed uint64
	// Multiplier overrides traffic.multiplier when non-zero: the same
	// scenario at another load (a search for the highest load it passes
	// at, a rehearsal on a smaller machine).
	Multiplier float64
	// StackHost and Endpoint override aws.stack_host and aws.endpoint
	// (the kubeconfig target: an address of this host the cluster's pods
	// reach, and where this host reaches the Service).
	StackHost, Endpoint string
	// Shards and Workers override traffic.shards and traffic.workers
	// when set: split the replay across that many workers.
	Shards  int
	Workers string
	// Quick scales the scenario's durations down (see scenario.Quickened).
	Quick bool
	// ServiceBinary is the reference service binary (couponapi) used when
	// the scenario names no command of its own; default: found next to the
	// running executable, in ./bin, or on PATH.
	ServiceBinary string
	// Progress receives the progress display (nil: none); ProgressMode
	// forces live or plain lines.
	Progress io.Writer
	// Baseline is a profile (or results folder) the run must not regress
	// against by more than MaxRegression (a fraction, 0.1 = 10 %).
	Baseline      string
	MaxRegression float64
	// Images override the docker driver's images ("name=ref").
	Images []string
	// Route53Credentials, when set, override the scenario's
	// dns.route53_credentials: the only credentials the embedded Route53
	// emulator accepts. Unset in both, it accepts any well-formed SigV4
	// signature and the harness signs with test/test.
	Route53Credentials route53.Credentials
	// MetricsAddr, when set, is the loopback address where the live
	// rehearsal is served to Prometheus at /metrics (port 0: any free
	// port, logged). The final scrape is written to metrics.txt either way.
	MetricsAddr string
	// MetricsLinger keeps serving the metrics that long after the run, so
	// that a Prometheus scraping more often than that gets the final values.
	MetricsLinger time.Duration
	// Machine, when set, is the sampler the run accounts for the machine
	// with, instead of one of its own, so the caller can read the samples
	// too: the run has it follow the stack's servers ("stack/postgres",
	// ...) and every replica of both platforms ("heroku/web.1",
	// "aws/<replica>"), from /proc for a process and from its cgroup for a
	// container. Either way each stage's summary has the machine's figures
	// and saturation judgement.
	Machine *machine.Sampler
	// Capacity runs a capacity step: the measurement of cutover capacity
	// on the scenario file at path, with these options, its results
	// written into dir (capacity.json, capacity.html, probes/). The
	// measurement runs the engine, so the engine is handed it (the
	// harness facade sets it); a scenario with a capacity step fails
	// without it.
	Capacity CapacityFunc
}

// CapacityFunc measures and prices capacity for a capacity step.
type CapacityFunc func(ctx context.Context, path string, step scenario.Capacity, opts Options, dir string) (*report.Capacity, error)

// Outcome is what a finished run produced.
type Outcome struct {
	Dir     string
	Summary *report.Summary
	// Unexpected lists how the outcome differs from the scenario's expect
	// section (verdict, failing invariants, breach); empty when as expected.
	Unexpected []string
}

// Pass reports whether the run's verdict is pass.
func (o *Outcome) Pass() bool { return o.Summary.Verdict == report.Pass }

// AsExpected reports whether the verdict is the one the scenario expects.
func (o *Outcome) AsExpected() bool { return len(o.Unexpected) == 0 }

// InputError is bad input (scenario, trace, flags): nothing was started.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// InfraError means the infrastructure could not start.
type InfraError struct{ Err error }

func (e *InfraError) Error() string { return e.Err.Error() }
func (e *InfraError) Unwrap() error { return e.Err }

// FaultError means a fault could not be applied: the rehearsal did not
// happen as the scenario describes (exit 3, like infrastructure that could
// not start). Partial results are written and marked incomplete.
type FaultError struct{ Err error }

func (e *FaultError) Error() string { return e.Err.Error() }
func (e *FaultError) Unwrap() error { return e.Err }

// Run executes the scenario file at path. A run that completes returns its
// Outcome (whatever the verdict); errors are *InputError before anything
// starts, *InfraError when the stack or platforms cannot start, or the
// reason the run stopped (its results folder is then marked incomplete).
func Run(ctx context.Context, path string, opts Options) (*Outcome, error) {
	p, err := prepare(path, opts)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	r, err := newRehearsal(p, opts)
	if err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// defaultOut is results/<run-id> under the working directory.
func defaultOut(runID string) string { return filepath.Join("results", runID) }

// findService locates the reference service binary: the explicit one,
// couponapi next to the running executable or in ./bin, or else built from
// its import path with the go command (which works inside this repository
// and in any module that requires cutover).
func findService(ctx context.Context, explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("service binary: %w", err)
		}
		return explicit, nil
	}
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "couponapi"))
	}
	candidates = append(candidates, filepath.Join("bin", "couponapi"))
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			abs, err := filepath.Abs(c)
			if err != nil {
				return "", err
			}
			return abs, nil
		}
	}
	bin, err := gobuild.Binary(ctx, api.ServicePackage, "")
	if err != nil {
		return "", fmt.Errorf("the reference service binary couponapi was not found next to cutover or in ./bin, and building it failed (run `make build`, or give --service-binary): %w", err)
	}
	return bin, nil
}

// deadline is how long cleanup may take after the run's context ended.
const cleanupTimeout = time.Minute
