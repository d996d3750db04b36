package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/harness/run"
	"github.com/cutover/cutover/harness/stack"
)

func newInfraCmd() *cobra.Command {
	infra := &cobra.Command{
		Use:   "infra",
		Short: "Start, check and clean up the infrastructure of a run (the stack)",
	}
	infra.AddCommand(newInfraUpCmd(), newInfraPruneCmd())
	return infra
}

type infraUpReport struct {
	Driver    string          `json:"driver"`
	Healthy   bool            `json:"healthy"`
	StartMS   float64         `json:"start_ms"`
	Endpoints stack.Endpoints `json:"endpoints"`
	Checks    []stack.Health  `json:"checks,omitempty"`
}

func newInfraUpCmd() *cobra.Command {
	var (
		driver string
		check  bool
		seed   uint64
		images []string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the stack, print its endpoints as JSON, and keep it up until Ctrl-C",
		Long: `Start the stack and print its endpoints as JSON on stdout.

Without --check the stack stays up until Ctrl-C or SIGTERM, then everything is
torn down. With --check every service is health-checked with its real client
(pgx, go-redis, the mongo driver, TCP through each fault proxy), the result is
printed with each service's start time, and the stack is torn down; the exit
code is 0 only if every service was healthy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			t0 := time.Now()
			s, err := run.StartStack(ctx, run.StackConfig{
				Driver: driver, Seed: seed, ImageFlags: images,
				Logf: func(format string, args ...any) { fmt.Fprintf(cmd.ErrOrStderr(), format+"\n", args...) },
			})
			if err != nil {
				return withCode(exitInfra, err)
			}
			defer func() {
				cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = s.Close(cctx)
			}()
			rep := infraUpReport{Driver: driver, Healthy: true, Endpoints: s.Endpoints(), StartMS: float64(time.Since(t0).Microseconds()) / 1000}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			if check {
				rep.Checks = stack.Check(ctx, s.Endpoints())
				herr := stack.Healthy(rep.Checks)
				rep.Healthy = herr == nil
				if err := enc.Encode(rep); err != nil {
					return err
				}
				if herr != nil {
					return withCode(exitInfra, fmt.Errorf("stack unhealthy: %w", herr))
				}
				return nil
			}
			if err := enc.Encode(rep); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "stack is up; Ctrl-C to tear it down")
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&driver, "infra", "embedded", "stack driver: embedded|docker")
	cmd.Flags().BoolVar(&check, "check", false, "health-check every service, print the result, tear down and exit")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed for the weighted DNS answers")
	cmd.Flags().StringArrayVar(&images, "image", nil, "docker driver: image for a service, name=ref (postgres, redis, mongo, localstack, toxiproxy, service); repeatable")
	return cmd
}
