// Package reporttest writes synthetic but realistic results folders — a
// staged cutover with a history, per-stage vegeta results, a Heroku router
// log, dyno and target logs and a summary — for tests of the report, of
// compare and of the CLI, before (and besides) the engine that writes real
// ones. Every random choice comes from the seeds in Options.
package reporttest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle"
	"github.com/cutover/cutover/harness/internal/verdict"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/internal/machine"
)

// Options shape a synthetic run.
type Options struct {
	RunID string
	// Seed fixes what the scenario decides: which requests, when, and which
	// platform each client resolves to. Two runs with one Seed send the same
	// requests.
	Seed uint64
	// Noise fixes what the machine decides: the latencies. Runs with one
	// Seed and different Noise differ the way two real runs do.
	Noise uint64
	// Rate is requests per second per stage (default 40); StageDuration the
	// simulated length of each stage (default 15s).
	Rate          float64
	StageDuration time.Duration
	// Weights of the target per stage (default 10, 25, 50, 100).
	Weights []int

	// TargetLatency adds latency to the target's requests during the middle
	// of a stage (a toxiproxy latency toxic on aws->postgres, say).
	TargetLatency *LatencyFault
	// RouterTimeouts makes a share of Heroku's requests end in H12 during
	// the middle of the second stage.
	RouterTimeouts bool
	// RollbackOnBreach rolls the weights back when a gate fails, and skips
	// the later stages.
	RollbackOnBreach bool
	// PlantedBug makes the double-redemption invariant find violations.
	PlantedBug bool
	// Interrupt stops the run in the middle of this stage (1-based) and
	// leaves the folder incomplete.
	Interrupt int
	// Unchecked leaves the audit-log invariant undecided (Mongo could not
	// be read): the verdict is inconclusive.
	Unchecked bool
	// FaultFailed adds a fault in the first stage that could not start.
	FaultFailed bool
	// Saturated makes the machine the bottleneck of this stage (1-based):
	// its latency gates are not judged. Every stage that ran has machine
	// figures either way.
	Saturated int
	// Behind makes the replayer fall behind its own schedule in this
	// stage (1-based), the cores under their threshold: its absolute
	// latency limits are not judged, its comparisons are.
	Behind int
}

// LatencyFault is extra latency on the target during one stage.
type LatencyFault struct {
	Stage int // 1-based
	Extra time.Duration
}

// Start is the simulated start of every synthetic run.
var Start = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

const (
	source = "heroku"
	target = "aws"
	host   = "http://coupons.cutover.test"
)

type endpointSpec struct {
	name   string
	method string
	share  float64
	factor float64 // latency relative to validate
}

var endpoints = []endpointSpec{
	{history.Validate, http.MethodPost, 0.40, 1.0},
	{history.Redeem, http.MethodPost, 0.30, 1.7},
	{history.Get, http.MethodGet, 0.15, 0.6},
	{history.List, http.MethodGet, 0.08, 1.3},
	{history.Rollback, http.MethodPost, 0.05, 1.5},
	{history.Create, http.MethodPost, 0.02, 1.2},
}

type request struct {
	id       string
	stage    int
	ep       endpointSpec
	voucher  string
	intended time.Time
	platform string
	dyno     string

	latency    time.Duration
	status     int
	herokuCode string
	errorKey   string
}

