package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/harness/scenario"
)

func newListCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the scenarios in a folder with what each rehearses and its expected verdict",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
			if err != nil {
				return withCode(exitInput, err)
			}
			if len(files) == 0 {
				return withCode(exitInput, noScenarios(dir))
			}
			sort.Strings(files)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCENARIO\tEXPECT\tDESCRIPTION")
			var bad error
			for _, f := range files {
				s, err := scenario.Load(f)
				if err != nil {
					fmt.Fprintf(tw, "%s\tINVALID\t%v\n", f, err)
					bad = err
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", f, s.Expect.Verdict, s.Description)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if bad != nil {
				return withCode(exitInput, fmt.Errorf("some scenario files are invalid"))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "scenarios", "folder of scenario files")
	return cmd
}

// noScenarios says where list looked, as an absolute path, and why nothing
// was there, so a user who ran it outside the repository knows what to do.
func noScenarios(dir string) error {
	where, err := filepath.Abs(dir)
	if err != nil {
		where = dir
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no scenarios: looked in %s: %w (run from the repository root or give --dir)", where, err)
	}
	return fmt.Errorf("no scenarios: no *.yaml file in %s (run from the repository root or give --dir)", where)
}
