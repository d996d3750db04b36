// Package measure finds, for each platform of a scenario and each number
// of replicas, the highest traffic multiple one fleet sustains within the
// scenario's budgets, and what a replica used meanwhile: CPU-seconds per
// request, its CPU in cores (p95 over samples) and its peak memory. Each
// measurement is an ordinary run of the engine (run.Run) on a scenario
// derived from the user's: all traffic to one platform, one short hold at
// one multiplier, the same seed, budgets and service. A ramp doubles the
// multiplier until a budget breaks (×1.5 from where the smaller fleet
// ended), then a bisection narrows the bracket.
package measure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/couponapi/config"
	"github.com/cutover/cutover/harness/capacity"
	"github.com/cutover/cutover/harness/internal/run"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stats"
	"github.com/cutover/cutover/harness/traffic/trace"
	"github.com/cutover/cutover/internal/machine"
)

// Options configure a measurement.
type Options struct {
	// Run are the engine's options (infra, target, seed, service binary);
	// Run.Out is the folder the probes' results go under.
	Run run.Options
	// Platforms to measure (default heroku and aws) and Replicas to
	// measure each at (default 1, 2, 3).
	Platforms []string
	Replicas  []int
	// Hold is each probe's replay time (default 5 s).
	Hold time.Duration
	// Start is the first multiplier tried (default 1); Max the highest
	// (default: what the trace is long enough for).
	Start, Max float64
	// Bisections narrow the bracket after the ramp (default 2).
	Bisections int
	// Log receives a line per probe (nil: none).
	Log io.Writer
}

// Probe is one measuring run and what it showed.
type Probe struct {
	Platform   string  `json:"platform"`
	Replicas   int     `json:"replicas"`
	Multiplier float64 `json:"multiplier"`
	// Sustained is whether every budget held on the platform (and the
	// replayer kept up); Reason says what broke.
	Sustained bool   `json:"sustained"`
	Reason    string `json:"reason,omitempty"`
	// MachineBound says the probe failed because the rehearsal machine
	// could not send the planned rate: it measured the machine, not the
	// platform.
	MachineBound bool `json:"machine_bound,omitempty"`
	// PlannedRPS is the rate asked for; ServedRPS what the platform
	// answered (requests / hold).
	PlannedRPS float64 `json:"planned_rps"`
	ServedRPS  float64 `json:"served_rps"`
	Requests   int64   `json:"requests"`
	ErrorRate  float64 `json:"error_rate"`
	P95MS      float64 `json:"p95_ms"`
	// CPUSeconds is the CPU the platform's replicas used during the hold;
	// CPUPerRequest that over Requests; CPUCoresP95 the 95th percentile of
	// one replica's CPU (cores) over the samples; PeakMemoryMB the most
	// memory one replica held.
	CPUSeconds    float64 `json:"cpu_s"`
	CPUPerRequest float64 `json:"cpu_s_per_request"`
	CPUCoresP95   float64 `json:"cpu_cores_p95"`
	PeakMemoryMB  float64 `json:"peak_memory_mb"`
	// SetupPeakMemoryMB is the most memory one replica of the platform
	// held before the hold: deployment, the warm-up and the bulk import
	// of the seed data (which goes through the target's endpoint).
	SetupPeakMemoryMB float64 `json:"setup_peak_memory_mb"`
	// WebPeakMemoryMB is the most memory one replica held in the hold
	// while no bulk request (import, export) was in flight on the
	// platform; BulkPeakMemoryMB the most while one was, and
	// BulkCPUCores the most CPU one replica used while one was or while it
	// was set up. BulkRequests counts the bulk requests in the hold and
	// BulkLatencyS is their mean time.
	WebPeakMemoryMB  float64 `json:"web_peak_memory_mb"`
	BulkPeakMemoryMB float64 `json:"bulk_peak_memory_mb"`
	BulkCPUCores     float64 `json:"bulk_cpu_cores"`
	BulkRequests     int     `json:"bulk_requests"`
	BulkLatencyS     float64 `json:"bulk_latency_s"`
	// DBCPUSeconds is the CPU Postgres (its whole process tree, or its
	// container) used during the hold, DBCPUPerRequest that over the
	// stage's requests, and DBCoresP95 the 95th percentile of its CPU in
	// cores over the samples. DBConnections are the connections the
	// replicas of both platforms held open (each opens its pool in full).
	DBCPUSeconds    float64 `json:"db_cpu_s"`
	DBCPUPerRequest float64 `json:"db_cpu_s_per_request"`
	DBCoresP95      float64 `json:"db_cores_p95"`
	DBConnections   int     `json:"db_connections"`
	Dir             string  `json:"dir"`
	DurationS       float64 `json:"duration_s"`
}