// Write writes a synthetic run into the new results folder dir, renders its
// report, and returns its summary.
func Write(dir string, o Options) (*report.Summary, error) {
	if o.Rate == 0 {
		o.Rate = 40
	}
	if o.StageDuration == 0 {
		o.StageDuration = 15 * time.Second
	}
	if len(o.Weights) == 0 {
		o.Weights = []int{10, 25, 50, 100}
	}
	if o.RunID == "" {
		o.RunID = fmt.Sprintf("synthetic-%d-%d", o.Seed, o.Noise)
	}
	plan := rand.New(rand.NewPCG(o.Seed, 0x5ce4a210))
	noise := rand.New(rand.NewPCG(o.Noise, 0x401e))

	f, err := report.Create(dir)
	if err != nil {
		return nil, err
	}
	s := &report.Summary{
		FormatVersion: report.FormatVersion, RunID: o.RunID, Scenario: "staged-cutover",
		ScenarioFile: "scenarios/staged-cutover.yaml", Seed: o.Seed, Driver: "embedded", Target: "local",
		SourcePlatform: source, TargetPlatform: target, Multiplier: 6, ExpectedVerdict: report.Pass,
		Started: Start, Invariants: []report.Invariant{},
	}
	if o.PlantedBug {
		s.ExpectedVerdict = report.Fail
	}

	var reqs []request
	var stages []report.Stage
	t := Start
	prev := 0
	rolledBack := false
	for i, w := range o.Weights {
		st := report.Stage{
			Name: fmt.Sprintf("%s-%d", stageWord(w), w), Weights: map[string]int{source: 100 - w, target: w},
			Started: t, Status: report.StageCompleted, PlannedRate: o.Rate, Gates: []report.Gate{}, Breaches: []report.Breach{}, Faults: []report.Fault{},
		}
		if rolledBack {
			st.Status = report.StageSkipped
			st.Finished = t
			stages = append(stages, st)
			continue
		}
		end := t.Add(o.StageDuration)
		interrupted := o.Interrupt == i+1
		if interrupted {
			end = t.Add(o.StageDuration / 2)
			st.Status = report.StageInterrupted
		}
		faultFrom, faultTo := t.Add(o.StageDuration*3/10), t.Add(o.StageDuration*8/10)
		latencyFault := o.TargetLatency != nil && o.TargetLatency.Stage == i+1
		timeouts := o.RouterTimeouts && i == 1
		if latencyFault {
			st.Faults = append(st.Faults, report.Fault{Name: "slow-db", Kind: "latency", Target: "aws->postgres",
				Params: map[string]string{"latency": o.TargetLatency.Extra.String(), "jitter": "10ms"}, Start: faultFrom, End: faultTo,
				Effect: report.Effect{Observed: true, Required: true, Evidence: map[string]float64{"added_latency_ms": float64(o.TargetLatency.Extra.Milliseconds())},
					Summary: fmt.Sprintf("probes through aws->postgres: %d added latency ms", o.TargetLatency.Extra.Milliseconds())}})
		}
		if o.FaultFailed && i == 0 {
			st.Faults = append(st.Faults, report.Fault{Name: "drain", Kind: "node-drain", Target: "worker", Start: faultFrom,
				Error:  "target platform local has no nodes to drain (use target kind or kubeconfig)",
				Effect: report.Effect{Required: true, Evidence: map[string]float64{}}})
		}
		if timeouts {
			st.Faults = append(st.Faults, report.Fault{Name: "router-timeout", Kind: "router-timeout-burst", Target: "web.2",
				Params: map[string]string{"share": "0.08"}, Start: faultFrom, End: faultTo,
				Effect: report.Effect{Required: true, Evidence: map[string]float64{"h12": 0}}})
		}
		// Resolvers cache the old answer for the record's TTL: the first
		// tenth of a stage still follows the previous weights.
		ttl := o.StageDuration / 10
		for at := t; at.Before(end); at = at.Add(time.Duration(plan.ExpFloat64() / o.Rate * float64(time.Second))) {
			r := request{id: fmt.Sprintf("op-%06d", len(reqs)+1), stage: i, intended: at, ep: pickEndpoint(plan),
				voucher: fmt.Sprintf("SUMMER-%04d", plan.IntN(500))}
			weight := w
			if at.Sub(t) < ttl {
				weight = prev
			}
			r.platform = source
			if plan.IntN(100) < weight {
				r.platform = target
			}
			r.dyno = fmt.Sprintf("web.%d", 1+plan.IntN(3))
			if r.platform == target {
				r.dyno = fmt.Sprintf("coupons-%d", 1+plan.IntN(4))
			}
			inFault := !at.Before(faultFrom) && at.Before(faultTo)
			r.latency = latency(noise, r, w)
			r.status = 200
			if r.ep.name == history.Create {
				r.status = 201
			}
			if r.ep.name == history.Redeem && plan.IntN(100) < 4 {
				r.status, r.errorKey = 400, "quantity_exceeded"
			}
			if latencyFault && inFault && r.platform == target {
				r.latency += o.TargetLatency.Extra + time.Duration(noise.IntN(10))*time.Millisecond
			}
			if timeouts && inFault && r.platform == source && r.dyno == "web.2" && plan.IntN(100) < 25 {
				r.latency, r.status, r.herokuCode, r.errorKey = 30*time.Second+time.Duration(noise.IntN(5))*time.Millisecond, 503, "H12", ""
			}
			if r.platform == target && noise.IntN(2000) == 0 {
				r.status, r.errorKey = 502, "bad_gateway"
			}
			reqs = append(reqs, r)
		}
		st.Finished = end
		prev = w
		t = end
		stages = append(stages, st)
		if interrupted {
			s.Incomplete = true
			s.IncompleteReason = fmt.Sprintf("interrupted (SIGINT) during stage %s", st.Name)
			break
		}
		if o.RollbackOnBreach && (latencyFault || timeouts) {
			rolledBack = true
		}
	}

	// The router-timeout fault's evidence: the H12s it caused.
	for i := range stages {
		for j := range stages[i].Faults {
			ft := &stages[i].Faults[j]
			if ft.Kind != "router-timeout-burst" {
				continue
			}
			for _, q := range reqs {
				if q.herokuCode == "H12" && !q.intended.Before(ft.Start) && q.intended.Before(ft.End) {
					ft.Effect.Evidence["h12"]++
				}
			}
			ft.Effect.Observed = ft.Effect.Evidence["h12"] > 0
			ft.Effect.Summary = fmt.Sprintf("router log during the burst: %d h12", int(ft.Effect.Evidence["h12"]))
		}
	}
	ops := historyOf(reqs, stages, o)
	if err := writeHistory(f, ops); err != nil {
		return nil, err
	}
	if err := writeStageResults(f, reqs, stages); err != nil {
		return nil, err
	}
	if err := writeLogs(f, reqs); err != nil {
		return nil, err
	}

	var samples []verdict.Sample
	for _, op := range ops {
		if op.Type != history.Invoke && op.Process != history.Nemesis {
			samples = append(samples, verdict.Sample{At: op.Time, Platform: op.Platform, Endpoint: op.F, Latency: op.Latency, Err: op.IsError()})
		}
	}
	for i := range stages {
		st := &stages[i]
		if st.Status == report.StageSkipped {
			st.Figures = report.Figures{ErrorCodes: map[string]int64{}}
			st.ObservedSplit = map[string]float64{source: 0, target: 0}
			st.Platforms, st.Endpoints = map[string]report.Figures{}, map[string]report.Figures{}
			continue
		}
		report.FillFigures(st, ops)
		win := verdict.Groups{}
		for _, sm := range samples {
			if !sm.At.Before(st.Started) && sm.At.Before(st.Finished) {
				win.Add(sm)
			}
		}
		st.Machine = stageMachine(st, i+1 == o.Saturated, i+1 == o.Behind, int64(st.Requests))
		st.Gates = verdict.Judge(Budgets(), verdict.Window{Groups: win, Weights: st.Weights, MinSamples: 50,
			Saturated: st.Machine.Saturation.Why(), Comparable: st.Machine.Saturation.Comparable})
		for _, g := range st.Gates {
			if g.Result == report.GateFail {
				action := report.ActionNone
				if o.RollbackOnBreach {
					action = report.ActionRollback
				}
				st.Breaches = append(st.Breaches, report.Breach{Stage: st.Name, Metric: g.Metric, Endpoint: g.Endpoint, Platform: g.Platform, Compare: g.Compare,
					Budget: g.Budget, Observed: g.Observed, At: st.Finished.Add(-o.StageDuration / 5), Action: action, Machine: &st.Machine.Saturation})
			}
		}
		if o.RollbackOnBreach && len(st.Breaches) > 0 && s.Rollback == nil {
			st.Status = report.StageRolledBack
			b := st.Breaches[0]
			s.Rollback = &report.Rollback{Stage: st.Name, At: b.At,
				Reason: report.Gate{Metric: b.Metric, Endpoint: b.Endpoint, Platform: b.Platform, Budget: b.Budget, Observed: b.Observed, Result: report.GateFail}.Describe(),
				From:   st.Weights, To: map[string]int{source: 100, target: 0}, DurationS: 1.5}
		}
	}
	s.Stages = stages
	s.Conditions = []report.Fault{}
	if o.RouterTimeouts {
		// Heroku's dynos call the partner from changing addresses; its
		// firewall, opened for the target's NAT address only, refuses them.
		s.Conditions = append(s.Conditions, report.Fault{Name: "partner-firewall", Kind: "partner-firewall", Target: "partner", Start: Start,
			Params: map[string]string{"allow": "the target's egress address"},
			Effect: report.Effect{Observed: true, Required: true, Evidence: map[string]float64{"refused": 12, "refused_sources": 3, "accepted": 40},
				Summary: "the partner's firewall refused 12 calls from 3 source addresses (Heroku has no static egress address) and accepted 40"}})
	}
	s.Invariants = invariants(ops, o.PlantedBug, o.Unchecked)
	s.Finished = t
	s.DurationS = t.Sub(Start).Seconds()
	verdict.Decide(s, nil)
	if err := f.WriteSummary(s); err != nil {
		return nil, err
	}
	env := report.NewEnvironment(context.Background())
	env.Driver, env.Target, env.Seed = s.Driver, s.Target, s.Seed
	env.Postgres = "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
	if err := f.WriteEnvironment(env); err != nil {
		return nil, err
	}
	if err := f.WriteFile(report.ScenarioFile, []byte(scenarioYAML(o))); err != nil {
		return nil, err
	}
	if s.Incomplete {
		if err := f.MarkIncomplete(s.IncompleteReason); err != nil {
			return nil, err
		}
	} else if err := f.Finish(); err != nil {
		return nil, err
	}
	if err := report.Render(dir); err != nil {
		return nil, err
	}
	return s, nil
}

