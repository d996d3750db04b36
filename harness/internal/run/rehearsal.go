package run

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"go.yaml.in/yaml/v3"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/chaos"
	"github.com/cutover/cutover/harness/internal/dnsmodel"
	"github.com/cutover/cutover/harness/internal/metrics"
	"github.com/cutover/cutover/harness/internal/partner"
	"github.com/cutover/cutover/harness/internal/progress"
	"github.com/cutover/cutover/harness/internal/replay"
	"github.com/cutover/cutover/harness/internal/shard"
	"github.com/cutover/cutover/harness/internal/weights"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/heroku"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/harness/stack"
)

// Credentials the service accepts during a rehearsal.
const (
	appID    = "cutover"
	appToken = "cutover-rehearsal-token"
)

// Loopback addresses of the two platforms: a DNS answer (an address) is
// enough to reach either, on the same port.
var (
	herokuAddr = netip.MustParseAddr("127.0.0.2")
	targetAddr = netip.MustParseAddr("127.0.0.3")
	// targetEgress is the target's fixed outbound address (its NAT gateway).
	targetEgress = netip.MustParseAddr("127.0.0.30")
)

// rehearsal is one run in progress: what it started, and what it saw.
type rehearsal struct {
	p       *plan
	opts    Options
	runID   string
	prefix  string
	started time.Time
	folder  *report.Folder
	tmp     string
	disp    *progress.Display
	closers []func(context.Context) error

	stack   stack.Stack
	heroku  *heroku.App
	target  platform.Platform
	partner *partner.Server
	port    int
	// The platforms' log files in the results folder.
	herokuLogs, targetLogs *logFiles

	r53     *weights.Client
	zoneID  string
	model   *dnsmodel.Model
	dnsSpec dnsmodel.Spec // how model was built, for the shards of a sharded replay
	clock   *stageClock
	replay  *replay.Replayer
	// sender sends each stage: replay, or shards when the replay is split.
	sender stageSender
	shards *shard.Coordinator
	// workerLogs are the shard workers' logs (sharded runs).
	workerLogs *logFiles
	// sizing is what each shard worker's pod asked for (job workers).
	sizing  *shard.Sizing
	nemesis *chaos.Nemesis
	chaos   *chaos.Env // what the faults act on
	gate    *gate
	machine *machineWatch // nil when the machine cannot be sampled
	sink    *sink
	metrics *metrics.Rehearsal
	histTmp string
	// routerCodes collects the H-codes of failed requests from the router log.
	routerCodes routerCodes

	// mu guards what the progress display reads: weights, step, stepIdx.
	mu       sync.Mutex
	weights  scenario.Weights // in force
	good     scenario.Weights // of the last stage whose gate held
	rolled   bool             // the weights were rolled back; later stages are skipped
	aborted  bool
	stages   []report.Stage
	rollback *report.Rollback
	capacity *report.CapacityStep // the capacity step's answer, if any
	step     string               // current step, for the progress display
	stepIdx  int
}

func newRehearsal(p *plan, opts Options) (*rehearsal, error) {
	now := time.Now().UTC()
	runID := fmt.Sprintf("%s-%s-%d", p.scn.Name, now.Format("20060102T150405Z"), os.Getpid())
	out := opts.Out
	if out == "" {
		out = defaultOut(runID)
	}
	folder, err := report.Create(out)
	if err != nil {
		return nil, &InputError{Err: fmt.Errorf("--out: %w", err)}
	}
	r := &rehearsal{
		p: p, opts: opts, runID: runID, started: now, folder: folder,
		// The identity prefix depends on the seed only, so two runs of one
		// scenario send byte-identical requests.
		prefix:  fmt.Sprintf("s%d-", p.scn.Seed),
		weights: scenario.Weights{Heroku: 100},
		good:    scenario.Weights{Heroku: 100},
		metrics: metrics.New(p.scn.Name),
	}
	if opts.Progress != nil {
		r.disp = progress.New(opts.Progress, progress.Options{})
	}
	return r, nil
}