// Fleet is one platform at one number of replicas: its probes and the
// best one it sustained.
type Fleet struct {
	Platform string  `json:"platform"`
	Replicas int     `json:"replicas"`
	Best     *Probe  `json:"best"`
	Probes   []Probe `json:"probes"`
	// AtCap is true when the best is the highest multiplier tried (the
	// trace or Max bounded the search, not a budget).
	AtCap bool `json:"at_cap"`
}

// Result is the whole measurement.
type Result struct {
	Scenario string  `json:"scenario"`
	Seed     uint64  `json:"seed"`
	HoldS    float64 `json:"hold_s"`
	// PeakRate is the trace's rate at 1×, requests per second; BulkRate
	// its rate of bulk requests (import, export) at 1× (0 for a trace
	// synthesized at run time: not known before).
	PeakRate float64 `json:"peak_rate_rps"`
	BulkRate float64 `json:"bulk_rate_rps"`
	// HerokuDynos and HerokuSize are the scenario's Heroku fleet.
	HerokuDynos int    `json:"heroku_dynos"`
	HerokuSize  string `json:"heroku_size"`
	// DBPoolPerReplica is the Postgres pool each replica opens (the
	// service's DB_POOL_MAX; 0 when the service is not the reference one
	// and the scenario does not set it), DBMaxConnections the stack's
	// max_connections, and MachineCores the cores of the rehearsal
	// machine, which Postgres shared with everything else.
	DBPoolPerReplica int     `json:"db_pool_per_replica"`
	DBMaxConnections int     `json:"db_max_connections"`
	MachineCores     int     `json:"machine_cores"`
	Fleets           []Fleet `json:"fleets"`
	DurationS        float64 `json:"duration_s"`
}

// Measure runs the search for every platform and replica count.
func Measure(ctx context.Context, path string, o Options) (*Result, error) {
	start := time.Now()
	f, err := scenario.Load(path)
	if err != nil {
		return nil, &run.InputError{Err: err}
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &run.InputError{Err: err}
	}
	o = o.withDefaults()
	span, rate, bulkRate, err := traceRate(f)
	if err != nil {
		return nil, &run.InputError{Err: err}
	}
	if o.Max <= 0 {
		if f.Traffic.Mode == "amplify" {
			o.Max = 100
		} else if span > 0 {
			// compress mode replays hold × multiplier of the trace
			o.Max = math.Floor(span/o.Hold.Seconds()*10) / 10
		} else {
			return nil, &run.InputError{Err: errors.New("the trace's duration is unknown: give the highest multiplier to try")}
		}
	}
	dir := o.Run.Out
	if dir == "" {
		dir = filepath.Join("results", "capacity-"+time.Now().UTC().Format("20060102-150405"))
	}
	probeDir := filepath.Join(dir, "probes")
	if err := os.MkdirAll(probeDir, 0o755); err != nil {
		return nil, fmt.Errorf("create results folder: %w", err)
	}
	res := &Result{Scenario: f.Name, Seed: f.Seed, HoldS: o.Hold.Seconds(), PeakRate: rate, BulkRate: bulkRate, HerokuDynos: f.Heroku.Dynos, HerokuSize: f.Heroku.DynoSize}
	if o.Run.Seed != 0 {
		res.Seed = o.Run.Seed
	}
	res.DBPoolPerReplica, res.DBMaxConnections, res.MachineCores = poolPerReplica(f), stackMaxConnections, runtime.NumCPU()
	m := &measurer{f: f, src: src, o: o, dir: probeDir, res: res}
	for _, pl := range o.Platforms {
		from := o.Start
		for _, n := range o.Replicas {
			fl, err := m.search(ctx, pl, n, from)
			if err != nil {
				return nil, err
			}
			res.Fleets = append(res.Fleets, fl)
			// More replicas sustain at least about what fewer did: start
			// the next search there.
			if fl.Best != nil {
				from = max(o.Start, fl.Best.Multiplier)
			}
		}
	}
	res.DurationS = time.Since(start).Seconds()
	return res, nil
}