func stageWord(w int) string {
	switch {
	case w >= 100:
		return "full"
	case w <= 10:
		return "canary"
	}
	return "ramp"
}

func pickEndpoint(r *rand.Rand) endpointSpec {
	x := r.Float64()
	for _, e := range endpoints {
		if x < e.share {
			return e
		}
		x -= e.share
	}
	return endpoints[0]
}

// latency draws a log-normal latency: Heroku pays for its router hop, the
// target slows a little as its share of the traffic grows.
func latency(r *rand.Rand, q request, weight int) time.Duration {
	median := 34.0
	if q.platform == target {
		median = 21 * (1 + float64(weight)/400)
	}
	median *= q.ep.factor
	ms := median * math.Exp(0.35*r.NormFloat64())
	if r.IntN(100) == 0 {
		ms *= 3 + 2*r.Float64()
	}
	return time.Duration(ms * float64(time.Millisecond))
}

func (q request) path() string {
	switch q.ep.name {
	case history.Validate:
		return "/v1/vouchers/" + q.voucher + "/validate"
	case history.Redeem:
		return "/v1/vouchers/" + q.voucher + "/redemption"
	case history.Get:
		return "/v1/vouchers/" + q.voucher
	case history.List:
		return "/v1/redemptions?voucher=" + q.voucher + "&limit=50"
	case history.Rollback:
		return "/v1/redemptions/r_" + strings.ToLower(q.voucher) + "/rollback"
	}
	return "/v1/vouchers"
}

