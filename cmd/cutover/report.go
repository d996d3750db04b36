package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/harness/report"
)

func newReportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "report DIR",
		Short: "Re-render report.html (and profile.json) from a results folder",
		Long: `Report rebuilds report.html from what a results folder holds — summary.json,
the history, the Heroku router log and the per-stage vegeta results — the same
way a run does at its end. Use it after upgrading cutover, or on a folder
copied from CI.`,
		Example: `  cutover report results/2025-03-04T10-00-00Z`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := report.Render(dir); err != nil {
				return withCode(exitInput, err)
			}
			s, err := report.ReadSummary(dir)
			if err != nil {
				return withCode(exitInput, err)
			}
			inc, _, err := report.Incomplete(dir)
			if err != nil {
				return withCode(exitInput, err)
			}
			state := string(s.Verdict)
			if inc || s.Incomplete {
				state += ", incomplete"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s\n", s.RunID, state, filepath.Join(dir, report.ReportFile))
			return nil
		},
	}
}
