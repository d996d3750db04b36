package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/harness"
)

// newWorkerCmd is the shard worker a sharded run starts (traffic.shards):
// in a pod of an Indexed Job it reads its shard from JOB_COMPLETION_INDEX.
func newWorkerCmd() *cobra.Command {
	var (
		coordinator string
		index       int
		reach       []string
	)
	cmd := &cobra.Command{
		Use:   "worker --coordinator URL [--shard N] [--reach HOST:PORT]...",
		Short: "Send one shard of a sharded run's replay (started by `cutover run` with traffic.shards)",
		Long: `worker sends the requests of one shard of a run's replay — the virtual
clients that fall into it — and streams every operation back to the run
that coordinates it. A run with traffic.shards starts its workers itself,
as a Kubernetes Indexed Job (each pod reads its shard from
JOB_COMPLETION_INDEX) or in its own process.

--reach gives, in the order of the job's list of endpoints, how this worker
reaches each one (a pod reaches the host's loopback services through relays).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("shard") {
				v := os.Getenv("JOB_COMPLETION_INDEX")
				n, err := strconv.Atoi(v)
				if err != nil {
					return withCode(exitInput, fmt.Errorf("--shard not given and JOB_COMPLETION_INDEX %q is not a number", v))
				}
				index = n
			}
			if coordinator == "" {
				return withCode(exitInput, fmt.Errorf("--coordinator: required"))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logf := func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), "worker: "+format+"\n", args...) }
			if err := harness.Work(ctx, harness.WorkerOptions{Coordinator: coordinator, Shard: index, Reach: reach, Logf: logf, Measure: true}); err != nil {
				return withCode(exitInfra, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&coordinator, "coordinator", "", "base URL of the run coordinating the shards")
	cmd.Flags().IntVar(&index, "shard", 0, "this worker's shard (default: $JOB_COMPLETION_INDEX)")
	cmd.Flags().StringArrayVar(&reach, "reach", nil, "how this worker reaches the job's endpoints, in order (HOST:PORT)")
	return cmd
}