func historyOf(reqs []request, stages []report.Stage, o Options) []history.Op {
	var ops []history.Op
	for _, q := range reqs {
		inv := history.Op{ID: q.id, Type: history.Invoke, Process: fmt.Sprintf("client-%d", len(q.id)%16), F: q.ep.name,
			Voucher: q.voucher, Intended: q.intended, Time: q.intended, Stage: stages[q.stage].Name}
		done := inv
		done.Time = q.intended.Add(q.latency)
		done.Latency = q.latency
		done.Platform, done.Status, done.HerokuCode, done.ErrorKey = q.platform, q.status, q.herokuCode, q.errorKey
		done.RequestID = "req-" + q.id
		switch {
		case q.status < 300:
			done.Type = history.OK
			if q.ep.name == history.Redeem {
				done.RedemptionID = "r_" + q.id
			}
		case q.status < 500:
			done.Type = history.Fail
		default:
			done.Type = history.Info
			done.Error = http.StatusText(q.status)
		}
		ops = append(ops, inv, done)
	}
	for _, st := range stages {
		for _, ft := range st.Faults {
			ops = append(ops,
				history.Op{ID: "nemesis-" + ft.Name + "-start", Type: history.Info, Process: history.Nemesis, F: ft.Name, Time: ft.Start, Intended: ft.Start, Stage: st.Name, Value: map[string]string{"target": ft.Target, "phase": "start"}},
				history.Op{ID: "nemesis-" + ft.Name + "-stop", Type: history.Info, Process: history.Nemesis, F: ft.Name, Time: ft.End, Intended: ft.End, Stage: st.Name, Value: map[string]string{"target": ft.Target, "phase": "stop"}})
		}
	}
	slices.SortStableFunc(ops, func(a, b history.Op) int { return a.Time.Compare(b.Time) })
	return ops
}

