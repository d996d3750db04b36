package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/harness"
	"github.com/cutover/cutover/harness/report"
)

func newRunCmd() *cobra.Command {
	var (
		opts          harness.Options
		maxRegression string
		cpuProfile    string
	)
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario: the whole rehearsed cutover, with a verdict and a results folder",
		Long: `Run a scenario file end to end: start the stack, deploy the service on the
simulated Heroku app and on the target, shift traffic through the Route53
weights step by step while replaying the trace at the multiplier, inject the
scheduled faults, evaluate the gates (rolling back on a breach), and check the
invariants on the final state.

Exit codes: 0 pass, 1 the scenario failed (a gate, a budget or an invariant),
2 bad input (flags, scenario, trace), 3 the infrastructure could not start or
a fault could not be applied, 4 inconclusive (too few samples, a fault that
left no evidence, an invariant that could not be checked, or the rehearsal
machine itself saturated: the run could not decide).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxRegression != "" {
				f, err := report.ParsePercent(maxRegression)
				if err != nil {
					return withCode(exitInput, fmt.Errorf("--max-regression: %w", err))
				}
				opts.MaxRegression = f
			}
			if opts.MaxRegression > 0 && opts.Baseline == "" {
				return withCode(exitInput, errors.New("--max-regression needs --baseline"))
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return withCode(exitInput, fmt.Errorf("--cpuprofile: %w", err))
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return withCode(exitInput, fmt.Errorf("--cpuprofile: %w", err))
				}
				defer pprof.StopCPUProfile()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.Progress = cmd.OutOrStdout()
			out, err := harness.RunScenario(ctx, args[0], opts)
			var inErr *harness.InputError
			var infraErr *harness.InfraError
			var faultErr *harness.FaultError
			switch {
			case errors.As(err, &inErr):
				return withCode(exitInput, err)
			case errors.As(err, &infraErr):
				return withCode(exitInfra, err)
			case errors.As(err, &faultErr):
				return withCode(exitInfra, err)
			case err != nil:
				return withCode(exitFail, err)
			}
			for _, u := range out.Unexpected {
				fmt.Fprintln(cmd.ErrOrStderr(), "not as the scenario expects:", u)
			}
			switch out.Summary.Verdict {
			case report.Pass:
				return nil
			case report.Inconclusive:
				return withCode(exitInconclusive, fmt.Errorf("scenario %s was inconclusive: %s", out.Summary.Scenario, out.Summary.Reasons[0]))
			}
			return withCode(exitFail, fmt.Errorf("scenario %s failed: %s", out.Summary.Scenario, out.Summary.Reasons[0]))
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Infra, "infra", "", "stack driver, overriding the scenario: embedded|docker")
	f.StringVar(&opts.Target, "target", "", "target platform, overriding the scenario: local|kind|kubeconfig")
	f.StringVar(&opts.Out, "out", "", "results folder (default results/<run-id>)")
	f.Uint64Var(&opts.Seed, "seed", 0, "seed, overriding the scenario's")
	f.Float64Var(&opts.Multiplier, "multiplier", 0, "replay the trace at this multiple of its recorded rate, overriding traffic.multiplier (the budgets stay the scenario's)")
	f.StringVar(&opts.StackHost, "stack-host", "", "kubeconfig target: an address of this host the cluster's pods reach, overriding aws.stack_host")
	f.StringVar(&opts.Endpoint, "endpoint", "", "kubeconfig target: where this host reaches the Service (host:port), overriding aws.endpoint")
	f.IntVar(&opts.Shards, "shards", 0, "split the replay across N workers, overriding traffic.shards")
	f.StringVar(&opts.Workers, "workers", "", "where shard workers run, overriding traffic.workers: job|in-process")
	f.BoolVar(&opts.Quick, "quick", false, "scale every duration down so the scenario finishes in well under a minute")
	f.StringVar(&opts.ServiceBinary, "service-binary", "", "the couponapi binary (default: next to cutover, or ./bin/couponapi)")
	f.StringVar(&opts.Baseline, "baseline", "", "a profile.json (or results folder) this run must not regress against")
	f.StringVar(&maxRegression, "max-regression", "", "largest allowed regression against --baseline, e.g. 10%")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write the harness's CPU profile to this file (go tool pprof)")
	f.StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve the live rehearsal to Prometheus at http://ADDR/metrics (loopback, e.g. 127.0.0.1:9464; port 0 picks one); the final scrape is in metrics.txt")
	f.DurationVar(&opts.MetricsLinger, "metrics-linger", 0, "keep serving --metrics-addr this long after the run, for a last scrape")
	f.Var(credentialsFlag{&opts.Route53Credentials}, "route53-credentials", route53CredentialsUsage+", overriding the scenario's dns.route53_credentials")
	f.StringArrayVar(&opts.Images, "image", nil, "docker driver: image for a service, name=ref (postgres, redis, mongo, localstack, toxiproxy, service); repeatable")
	return cmd
}
