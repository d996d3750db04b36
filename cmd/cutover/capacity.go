package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/harness"
	"github.com/cutover/cutover/harness/capacity"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/report"
)

func newCapacityCmd() *cobra.Command {
	var (
		opts       harness.CapacityOptions
		pricesFile string
		headroom   float64
		budget     float64
		scaling    string
		from       string
		bulkDeploy bool
		db         capacity.Database
	)
	cmd := &cobra.Command{
		Use:   "capacity SCENARIO",
		Short: "Measure what one fleet sustains on each platform, and what N× the peak costs on each",
		Long: `Measure, on the Heroku simulation and on the target, at 1, 2 and 3 replicas,
the highest multiple of the scenario's trace one fleet sustains within the
scenario's budgets: each probe is a short run of the scenario with all traffic
on one platform (a ramp doubling the multiplier, then a bisection; same seed).
Meanwhile every replica's CPU and memory is read (/proc for processes, the
cgroup for containers). A Universal Scalability Law fit projects throughput
to more replicas; with the prices file (--prices, default the one shipped,
each entry with its source and date) it sizes and prices both platforms for
1…10× the recorded peak over a 730-hour month, says what each carries at a
monthly budget (default: today's Heroku fleet), and what binds first.

Writes capacity.json and capacity.html into the results folder, with each
probe's own results folder under probes/.

Exit codes: 0 done, 2 bad input, 3 the infrastructure could not start,
1 the measurement could not produce a plan (no fleet sustained any rate).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if from != "" {
				return cobra.MaximumNArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			prices, err := capacity.DefaultPrices()
			if pricesFile != "" {
				prices, err = capacity.LoadPrices(pricesFile)
			}
			if err != nil {
				return withCode(exitInput, err)
			}
			if scaling != "measured" && scaling != "linear" {
				return withCode(exitInput, fmt.Errorf("--scaling: %q is not measured or linear", scaling))
			}
			if headroom < 0 {
				return withCode(exitInput, errors.New("--headroom: negative"))
			}
			if db.Cores < 0 || db.MaxConnections < 0 || db.PoolPerReplica < 0 {
				return withCode(exitInput, errors.New("--db-cores, --db-max-connections, --db-pool: negative"))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if opts.Run.Out == "" {
				opts.Run.Out = filepath.Join("results", "capacity-"+time.Now().UTC().Format("20060102-150405"))
			}
			opts.Log = cmd.OutOrStdout()
			var m *harness.Capacity
			if from != "" {
				m, err = readMeasurement(from)
			} else {
				m, err = harness.MeasureCapacity(ctx, args[0], opts)
			}
			var inErr *harness.InputError
			var infraErr *harness.InfraError
			switch {
			case errors.As(err, &inErr):
				return withCode(exitInput, err)
			case errors.As(err, &infraErr):
				return withCode(exitInfra, err)
			case err != nil:
				return withCode(exitFail, err)
			}
			c, planErr := harness.PlanCapacity(m, prices, harness.CapacityPlanOptions{Headroom: &headroom, Budget: budget, Linear: scaling == "linear", BulkDeployment: bulkDeploy, Database: db})
			if planErr != nil {
				// Keep what was measured: the probes cost minutes.
				c.PlanError = planErr.Error()
			}
			if err := report.WriteCapacity(opts.Run.Out, c); err != nil {
				return withCode(exitFail, err)
			}
			if planErr != nil {
				return withCode(exitFail, fmt.Errorf("%w (the measurement is in %s)", planErr, filepath.Join(opts.Run.Out, report.CapacityFile)))
			}
			printCapacity(cmd.OutOrStdout(), c)
			fmt.Fprintf(cmd.OutOrStdout(), "\nresults: %s (%s, %s); measured in %.0fs\n", opts.Run.Out, report.CapacityFile, report.CapacityPage, m.DurationS)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Run.Infra, "infra", "", "stack driver, overriding the scenario: embedded|docker")
	f.StringVar(&opts.Run.Target, "target", "", "target platform, overriding the scenario: local|kind|kubeconfig")
	f.StringVar(&opts.Run.Out, "out", "", "results folder (default results/capacity-<time>)")
	f.Uint64Var(&opts.Run.Seed, "seed", 0, "seed, overriding the scenario's")
	f.StringVar(&opts.Run.ServiceBinary, "service-binary", "", "the couponapi binary (default: next to cutover, or ./bin/couponapi)")
	f.StringVar(&pricesFile, "prices", "", "prices file (default: the one shipped, harness/capacity/prices.yaml)")
	f.Float64Var(&headroom, "headroom", harness.DefaultCapacityHeadroom, "share kept spare: added to pod requests, dyno memory and the Heroku fleet's traffic")
	f.Float64Var(&budget, "budget", 0, "monthly budget in USD to compare the platforms at (default: today's Heroku fleet)")
	f.StringVar(&from, "from", "", "price an earlier measurement (a capacity.json or its folder) instead of measuring again")
	f.StringVar(&scaling, "scaling", "measured", "how replicas add up: measured (the USL fit) or linear (λN: replicas on hosts of their own)")
	f.Float64Var(&db.Cores, "db-cores", 0, "cores of the production database (default: the rehearsal machine's, which Postgres shared)")
	f.IntVar(&db.MaxConnections, "db-max-connections", 0, "the production database's max_connections (default: the rehearsal stack's, 400)")
	f.IntVar(&db.PoolPerReplica, "db-pool", 0, "Postgres connections each replica opens (default: the service's DB_POOL_MAX)")
	f.BoolVar(&bulkDeploy, "bulk-deployment", false, "also price the target with bulk import/export as a Deployment of its own (web pods without the bulk memory floor)")
	f.StringSliceVar(&opts.Platforms, "platforms", nil, "platforms to measure (default heroku,aws)")
	f.IntSliceVar(&opts.Replicas, "replicas", nil, "replica counts to measure (default 1,2,3)")
	f.DurationVar(&opts.Hold, "hold", 0, "replay time of each probe (default 5s)")
	f.Float64Var(&opts.Start, "start", 0, "first multiplier tried (default 1)")
	f.Float64Var(&opts.Max, "max", 0, "highest multiplier tried (default: what the trace is long enough for)")
	f.IntVar(&opts.Bisections, "bisections", 0, "bisection steps after the ramp (default 2)")
	return cmd
}

func printCapacity(w io.Writer, c *report.Capacity) {
	p := c.Plan
	fmt.Fprintf(w, "\nrecorded peak %.1f req/s; prices %s (not current truth: see each entry's source and date)\n", p.PeakRate, p.PricesFile)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "platform\tλ req/s\tσ\tκ\tR²\tCPU ms/req\tCPU p95 cores\tpeak MB\tweb MB\tbulk MB\tbulk cores\tdb CPU ms/req\tdb p95 cores\t")
	for _, name := range []string{platform.Heroku, platform.Target} {
		pr := c.Profiles[name]
		fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.4f\t%.2f\t%.2f\t%.2f\t%.0f\t%.0f\t%.0f\t%.2f\t%.3f\t%.2f\t\n", name, pr.Fit.Lambda, pr.Fit.Sigma, pr.Fit.Kappa, pr.Fit.R2, pr.CPUPerRequest*1000, pr.CPUCoresP95, pr.PeakMemoryMB,
			pr.WebPeakMemoryMB, pr.Bulk.PeakMemoryMB, pr.Bulk.CPUCores, pr.DBCPUPerRequest*1000, pr.DBCoresP95)
	}
	_ = tw.Flush() // the terminal's table
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "N×\treq/s\theroku\t$/month\tbinds\ttarget\t$/month\tbinds")
	for _, r := range p.Rows {
		h, hc := fmt.Sprintf("%d × %s", r.HerokuDynos, r.HerokuSize), usd(r.HerokuUSD)
		if r.HerokuOutOfReach {
			h, hc = "-", "out of reach"
		}
		t, tc := fmt.Sprintf("%d pods on %d × %s", r.TargetPods, r.TargetNodes, r.TargetType), usd(r.TargetUSD)
		if r.TargetOutOfReach {
			t, tc = "-", "out of reach"
		}
		fmt.Fprintf(tw, "%.0f×\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Multiple, r.DemandRPS, h, hc, r.HerokuBinds, t, tc, r.TargetBinds)
	}
	_ = tw.Flush() // the terminal's table
	if b := p.BulkDeployment; b != nil {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "N×	target, one Deployment	$/month	bulk as its own Deployment	$/month	saves")
		for _, r := range p.Rows {
			one, oneUSD := fmt.Sprintf("%d pods on %d × %s", r.TargetPods, r.TargetNodes, r.TargetType), usd(r.TargetUSD)
			if r.TargetOutOfReach {
				one, oneUSD = "-", "out of reach"
			}
			sp, spUSD, saves := "-", "out of reach", "-"
			if s := r.Split; s != nil && !s.OutOfReach {
				sp, spUSD = fmt.Sprintf("%d web + %d bulk pods on %d × %s", s.WebPods, s.BulkPods, s.Nodes, s.Instance), usd(s.USD)
				if !r.TargetOutOfReach {
					saves = usd(s.SavesUSD)
				}
			}
			fmt.Fprintf(tw, "%.0f×\t%s\t%s\t%s\t%s\t%s\n", r.Multiple, one, oneUSD, sp, spUSD, saves)
		}
		_ = tw.Flush() // the terminal's table
		fmt.Fprintf(w, "%s\n", b.Summary)
	}
	fmt.Fprintf(w, "\nat %s/month: heroku %.1f×, target %.1f×", usd(p.Budget), p.HerokuAtBudget, p.TargetAtBudget)
	if b := p.BulkDeployment; b != nil {
		fmt.Fprintf(w, " (%.1f× with bulk as its own Deployment)", b.AtBudget)
	}
	fmt.Fprintln(w)
	if f := p.CurrentFleet; f.Dynos > 0 {
		fmt.Fprintf(w, "today's fleet %d × %s (%s/month) carries %.1f×\n", f.Dynos, f.Size, usd(f.MonthlyUSD), f.Carries)
	}
	fmt.Fprintf(w, "binds first on heroku: %s\nbinds first on target: %s\n", p.HerokuBinds, p.TargetBinds)
}

func usd(v float64) string { return fmt.Sprintf("$%.0f", v) }

// readMeasurement reads the measurement of an earlier capacity.json (or
// of the folder holding one).
func readMeasurement(path string) (*harness.Capacity, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, report.CapacityFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &harness.InputError{Err: fmt.Errorf("--from: %w", err)}
	}
	var file struct {
		Measurement *harness.Capacity `json:"measurement"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		return nil, &harness.InputError{Err: fmt.Errorf("--from: %s holds no measurement: %w", path, err)}
	}
	if file.Measurement == nil || len(file.Measurement.Fleets) == 0 {
		return nil, &harness.InputError{Err: fmt.Errorf("--from: %s holds no measurement", path)}
	}
	return file.Measurement, nil
}