func (o Options) withDefaults() Options {
	if len(o.Platforms) == 0 {
		o.Platforms = []string{platform.Heroku, platform.Target}
	}
	if len(o.Replicas) == 0 {
		o.Replicas = []int{1, 2, 3}
	}
	if o.Hold <= 0 {
		o.Hold = 5 * time.Second
	}
	if o.Start <= 0 {
		o.Start = 1
	}
	if o.Bisections <= 0 {
		o.Bisections = 2
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// traceRate is the trace's span (seconds), its mean rate at 1× (requests
// per second: the recorded peak the multiples are of) and its mean rate of
// bulk requests (import, export). Zero when the trace does not say (the
// first probe's planned rate is used).
func traceRate(f *scenario.File) (span, rate, bulk float64, err error) {
	if f.Traffic.Synth != nil {
		return f.Traffic.Synth.Duration.D().Seconds(), f.Traffic.Synth.Rate, 0, nil
	}
	path := f.Resolve(f.Traffic.Trace)
	meta, _, err := trace.ReadMeta(path)
	if err != nil {
		return 0, 0, 0, err
	}
	if meta.Duration > 0 && meta.Requests > 0 {
		rate = float64(meta.Requests) / meta.Duration
	}
	r, err := trace.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = r.Close() }()
	st, err := trace.Summarize(r, 0)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("count the trace's bulk requests: %w", err)
	}
	if st.Duration > 0 {
		for _, c := range st.Ops {
			if isBulk(c.Name) {
				bulk += float64(c.Count) / st.Duration
			}
		}
	}
	return meta.Duration, rate, bulk, nil
}

type measurer struct {
	f   *scenario.File
	src []byte
	o   Options
	dir string
	res *Result
}

// search ramps the multiplier up from `from` (×2 a step) until a budget
// breaks, then bisects between the last sustained and the first broken.
func (m *measurer) search(ctx context.Context, pl string, n int, from float64) (Fleet, error) {
	fl := Fleet{Platform: pl, Replicas: n}
	try := func(mult float64) (bool, error) {
		p, err := m.probe(ctx, probeSpec{platform: pl, replicas: n, multiplier: mult, hold: m.o.Hold})
		if err != nil {
			return false, err
		}
		fl.Probes = append(fl.Probes, p)
		if p.Sustained && (fl.Best == nil || p.Multiplier > fl.Best.Multiplier) {
			best := p
			fl.Best = &best
		}
		return p.Sustained, nil
	}
	var err error
	// From a smaller fleet's best, the next fleet's limit is near: a
	// finer ramp leaves the bisection a narrower bracket.
	factor := 2.0
	if from > m.o.Start {
		factor = 1.5
	}
	_, fl.AtCap, err = searchMultiplier(from, m.o.Max, factor, m.o.Bisections, try)
	return fl, err
}

