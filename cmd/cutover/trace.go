package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/traffic/importer"
	"github.com/cutover/cutover/harness/traffic/record"
	"github.com/cutover/cutover/harness/traffic/synth"
	"github.com/cutover/cutover/harness/traffic/trace"
)

func newTraceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Make, record, import and inspect traffic traces",
		Long: `A trace is recorded coupon traffic: JSON lines (gzip when the name ends in
.gz), one request a line with its offset in seconds, method, path, headers,
body, virtual client and operation. The rehearsal replays it at a multiple of
its rate.`,
	}
	cmd.AddCommand(newTraceGenCmd(), newTraceRecordCmd(), newTraceImportCmd(), newTraceStatsCmd())
	return cmd
}

// defaultSeedPath turns "x.jsonl.gz" into "x.seed.jsonl".
func defaultSeedPath(out string) string {
	base := strings.TrimSuffix(strings.TrimSuffix(out, ".gz"), ".jsonl")
	return base + ".seed.jsonl"
}

func newTraceGenCmd() *cobra.Command {
	cfg := synth.Default()
	var out, seedOut string
	cmd := &cobra.Command{
		Use:   "gen -o FILE",
		Short: "Synthesize realistic coupon traffic from a seed (same seed, same bytes)",
		Long: `Gen writes a trace of realistic coupon traffic — Zipf voucher popularity,
checkout bursts on flash-sale vouchers, a daily shape, validate → redeem flows,
retries with the same idempotency key, rollbacks, bulk import/export, gift
cards spent partially until empty, vouchers that run out mid-trace — and the
seed data (vouchers and gift cards, api.Voucher JSON lines) to create before
replaying it. The same flags give the same bytes.`,
		Example: `  # the shipped fixture, byte for byte:
  go run ./cmd/cutover trace gen --seed 1 --duration 10m --rate 75 -o fixtures/traces/checkout-peak.jsonl.gz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return withCode(exitInput, errors.New("-o: an output file is required"))
			}
			if err := cfg.Validate(); err != nil {
				return withCode(exitInput, err)
			}
			if seedOut == "" {
				seedOut = defaultSeedPath(out)
			}
			meta := trace.Meta{
				Source:   "synth",
				Command:  genCommand(cmd),
				Seed:     cfg.Seed,
				Duration: cfg.Duration.Seconds(),
				SeedData: filepath.Base(seedOut),
			}
			w, err := trace.Create(out, meta)
			if err != nil {
				return withCode(exitInput, err)
			}
			vouchers, err := synth.Generate(cfg, w)
			if err != nil {
				_ = w.Close()
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
			if err := writeSeed(seedOut, vouchers); err != nil {
				return err
			}
			m := w.Meta()
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d requests over %.0f s) and %s (%d vouchers)\n",
				out, m.Requests, m.Duration, seedOut, len(vouchers))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "trace file to write (gzip when it ends in .gz)")
	f.StringVar(&seedOut, "seed-data", "", "seed data file to write (default: the trace name with .seed.jsonl)")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the trace")
	f.Float64Var(&cfg.Rate, "rate", cfg.Rate, "approximate requests per second at the daily peak, outside bursts")
	f.Float64Var(&cfg.StartHour, "start-hour", cfg.StartHour, "time of day the trace starts at (0-24)")
	f.DurationVar(&cfg.DayLength, "day-length", cfg.DayLength, "length of one simulated day (shorter compresses the daily shape)")
	f.IntVar(&cfg.Vouchers, "vouchers", cfg.Vouchers, "discount vouchers")
	f.IntVar(&cfg.GiftCards, "gift-cards", cfg.GiftCards, "gift cards")
	f.IntVar(&cfg.Customers, "customers", cfg.Customers, "customers")
	f.IntVar(&cfg.Clients, "clients", cfg.Clients, "checkout servers of the API customer (server-side clients; each end user's device is a client of its own, with its own DNS cache)")
	f.DurationVar(&cfg.BurstEvery, "burst-every", cfg.BurstEvery, "mean gap between checkout bursts")
	return cmd
}

// genCommand is the command that regenerates the trace, less its output
// flags (-o, --seed-data), which do not change the bytes as long as the
// file names stay the same: every generation flag that was set, in a fixed
// order.
func genCommand(cmd *cobra.Command) string {
	parts := []string{"go run ./cmd/cutover trace gen"}
	for _, name := range []string{"seed", "duration", "rate", "start-hour", "day-length", "vouchers",
		"gift-cards", "customers", "clients", "burst-every"} {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
			parts = append(parts, "--"+name+" "+fl.Value.String())
		}
	}
	return strings.Join(parts, " ")
}

func writeSeed(path string, vouchers []api.Voucher) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write seed data: %w", err)
	}
	bw := bufio.NewWriter(f)
	if err := synth.WriteSeed(bw, vouchers); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write seed data: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write seed data: %w", err)
	}
	return nil
}

func newTraceRecordCmd() *cobra.Command {
	var (
		listen, upstream, out string
		redact                []string
		noDefaults            bool
		duration              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "record --listen ADDR --upstream URL -o FILE",
		Short: "Record real traffic through a redacting reverse proxy",
		Long: `Record listens on ADDR, forwards every request to URL unchanged and writes
it to a trace, with credentials redacted: Authorization, X-App-Token, cookies
and API keys by default, plus every header, query parameter or JSON/form field
named with --redact. A rollback of a redemption created during the recording
is linked to its redeem, so the replay can roll back its own redemption. Stop
with Ctrl-C (or --duration); the trace and its sidecar are then complete.`,
		Example: `  cutover trace record --listen 127.0.0.1:8080 --upstream http://127.0.0.1:5000 -o staging.jsonl.gz --redact X-Partner-Key`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if listen == "" || upstream == "" || out == "" {
				return withCode(exitInput, errors.New("--listen, --upstream and -o are required"))
			}
			u, err := url.Parse(upstream)
			if err != nil {
				return withCode(exitInput, fmt.Errorf("--upstream: %w", err))
			}
			w, err := trace.Create(out, trace.Meta{Source: "record " + u.Redacted(), Start: time.Now().UTC().Format(time.RFC3339Nano)})
			if err != nil {
				return withCode(exitInput, err)
			}
			rec, err := record.New(record.Config{Upstream: u, Redact: redact, NoDefaults: noDefaults}, w)
			if err != nil {
				_ = w.Close()
				return withCode(exitInput, err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				_ = w.Close()
				return withCode(exitInfra, fmt.Errorf("--listen: %w", err))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			srv := &http.Server{Handler: rec, ReadHeaderTimeout: 10 * time.Second}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			fmt.Fprintf(cmd.ErrOrStderr(), "recording %s → %s into %s (Ctrl-C to stop)\n", ln.Addr(), u.Redacted(), out)
			var serveErr error
			select {
			case <-ctx.Done():
			case serveErr = <-served:
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdown)
			if err := errors.Join(rec.Err(), w.Close()); err != nil {
				return err
			}
			if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
				return fmt.Errorf("serve: %w", serveErr)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "recorded %d requests into %s\n", w.Meta().Requests, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "", "address to listen on, e.g. 127.0.0.1:8080")
	f.StringVar(&upstream, "upstream", "", "URL of the service to forward to")
	f.StringVarP(&out, "output", "o", "", "trace file to write (gzip when it ends in .gz)")
	f.StringArrayVar(&redact, "redact", nil, "also redact this header, query parameter or JSON field (repeatable)")
	f.BoolVar(&noDefaults, "no-default-redaction", false, "keep Authorization, X-App-Token, cookies... in the trace (only for traffic without real secrets)")
	f.DurationVar(&duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	return cmd
}

func newTraceImportCmd() *cobra.Command {
	var (
		from, out string
		opt       importer.Options
	)
	cmd := &cobra.Command{
		Use:   "import --from goreplay|har|vegeta FILE -o OUT",
		Short: "Convert a GoReplay, HAR or vegeta targets file into a trace",
		Long: `Import reads a GoReplay .gor file (requests only), a HAR 1.2 archive or a
vegeta target file (HTTP or JSON format), sorts the requests by time, starts
the offsets at zero, optionally caps long idle gaps, and writes a trace. Vegeta
targets have no timestamps: --rate spaces them. Samples: fixtures/import-samples.`,
		Example: `  cutover trace import --from goreplay --max-gap 5s fixtures/import-samples/checkout.gor -o checkout.jsonl.gz`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return withCode(exitInput, errors.New("-o: an output file is required"))
			}
			reqs, err := importer.File(from, args[0], opt)
			if err != nil {
				return withCode(exitInput, err)
			}
			w, err := trace.Create(out, trace.Meta{Source: "import " + from + " " + filepath.Base(args[0])})
			if err != nil {
				return withCode(exitInput, err)
			}
			for _, r := range reqs {
				if err := w.Write(r); err != nil {
					_ = w.Close()
					return err
				}
			}
			if err := w.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d requests over %.1f s)\n", out, len(reqs), w.Meta().Duration)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "input format: "+strings.Join(importer.Formats, ", "))
	f.StringVarP(&out, "output", "o", "", "trace file to write (gzip when it ends in .gz)")
	f.DurationVar(&opt.MaxGap, "max-gap", 0, "cap the time between two consecutive requests (0: keep)")
	f.Float64Var(&opt.Rate, "rate", 50, "requests per second for vegeta targets, which have no timestamps")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

func newTraceStatsCmd() *cobra.Command {
	var (
		top    int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "stats FILE",
		Short: "Print a trace's request count, duration, rate percentiles, op mix and top vouchers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := trace.Open(args[0])
			if err != nil {
				return withCode(exitInput, err)
			}
			defer func() { _ = r.Close() }()
			st, err := trace.Summarize(r, top)
			if err != nil {
				return withCode(exitInput, err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			if m, ok := r.Meta(); ok && m.Source != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "source    %s\n", m.Source)
			}
			return st.WriteText(cmd.OutOrStdout())
		},
	}
	cmd.Flags().IntVar(&top, "top", 10, "how many of the most requested vouchers to list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the statistics as JSON")
	return cmd
}
