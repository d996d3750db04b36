package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/internal/dockerengine"
)

// newInfraPruneCmd is `cutover infra prune`: it removes the containers,
// networks and volumes that docker-driver runs left behind, found by
// cutover's labels.
func newInfraPruneCmd() *cobra.Command {
	var (
		all    bool
		run    string
		dryRun bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove the containers, networks and volumes that docker-driver runs left behind",
		Long: `Remove what runs of the docker driver left behind: every container, network
and volume labelled org.cutover.managed=true whose run's process is no longer
alive (a run killed with SIGKILL, a crashed test). A run also does this itself
when it starts; this command does it by hand.

With --run, only that run's resources are removed, alive or not. With --all,
the resources of live runs are removed too (they will fail). With --dry-run
nothing is removed: the list says what would be.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			cli, err := dockerengine.Connect(ctx)
			if err != nil {
				return withCode(exitInfra, err)
			}
			defer func() { _ = cli.Close() }()
			rep, err := dockerengine.Prune(ctx, cli, dockerengine.PruneOptions{Run: run, All: all, DryRun: dryRun})
			if werr := writePruneReport(cmd, rep, dryRun, asJSON); werr != nil {
				return werr
			}
			if err != nil {
				return withCode(exitInfra, fmt.Errorf("prune: %w", err))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also remove the resources of runs that are still alive")
	cmd.Flags().StringVar(&run, "run", "", "remove only the resources of this run id")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be removed, remove nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func writePruneReport(cmd *cobra.Command, rep dockerengine.PruneReport, dryRun, asJSON bool) error {
	out := cmd.OutOrStdout()
	if asJSON {
		if rep.Removed == nil {
			rep.Removed = []dockerengine.Resource{}
		}
		if rep.Kept == nil {
			rep.Kept = []dockerengine.Resource{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	for _, r := range rep.Removed {
		fmt.Fprintf(out, "%s %s\n", verb, r)
	}
	for _, r := range rep.Kept {
		fmt.Fprintf(out, "kept %s: its run is alive (use --all to remove it)\n", r)
	}
	fmt.Fprintf(out, "%s %d, kept %d\n", verb, len(rep.Removed), len(rep.Kept))
	return nil
}