// searchMultiplier finds the highest multiplier try sustains: from
// `from`, multiplying by factor up to maxM until one breaks (halving down when the
// first breaks), then bisecting the bracket `bisections` times. Every
// multiplier tried is rounded to 0.01. atCap is true when maxM itself was
// sustained; best is 0 when nothing down to 0.05 was.
func searchMultiplier(from, maxM, factor float64, bisections int, try func(float64) (bool, error)) (best float64, atCap bool, err error) {
	good, bad := 0.0, 0.0
	for mult := round2(min(from, maxM)); ; mult = round2(min(mult*factor, maxM)) {
		ok, err := try(mult)
		if err != nil {
			return good, false, err
		}
		if !ok {
			bad = mult
			break
		}
		good = mult
		if mult >= maxM {
			return good, true, nil
		}
	}
	if good == 0 {
		for mult := round2(bad / 2); mult >= 0.05; mult = round2(mult / 2) {
			ok, err := try(mult)
			if err != nil {
				return 0, false, err
			}
			if ok {
				good = mult
				break
			}
			bad = mult
		}
		if good == 0 {
			return 0, false, nil
		}
	}
	for range bisections {
		mid := round2((good + bad) / 2)
		if mid <= good || mid >= bad {
			break
		}
		ok, err := try(mid)
		if err != nil {
			return good, false, err
		}
		if ok {
			good = mid
		} else {
			bad = mid
		}
	}
	return good, false, nil
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// probe runs one derived scenario with a machine sampler following the
// replicas, and reads what the platform did from its summary and samples.
func (m *measurer) probe(ctx context.Context, spec probeSpec) (Probe, error) {
	p := Probe{Platform: spec.platform, Replicas: spec.replicas, Multiplier: spec.multiplier}
	path, err := derive(m.f, m.src, spec, m.dir)
	if err != nil {
		return p, err
	}
	sampler, err := machine.Start(ctx, machine.Options{Interval: 500 * time.Millisecond})
	if err != nil {
		return p, err
	}
	defer sampler.Stop()
	opts := m.o.Run
	opts.Out = filepath.Join(m.dir, spec.name())
	opts.Quick = false
	opts.Progress = nil
	opts.Baseline = ""
	opts.Machine = sampler
	started := time.Now()
	out, err := run.Run(ctx, path, opts)
	sampler.Stop()
	if err != nil {
		return p, fmt.Errorf("probe %s: %w", spec.name(), err)
	}
	p.DurationS = time.Since(started).Seconds()
	p.Dir = out.Dir
	if m.res.PeakRate == 0 {
		if st := stage(out.Summary); st != nil && spec.multiplier > 0 {
			m.res.PeakRate = st.PlannedRate / spec.multiplier
		}
	}
	judge(&p, out.Summary)
	bulk, err := readBulk(filepath.Join(out.Dir, report.HistoryFile), p.Platform)
	if err != nil {
		return p, fmt.Errorf("probe %s: %w", spec.name(), err)
	}
	account(&p, sampler.Samples(), out.Summary, bulk)
	accountDatabase(&p, sampler.Samples(), out.Summary)
	dynos, replicas := spec.fleets()
	p.DBConnections = m.res.DBPoolPerReplica * (dynos + replicas)
	fmt.Fprintf(m.o.Log, "%-6s %d replica(s) at %5.2fx: %-9s %6.0f req/s served, p95 %4.0f ms, %.2f ms CPU/request, CPU p95 %.2f cores, peak %3.0f MB  (%.0fs)%s\n",
		p.Platform, p.Replicas, p.Multiplier, sustainedWord(p.Sustained), p.ServedRPS, p.P95MS, p.CPUPerRequest*1000, p.CPUCoresP95, p.PeakMemoryMB, p.DurationS, reasonText(p.Reason))
	return p, nil
}

func sustainedWord(ok bool) string {
	if ok {
		return "sustained"
	}
	return "broke"
}

func reasonText(r string) string {
	if r == "" {
		return ""
	}
	return "\n         " + r
}

func stage(s *report.Summary) *report.Stage {
	for i := range s.Stages {
		if s.Stages[i].Name == "capacity" {
			return &s.Stages[i]
		}
	}
	if len(s.Stages) > 0 {
		return &s.Stages[len(s.Stages)-1]
	}
	return nil
}

// judge decides whether the probe's platform sustained the rate: every
// budget that judged it held, and the replayer sent at least 90 % of the
// planned rate (if the rehearsal machine could not even send it, the
// platform was not shown to sustain it).
func judge(p *Probe, s *report.Summary) {
	st := stage(s)
	if st == nil {
		p.Reason = "the run has no stage"
		return
	}
	fig := st.Platforms[p.Platform]
	p.PlannedRPS = st.PlannedRate
	p.Requests = fig.Requests
	p.ErrorRate = fig.ErrorRate
	p.P95MS = fig.LatencyMS.P95
	if st.DurationS > 0 {
		p.ServedRPS = float64(fig.Requests) / st.DurationS
	}
	for _, g := range st.Gates {
		if g.Result == report.GateFail && (g.Platform == "" || g.Platform == p.Platform) {
			p.Reason = g.Describe()
			return
		}
	}
	if st.PlannedRate > 0 && st.AchievedRate < 0.9*st.PlannedRate {
		p.Reason = fmt.Sprintf("the replayer sent %.0f req/s of the %.0f planned: the rehearsal machine, not the platform, was the limit", st.AchievedRate, st.PlannedRate)
		p.MachineBound = true
		return
	}
	if fig.Requests == 0 {
		p.Reason = "the platform served no requests"
		return
	}
	p.Sustained = true
}

// account reads the replicas' CPU and memory during the hold from the
// sampler's samples (components "<platform>/<replica>"), apart while bulk
// work was in flight on the platform and while it was not, and the
// most before the hold (deployment, the seed data's bulk import, the
// warm-up).
func account(p *Probe, samples []machine.Sample, s *report.Summary, bulk bulkWork) {
	st := stage(s)
	if st == nil {
		return
	}
	prefix := p.Platform + "/"
	var cores []float64
	var memMax, setupMax, webMax, bulkMax int64
	for _, smp := range samples {
		if smp.Span <= 0 {
			continue
		}
		from := smp.Time.Add(-smp.Span)
		mid := smp.Time.Add(-smp.Span / 2)
		setup := mid.Before(st.Started)
		if !setup && !mid.Before(st.Finished) {
			continue
		}
		inBulk := !setup && bulk.during(from, smp.Time)
		for name, u := range smp.Components {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			cpu := u.User + u.System
			c := cpu / smp.Span.Seconds()
			switch {
			case setup:
				setupMax = max(setupMax, u.Memory)
				p.BulkCPUCores = max(p.BulkCPUCores, c)
				continue
			case inBulk:
				bulkMax = max(bulkMax, u.Memory)
				p.BulkCPUCores = max(p.BulkCPUCores, c)
			default:
				webMax = max(webMax, u.Memory)
			}
			p.CPUSeconds += cpu
			cores = append(cores, c)
			memMax = max(memMax, u.Memory)
		}
	}
	if p.Requests > 0 {
		p.CPUPerRequest = p.CPUSeconds / float64(p.Requests)
	}
	if len(cores) > 0 {
		sort.Float64s(cores)
		p.CPUCoresP95 = stats.Quantile(cores, 0.95)
	}
	p.PeakMemoryMB = mb(memMax)
	p.SetupPeakMemoryMB = mb(setupMax)
	p.WebPeakMemoryMB = mb(webMax)
	p.BulkPeakMemoryMB = mb(bulkMax)
	p.BulkRequests = len(bulk.spans)
	if len(bulk.spans) > 0 {
		p.BulkLatencyS = bulk.total.Seconds() / float64(len(bulk.spans))
	}
}

func mb(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// postgresComponent is the machine sampler's name for the stack's
// Postgres (run follows the stack's servers as "stack/<name>").
const postgresComponent = "stack/" + stack.Postgres

// stackMaxConnections is the max_connections both stack drivers start
// Postgres with (harness/stack/embedded/postgres.go, docker/services.go).
const stackMaxConnections = 400

// accountDatabase reads Postgres's CPU during the hold from the samples:
// its CPU-seconds, per request of the stage (all of it went to one
// platform), and the p95 of its cores.
func accountDatabase(p *Probe, samples []machine.Sample, s *report.Summary) {
	st := stage(s)
	if st == nil {
		return
	}
	var cores []float64
	for _, smp := range samples {
		mid := smp.Time.Add(-smp.Span / 2)
		if smp.Span <= 0 || mid.Before(st.Started) || !mid.Before(st.Finished) {
			continue
		}
		u, ok := smp.Components[postgresComponent]
		if !ok {
			continue
		}
		p.DBCPUSeconds += u.User + u.System
		cores = append(cores, (u.User+u.System)/smp.Span.Seconds())
	}
	if st.Requests > 0 {
		p.DBCPUPerRequest = p.DBCPUSeconds / float64(st.Requests)
	}
	if len(cores) > 0 {
		sort.Float64s(cores)
		p.DBCoresP95 = stats.Quantile(cores, 0.95)
	}
}

// poolPerReplica is the Postgres pool each replica of the scenario's
// service opens: DB_POOL_MAX from the scenario, or the reference
// service's default; 0 (unknown) for a service of the user's own that
// does not say.
func poolPerReplica(f *scenario.File) int {
	v, ok := f.Service.Env["DB_POOL_MAX"]
	if !ok {
		if len(f.Service.Command) > 0 {
			return 0
		}
		for _, cv := range config.Vars {
			if cv.Name == "DB_POOL_MAX" {
				v = cv.Default
			}
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Profile builds the capacity profile of one platform from the fleets
// measured: the USL fit of the best sustained rate against replicas, and
// the CPU and latency of the one-replica best (the smallest fleet's
// replica was the busiest). Its peak memory is the most any of its
// replicas held during a hold, or during the bulk import of the seed data
// on either platform if that was more: the same service runs on both, and
// the bulk endpoints set its memory floor. Its web peak memory leaves out
// the samples taken while bulk work was in flight; its bulk figures are
// the most any replica of either platform used on bulk work or while set
// up.
func (r *Result) Profile(pl string) (capacity.Profile, error) {
	var pts []capacity.Point
	var prof capacity.Profile
	var one *Probe
	var capped []string
	var bulkTime float64
	for _, fl := range r.Fleets {
		for _, p := range fl.Probes {
			prof.PeakMemoryMB = max(prof.PeakMemoryMB, p.SetupPeakMemoryMB)
			prof.Bulk.PeakMemoryMB = max(prof.Bulk.PeakMemoryMB, p.SetupPeakMemoryMB, p.BulkPeakMemoryMB)
			prof.Bulk.CPUCores = max(prof.Bulk.CPUCores, p.BulkCPUCores)
			prof.Bulk.Requests += p.BulkRequests
			bulkTime += p.BulkLatencyS * float64(p.BulkRequests)
		}
		if fl.Platform != pl {
			continue
		}
		if fl.AtCap {
			capped = append(capped, strconv.Itoa(fl.Replicas))
		}
		for _, p := range fl.Probes {
			prof.PeakMemoryMB = max(prof.PeakMemoryMB, p.PeakMemoryMB)
			prof.WebPeakMemoryMB = max(prof.WebPeakMemoryMB, p.WebPeakMemoryMB)
		}
		if fl.Best == nil {
			continue
		}
		pts = append(pts, capacity.Point{N: float64(fl.Replicas), X: fl.Best.ServedRPS})
		if one == nil || fl.Replicas < one.Replicas {
			one = fl.Best
		}
	}
	if prof.Bulk.Requests > 0 {
		prof.Bulk.LatencyS = bulkTime / float64(prof.Bulk.Requests)
	}
	if one == nil {
		return prof, fmt.Errorf("%s: no fleet sustained any multiplier within the budgets", pl)
	}
	fit, err := capacity.FitUSL(pts)
	if err != nil {
		return prof, fmt.Errorf("%s: %w", pl, err)
	}
	if len(capped) > 0 {
		if fit.Note != "" {
			fit.Note += "; "
		}
		fit.Note += "the fleet of " + strings.Join(capped, ", ") + " replica(s) sustained the highest multiplier tried: its throughput is a lower bound"
	}
	prof.Fit = fit
	prof.CPUPerRequest = one.CPUPerRequest
	prof.CPUCoresP95 = one.CPUCoresP95
	prof.LatencyP95S = one.P95MS / 1000
	prof.DBCPUPerRequest = one.DBCPUPerRequest
	prof.DBCoresP95 = one.DBCoresP95
	return prof, nil
}
