package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/harness/report"
)

func newCompareCmd() *cobra.Command {
	var (
		asJSON        bool
		alpha         float64
		maxRegression string
		minDelta      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "compare A B",
		Short: "Compare two runs (or a baseline and a run) stage by stage and endpoint by endpoint",
		Long: `Compare reads the per-stage load results of two results folders — or a
baseline profile (results/baselines/*.json, a copy of a run's profile.json) —
and prints, per stage and endpoint, the request rate, p50/p95/p99 latency and
error rate of both, the change, and whether it is statistically significant:
` + report.TestName + `.

With --max-regression, compare exits 1 when B regressed beyond the bound
against A.`,
		Example: `  cutover compare results/baselines/staged-cutover.json results/2025-03-04T10-00-00Z
  cutover compare --json results/run-a results/run-b
  cutover compare --max-regression 10% results/baselines/staged-cutover.json results/latest`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := report.CompareOptions{Alpha: alpha, MinDelta: minDelta}
			if minDelta == 0 {
				opts.MinDelta = -1 // --min-delta 0: no floor
			}
			if maxRegression != "" {
				bound, err := report.ParsePercent(maxRegression)
				if err != nil {
					return withCode(exitInput, fmt.Errorf("--max-regression: %w", err))
				}
				opts.MaxRegression = bound
			}
			if alpha <= 0 || alpha >= 1 {
				return withCode(exitInput, fmt.Errorf("--alpha: %g is not in (0,1)", alpha))
			}
			a, err := report.LoadProfile(args[0])
			if err != nil {
				return withCode(exitInput, err)
			}
			b, err := report.LoadProfile(args[1])
			if err != nil {
				return withCode(exitInput, err)
			}
			c := report.Compare(a, b, opts)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(c); err != nil {
					return fmt.Errorf("write comparison: %w", err)
				}
			} else if err := c.WriteText(out); err != nil {
				return err
			}
			if n := len(c.Regressions()); n > 0 {
				return withCode(exitFail, fmt.Errorf("%d stage/endpoint row(s) of %s regressed beyond %s against %s", n, c.B, maxRegression, c.A))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the comparison as JSON")
	cmd.Flags().Float64Var(&alpha, "alpha", report.DefaultAlpha, "family-wise significance level (Bonferroni-corrected over the rows)")
	cmd.Flags().StringVar(&maxRegression, "max-regression", "", "fail (exit 1) when a stage regresses by more than this, e.g. 10%")
	cmd.Flags().DurationVar(&minDelta, "min-delta", report.DefaultMinDelta, "smallest percentile growth that counts as a regression, whatever its relative size (0: none)")
	return cmd
}