// run is the flow of DESIGN.md, top-down.
func (r *rehearsal) run(ctx context.Context) (_ *Outcome, err error) {
	defer func() {
		if err != nil {
			reason := err.Error()
			if ctx.Err() != nil {
				reason = "interrupted: " + reason
			}
			_ = r.folder.MarkIncomplete(reason)
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		for i := len(r.closers) - 1; i >= 0; i-- {
			_ = r.closers[i](cctx)
		}
		if r.tmp != "" {
			_ = os.RemoveAll(r.tmp)
		}
	}()
	// Working files (the raw history, a synthesized trace) live in the
	// results folder, so a killed run leaves them with its incomplete
	// results rather than in /tmp.
	r.tmp = r.folder.Path(".tmp-work")
	if err := os.Mkdir(r.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("create work dir: %w", err)
	}
	if err := r.writeInputs(ctx); err != nil {
		return nil, err
	}
	r.event("run %s: scenario %s, seed %d, infra %s, target %s", r.runID, r.p.scn.Name, r.p.scn.Seed, r.p.scn.Infra, r.p.scn.Target)
	if err := r.serveMetrics(ctx); err != nil {
		return nil, &InfraError{Err: err}
	}
	r.startMachine(ctx)
	if err := r.startStack(ctx); err != nil {
		return nil, &InfraError{Err: err}
	}
	r.followStack()
	tr, err := r.openTraffic(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tr.Close() }()
	if err := r.startPlatforms(ctx); err != nil {
		return nil, &InfraError{Err: err}
	}
	if err := r.seedData(ctx, tr.seed); err != nil {
		return nil, &InfraError{Err: err}
	}
	if err := r.warmUp(ctx, r.seedCodes(tr.seed)); err != nil {
		return nil, &InfraError{Err: err}
	}
	if err := r.startDNS(ctx); err != nil {
		return nil, &InfraError{Err: err}
	}
	if err := r.startReplay(); err != nil {
		return nil, err
	}
	if err := r.startShards(ctx, tr); err != nil {
		return nil, &InfraError{Err: fmt.Errorf("shard workers: %w", err)}
	}
	if r.machine != nil {
		r.machine.counters = r.sender.Counters
	}
	stopDisplay := r.startDisplay(ctx)
	stepsErr := r.steps(ctx, tr)
	if r.shards != nil {
		// The workers stop once the traffic is over, before the final
		// reads (and before the cluster they run on is taken down).
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		r.shards.Finish(fctx)
		cancel()
	}
	stopDisplay()
	if err := r.nemesis.Stop(context.WithoutCancel(ctx)); err != nil {
		r.event("heal at the end: %v", err)
	}
	if stepsErr != nil {
		// Partial results are still written, marked incomplete.
		_, _ = r.finish(context.WithoutCancel(ctx), stepsErr)
		return nil, stepsErr
	}
	out, err := r.finish(ctx, nil)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// event reports a line on the progress display.
func (r *rehearsal) event(format string, args ...any) {
	if r.disp == nil {
		return
	}
	if r.sink != nil {
		// Stamp the line with the current time of the run.
		_ = r.disp.Update(r.status())
	}
	_ = r.disp.Event(format, args...)
}

// writeInputs records the resolved scenario and the environment.
func (r *rehearsal) writeInputs(ctx context.Context) error {
	b, err := yaml.Marshal(r.p.scn)
	if err != nil {
		return fmt.Errorf("encode resolved scenario: %w", err)
	}
	if err := r.folder.WriteFile(report.ScenarioFile, b); err != nil {
		return err
	}
	env := report.NewEnvironment(ctx)
	env.Driver, env.Target, env.Seed = r.p.scn.Infra, r.p.scn.Target, r.p.scn.Seed
	return r.folder.WriteEnvironment(env)
}

func (r *rehearsal) onClose(f func(context.Context) error) { r.closers = append(r.closers, f) }

// serveMetrics serves the live metrics at --metrics-addr until the run
// ends (and its linger has passed).
func (r *rehearsal) serveMetrics(ctx context.Context) error {
	if r.opts.MetricsAddr == "" {
		return nil
	}
	srv, err := metrics.Serve(ctx, r.opts.MetricsAddr, r.metrics, r.opts.MetricsLinger)
	if err != nil {
		return err
	}
	r.onClose(srv.Close)
	r.event("metrics at http://%s/metrics", srv.Addr())
	return nil
}

// writeMetrics writes the final scrape into the results folder, once every
// completion has reached the sink.
func (r *rehearsal) writeMetrics() error {
	f, err := r.folder.Create(metrics.File)
	if err != nil {
		return err
	}
	if err := r.metrics.WriteOpenMetrics(f); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", metrics.File, err)
	}
	return f.Close()
}

// startStack brings up the infrastructure.
func (r *rehearsal) startStack(ctx context.Context) error {
	logDir := r.folder.Path("logs/stack")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	st, err := StartStack(ctx, StackConfig{
		Driver: r.p.scn.Infra, Options: stack.Options{LogDir: logDir}, Seed: r.p.scn.Seed,
		Images: r.p.scn.Images, ImageFlags: r.opts.Images, Route53Credentials: r.p.route53,
		Logf: func(format string, args ...any) { r.event(format, args...) },
	})
	if err != nil {
		return fmt.Errorf("start %s stack: %w", r.p.scn.Infra, err)
	}
	r.stack = st
	r.onClose(st.Close)
	if err := stack.Healthy(stack.Check(ctx, st.Endpoints())); err != nil {
		return fmt.Errorf("stack unhealthy: %w", err)
	}
	r.event("stack up (%s)", r.p.scn.Infra)
	return nil
}

// startDNS creates the hosted zone and the weighted pair (heroku 100 /
// aws 0) through the Route53 API, and the client DNS model.
func (r *rehearsal) startDNS(ctx context.Context) error {
	e := r.stack.Endpoints()
	creds := r.p.route53.ForClient()
	c, err := weights.New(ctx, weights.Config{Endpoint: e.Route53URL, AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, PollInterval: 50 * time.Millisecond})
	if err != nil {
		return err
	}
	r.r53 = c
	if r.zoneID, err = c.EnsureZone(ctx, r.p.scn.DNS.Zone); err != nil {
		return fmt.Errorf("create hosted zone: %w", err)
	}
	if err := r.applyWeights(ctx, r.weights, "initial"); err != nil {
		return err
	}
	d := r.p.scn.DNS
	r.dnsSpec = dnsmodel.Spec{
		Source: d.Source, Route53URL: e.Route53URL, AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey,
		ZoneID: r.zoneID, Record: d.Record, DNSAddr: e.DNSAddr, Seed: r.p.scn.Seed,
		Config: dnsmodel.Config{
			Clients:          d.Clients,
			TTLIgnoringShare: d.TTLIgnoringShare,
			KeepAlive:        d.KeepAlive.D(),
			Targets:          map[netip.Addr]string{herokuAddr: platform.Heroku, targetAddr: platform.Target},
			Window:           r.p.scn.Gate.Interval.D(),
		},
	}
	if r.model, err = dnsmodel.Build(ctx, r.dnsSpec); err != nil {
		return err
	}
	r.clock = newStageClock(r.model)
	r.model.SetConfigured(r.clock.now(), "initial", map[string]int{platform.Heroku: r.weights.Heroku, platform.Target: r.weights.AWS})
	return nil
}

// applyWeights sets the weighted records and waits until INSYNC.
func (r *rehearsal) applyWeights(ctx context.Context, w scenario.Weights, why string) error {
	_, err := r.r53.Apply(ctx, r.p.scn.DNS.Zone, r.p.scn.DNS.Record, r.p.scn.DNS.TTL.D(), []weights.Target{
		{SetID: platform.Heroku, Addr: herokuAddr, Weight: int64(w.Heroku)},
		{SetID: platform.Target, Addr: targetAddr, Weight: int64(w.AWS)},
	})
	if err != nil {
		return fmt.Errorf("set weights heroku %d / aws %d (%s): %w", w.Heroku, w.AWS, why, err)
	}
	r.mu.Lock()
	r.weights = w
	r.mu.Unlock()
	r.metrics.SetWeights(map[string]int{platform.Heroku: w.Heroku, platform.Target: w.AWS})
	if r.model != nil {
		r.model.SetConfigured(r.clock.now(), why, map[string]int{platform.Heroku: w.Heroku, platform.Target: w.AWS})
	}
	r.event("weights heroku %d / aws %d (%s)", w.Heroku, w.AWS, why)
	return nil
}

// startReplay makes the replayer, the nemesis and the history sink.
func (r *rehearsal) startReplay() error {
	r.histTmp = filepath.Join(r.tmp, "history.raw.jsonl")
	f, err := os.Create(r.histTmp)
	if err != nil {
		return fmt.Errorf("create history: %w", err)
	}
	r.onClose(func(context.Context) error { return f.Close() })
	r.gate = newGate(r.p.scn.Gate)
	r.sink = &sink{w: history.NewWriter(f), gate: r.gate, metrics: r.metrics}
	rp, err := replay.New(replay.Config{
		RunPrefix: r.prefix,
		Resolver:  r.clock,
		Platforms: map[netip.Addr]string{herokuAddr: platform.Heroku, targetAddr: platform.Target},
		Port:      r.port,
		Host:      strings.TrimSuffix(r.p.scn.DNS.Record, "."),
		AppID:     appID,
		AppToken:  appToken,
		History:   r.sink,
		Timeout:   r.p.scn.Traffic.ClientTimeout.D(),
		Retries:   r.p.scn.Traffic.Retries,
	})
	if err != nil {
		return err
	}
	r.replay = rp
	r.onClose(func(context.Context) error { rp.Close(); return nil })
	env := &chaos.Env{
		Stack:   r.stack,
		Heroku:  r.heroku,
		Target:  r.target,
		Proxies: toxiproxy.NewClient(r.stack.Endpoints().ToxiproxyURL),
		Rand:    rand.New(rand.NewPCG(r.p.scn.Seed, 0x6e656d65736973)),
	}
	r.chaos = env
	r.nemesis = chaos.NewNemesis(env, r.sink.record)
	return nil
}

// setStep names the current step for the progress display.
func (r *rehearsal) setStep(i int, name string) {
	r.mu.Lock()
	r.stepIdx, r.step = i, name
	r.mu.Unlock()
}