func writeHistory(f *report.Folder, ops []history.Op) error {
	af, err := f.Create(report.HistoryFile)
	if err != nil {
		return err
	}
	w := history.NewWriter(af)
	for _, op := range ops {
		if err := w.Write(op); err != nil {
			af.Abort()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		af.Abort()
		return fmt.Errorf("write history: %w", err)
	}
	return af.Close()
}

func writeStageResults(f *report.Folder, reqs []request, stages []report.Stage) error {
	for i, st := range stages {
		if st.Status == report.StageSkipped {
			continue
		}
		af, err := f.Create(report.StageResultsName(i+1, st.Name))
		if err != nil {
			return err
		}
		enc := vegeta.NewEncoder(af)
		var seq uint64
		for _, q := range reqs {
			if q.stage != i {
				continue
			}
			r := vegeta.Result{Attack: st.Name, Seq: seq, Code: uint16(q.status), Timestamp: q.intended, Latency: q.latency,
				BytesOut: 96, BytesIn: 310, Method: q.ep.method, URL: host + q.path()}
			if q.status >= 400 {
				r.Error = fmt.Sprintf("%d %s", q.status, http.StatusText(q.status))
			}
			seq++
			if err := enc.Encode(&r); err != nil {
				af.Abort()
				return fmt.Errorf("write stage results: %w", err)
			}
		}
		if err := af.Close(); err != nil {
			return err
		}
	}
	return nil
}

func writeLogs(f *report.Folder, reqs []request) error {
	var router bytes.Buffer
	dynos := map[string]*bytes.Buffer{}
	for _, q := range reqs {
		log := dynos[q.dyno]
		if log == nil {
			log = &bytes.Buffer{}
			dynos[q.dyno] = log
		}
		method, path := q.ep.method, q.path()
		if q.platform == target {
			fmt.Fprintf(log, "%s level=info msg=request method=%s path=%q status=%d duration_ms=%d request_id=req-%s\n",
				q.intended.Format(time.RFC3339Nano), method, path, q.status, q.latency.Milliseconds(), q.id)
			continue
		}
		stamp := q.intended.Add(q.latency).Format("2006-01-02T15:04:05.000000-07:00")
		if q.herokuCode != "" {
			fmt.Fprintf(&router, "%s heroku[router]: at=error code=%s desc=\"Request timeout\" method=%s path=%q host=coupons.herokuapp.com request_id=req-%s fwd=\"127.0.0.1\" dyno=%s connect=0ms service=30000ms status=503 bytes=0 protocol=http1.1 tls=false\n",
				stamp, q.herokuCode, method, path, q.id, q.dyno)
			continue
		}
		fmt.Fprintf(&router, "%s heroku[router]: at=info method=%s path=%q host=coupons.herokuapp.com request_id=req-%s fwd=\"127.0.0.1\" dyno=%s connect=0ms service=%dms status=%d bytes=310 protocol=http1.1 tls=false\n",
			stamp, method, path, q.id, q.dyno, q.latency.Milliseconds(), q.status)
		fmt.Fprintf(log, "%s app[%s]: method=%s path=%q status=%d\n", stamp, q.dyno, method, path, q.status)
	}
	if err := f.WriteFile(report.RouterLogFile, router.Bytes()); err != nil {
		return err
	}
	for name, log := range dynos {
		dir := report.TargetLogsDir
		if strings.HasPrefix(name, "web.") {
			dir = report.DynoLogsDir
		}
		if err := f.WriteFile(dir+"/"+name+".log", log.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// Budgets are the gate of the synthetic scenario: p99 250 ms and 1 %
// errors on each platform, redeem p99 300 ms, and the target's p95 at most
// 1.5x Heroku's in the same window.
func Budgets() []scenario.Budget {
	errRate := 0.01
	ms := func(v int) scenario.Limit {
		return scenario.Limit{Abs: scenario.Duration(time.Duration(v) * time.Millisecond)}
	}
	return []scenario.Budget{
		{P99: ms(250), ErrorRate: &errRate},
		{Endpoint: history.Redeem, P99: ms(300)},
		{Compare: source, P95: scenario.Limit{Ratio: 1.5}, MinDelta: scenario.Duration(20 * time.Millisecond)},
	}
}

func invariants(ops []history.Op, bug, unchecked bool) []report.Invariant {
	var redeems, rollbacks, acked []string
	for _, op := range ops {
		switch {
		case op.Type == history.OK && op.F == history.Redeem:
			redeems = append(redeems, op.ID)
			acked = append(acked, op.ID)
		case op.Type != history.Invoke && op.F == history.Rollback:
			rollbacks = append(rollbacks, op.ID)
		}
	}
	invs := []report.Invariant{
		{Name: oracle.NoOverRedemption{}.Name(), Description: "no voucher is redeemed more times than its quantity allows", Checked: int64(len(redeems))},
		{Name: oracle.Idempotency{}.Name(), Description: "one idempotency key never yields two redemptions", Checked: int64(len(redeems))},
		{Name: oracle.NoLostAck{}.Name(), Description: "every acknowledged redemption is in the database after the run", Checked: int64(len(acked))},
		{Name: oracle.GiftCardConservation{}.Name(), Description: "each gift card's balance equals its amount minus its redemptions plus rollbacks", Checked: int64(len(rollbacks))},
		{Name: oracle.AuditParity{}.Name(), Description: "every redemption and rollback has exactly one audit event in Mongo", Checked: int64(len(redeems) + len(rollbacks))},
	}
	for i := range invs {
		invs[i].Examples = []report.Example{}
		invs[i].Result = report.InvariantHeld
	}
	if unchecked {
		invs[4].Result, invs[4].Reason = report.InvariantUnknown, "the audit log in Mongo could not be read: server selection timeout"
	}
	if bug && len(redeems) >= 6 {
		invs[1].Result = report.InvariantBroken
		invs[1].Violations = 3
		for i := 0; i < 3; i++ {
			a, b := redeems[2*i], redeems[2*i+1]
			invs[1].Examples = append(invs[1].Examples, report.Example{Ops: []string{a, b},
				Message: fmt.Sprintf("idempotency key k-%s produced two redemptions (%s on heroku, %s on aws)", a, a, b)})
		}
	}
	return invs
}

func scenarioYAML(o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# resolved scenario (synthetic)\nname: staged-cutover\nseed: %d\nmultiplier: 6\nstages:\n", o.Seed)
	for _, w := range o.Weights {
		fmt.Fprintf(&b, "  - name: %s-%d\n    weights: {heroku: %d, aws: %d}\n    duration: %s\n", stageWord(w), w, 100-w, w, o.StageDuration)
	}
	return b.String()
}

// stageMachine is what a 2-core machine did during st: a lightly loaded
// machine, or a saturated one (every core busy, tasks queued and the load
// generator late), or one whose load generator fell behind its own
// schedule, judged by machine.Judge as a real run's stage is.
func stageMachine(st *report.Stage, saturated, behind bool, requests int64) *report.StageMachine {
	w := machine.Window{From: st.Started, To: st.Finished, Samples: int(st.Finished.Sub(st.Started) / time.Second), Cores: 2,
		CPUBusy: 0.42, CPUBusyMax: 0.55, CPUUser: 0.31, CPUSystem: 0.11, RunQueue: 1.1, RunQueueMax: 4, Load1Max: 1.3, MemAvailableMin: 20 << 30,
		Components: []machine.ComponentUsage{
			{Name: machine.Harness, UserCores: 0.18, SystemCores: 0.05, MemoryMax: 220 << 20, MemoryMean: 200 << 20},
			{Name: "stack/postgres", UserCores: 0.08, SystemCores: 0.03, MemoryMax: 80 << 20, MemoryMean: 70 << 20},
			{Name: "heroku/web.1", UserCores: 0.03, SystemCores: 0.01, MemoryMax: 30 << 20, MemoryMean: 28 << 20},
			{Name: "aws/coupons-1", UserCores: 0.02, SystemCores: 0.01, MemoryMax: 30 << 20, MemoryMean: 28 << 20},
		}}
	load := machine.Load{Requests: requests}
	if saturated {
		w.CPUBusy, w.CPUBusyMax, w.CPUUser, w.CPUSystem, w.RunQueue, w.RunQueueMax, w.Load1Max = 0.98, 1, 0.7, 0.28, 7.5, 14, 9.8
		load.Late = requests / 5
	}
	if behind {
		load.Late, load.Behind = requests/10, requests/10
	}
	j := machine.Judge(w, load, machine.DefaultThresholds)
	j.CPUWait = map[string]float64{source: 0.12, target: 0.15}
	if saturated {
		j.CPUWait = map[string]float64{source: 1.9, target: 2.4}
	}
	return &report.StageMachine{Window: w, Saturation: j}
}
