package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle"
	"github.com/cutover/cutover/harness/internal/oracle/state"
	"github.com/cutover/cutover/harness/internal/partner"
	"github.com/cutover/cutover/harness/internal/progress"
	"github.com/cutover/cutover/harness/internal/verdict"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/report"
)

// partnerWait bounds the wait for the partner to have every redemption.
const partnerWait = 75 * time.Second

// finish reads the final state, checks the invariants and writes the
// results folder. With stopErr set (the run stopped early) it writes what
// it has and leaves the folder marked incomplete.
func (r *rehearsal) finish(ctx context.Context, stopErr error) (*Outcome, error) {
	r.setStep(len(r.p.scn.Steps), "checks")
	if err := r.sink.flush(); err != nil {
		return nil, fmt.Errorf("write history: %w", err)
	}
	var st *state.State
	var results []oracle.Result
	if stopErr == nil {
		r.event("drained; reading the final state")
		var err error
		// Probe every replica that is up, on both platforms, and each
		// platform's front door.
		probes := []string{"http://" + r.heroku.Endpoint(), "http://" + r.target.Endpoint()}
		for _, p := range []platform.Platform{r.heroku, r.target} {
			addrs, stop, err := r.replicaAddrs(ctx, p)
			defer stop()
			if err != nil {
				r.event("final state: %s's replicas cannot be probed one by one (%v): only its front door is", p.Name(), err)
			}
			for _, a := range addrs {
				probes = append(probes, "http://"+a)
			}
		}
		bound := oracle.DefaultCacheBound
		if v, ok := r.p.scn.Service.Env["VALIDATE_CACHE_TTL"]; ok {
			if d, err := time.ParseDuration(v); err == nil {
				bound = d
			}
		}
		st, err = state.Read(ctx, state.Source{
			ServiceURL:  "http://" + r.target.Endpoint(),
			ProbeURLs:   probes,
			AppID:       appID,
			AppToken:    appToken,
			MongoURL:    r.stack.Endpoints().MongoURL,
			PostgresURL: r.stack.Endpoints().PostgresURL,
			// couponapi's outbox backs off up to 30 s between deliveries
			// refused during an outage.
			EventsWait: 45 * time.Second,
			// couponapi's documented bound on validate staleness; the
			// probes wait it out (plus state.CacheFillSlack).
			CacheBound: bound,
		})
		if err != nil {
			return nil, fmt.Errorf("read final state: %w", err)
		}
		if st.Reads > 2 {
			r.event("final state: the service was still committing after the traffic ended; read again until it settled (%d voucher reads)", st.Reads)
		}
		if r.p.partner {
			ids := make([]string, 0, len(st.Redemptions))
			for _, red := range st.Redemptions {
				ids = append(ids, red.ID)
			}
			// Refused deliveries are retried by the service's outbox with
			// backoff (couponapi caps it at 30 s): wait out a few rounds.
			r.partner.WaitSynced(ctx, ids, partnerWait)
		}
	}
	// Stop the platforms now so their logs are complete.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range []platform.Platform{r.heroku, r.target} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = p.Close(cctx) }()
	}
	wg.Wait()
	if err := errors.Join(r.herokuLogs.Close(cctx), r.targetLogs.Close(cctx)); err != nil {
		return nil, fmt.Errorf("write platform logs: %w", err)
	}
	// The shard workers are done (rehearsal.run finished them).
	if r.workerLogs != nil {
		if err := r.workerLogs.Close(cctx); err != nil {
			return nil, fmt.Errorf("write shard worker logs: %w", err)
		}
	}

	ops, err := r.finalHistory()
	if err != nil {
		return nil, err
	}
	// The raw history is in history.jsonl now; the work dir goes.
	_ = os.RemoveAll(r.tmp)
	if st != nil {
		checkers := append([]oracle.Checker(nil), r.p.checkers...)
		if r.p.partner {
			checkers = append(checkers, partner.SyncChecker{Partner: r.partner})
		}
		if results, err = oracle.Check(ops, st, checkers...); err != nil {
			return nil, fmt.Errorf("check invariants: %w", err)
		}
	}
	sum := r.summary(ops, results, stopErr)
	if err := r.folder.WriteSummary(sum); err != nil {
		return nil, err
	}
	if err := r.writeMetrics(); err != nil {
		return nil, err
	}
	if stopErr != nil {
		// The folder stays marked incomplete; the report says so.
		if err := report.Render(r.folder.Dir()); err != nil {
			return nil, errors.Join(stopErr, fmt.Errorf("render report: %w", err))
		}
		return nil, stopErr
	}
	if err := r.folder.Finish(); err != nil {
		return nil, err
	}
	if err := report.Render(r.folder.Dir()); err != nil {
		_ = r.folder.MarkIncomplete("render report: " + err.Error())
		return nil, fmt.Errorf("render report: %w", err)
	}
	if r.disp != nil {
		_ = r.disp.Finish(progress.Verdict{
			Pass: sum.Verdict == report.Pass, Inconclusive: sum.Verdict == report.Inconclusive, Scenario: sum.Scenario, Duration: time.Since(r.started),
			Reason: firstReason(sum), ReportPath: r.folder.Path(report.ReportFile),
		})
	}
	return &Outcome{Dir: r.folder.Dir(), Summary: sum, Unexpected: r.unexpected(sum)}, nil
}

func firstReason(s *report.Summary) string {
	if s.Verdict == report.Pass || len(s.Reasons) == 0 {
		return ""
	}
	return s.Reasons[0]
}

// finalHistory reads the raw history, adds each request's Heroku router
// code (joined by request id from the router log), and writes it to the
// results folder.
func (r *rehearsal) finalHistory() ([]history.Op, error) {
	f, err := os.Open(r.histTmp)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	ops, err := history.Read(f, r.histTmp)
	if err != nil {
		return nil, err
	}
	codes := r.routerCodes.snapshot()
	for i := range ops {
		if c, ok := codes[ops[i].RequestID]; ok && ops[i].Type != history.Invoke {
			ops[i].HerokuCode = c
		}
	}
	af, err := r.folder.Create(report.HistoryFile)
	if err != nil {
		return nil, err
	}
	w := history.NewWriter(af)
	for _, op := range ops {
		if err := w.Write(op); err != nil {
			af.Abort()
			return nil, err
		}
	}
	if err := errors.Join(w.Flush(), af.Close()); err != nil {
		return nil, fmt.Errorf("write history: %w", err)
	}
	return ops, nil
}

// summary builds summary.json from what the run saw, and has
// verdict.Decide judge it.
func (r *rehearsal) summary(ops []history.Op, results []oracle.Result, stopErr error) *report.Summary {
	now := time.Now().UTC()
	s := &report.Summary{
		RunID: r.runID, Scenario: r.p.scn.Name, ScenarioFile: r.p.file.File, Seed: r.p.scn.Seed,
		Driver: r.p.scn.Infra, Target: r.p.scn.Target,
		SourcePlatform: platform.Heroku, TargetPlatform: platform.Target,
		Multiplier:      r.p.scn.Traffic.Multiplier,
		ExpectedVerdict: report.Verdict(r.p.scn.Expect.Verdict),
		Started:         r.started, Finished: now, DurationS: now.Sub(r.started).Seconds(),
		Rollback: r.rollback,
		Shards:   r.shardWorkers(),
		Capacity: r.capacity,
	}
	rec, err := r.record(ops)
	if err != nil {
		r.event("fault evidence: %v", err)
	}
	events := r.nemesis.Events()
	for i := range r.stages {
		st := &r.stages[i]
		if st.Status != report.StageSkipped {
			report.FillFigures(st, ops)
		}
		st.Faults = append(st.Faults, r.faultsOf(st.Name, events, rec)...)
		if st.Faults == nil {
			st.Faults = []report.Fault{}
		}
		if st.Breaches == nil {
			st.Breaches = []report.Breach{}
		}
	}
	s.Stages = r.stages
	s.Conditions = r.conditions(s.Stages)
	if s.Rollback != nil {
		s.Rollback.DurationS = r.rollbackDuration(ops)
	}
	for _, res := range results {
		inv := report.Invariant{Name: res.Name, Description: res.Description, Checked: res.Checked, Violations: res.Violations, Examples: []report.Example{}}
		switch res.Verdict {
		case oracle.Fail:
			inv.Result = report.InvariantBroken
		case oracle.Unknown:
			inv.Result, inv.Reason = report.InvariantUnknown, res.Reason
		default:
			inv.Result = report.InvariantHeld
		}
		for _, ex := range res.Examples {
			inv.Examples = append(inv.Examples, report.Example{Ops: ex.Ops, Message: ex.Message})
		}
		s.Invariants = append(s.Invariants, inv)
	}
	if s.Invariants == nil {
		s.Invariants = []report.Invariant{}
	}
	var regressions []string
	if r.opts.Baseline != "" {
		rs, err := r.baselineRegressions(s.Stages)
		if err != nil {
			regressions = append(regressions, "baseline: "+err.Error())
		}
		for _, c := range rs {
			regressions = append(regressions, fmt.Sprintf("regression against the baseline in %s %s: %s", c.Stage, c.Endpoint, strings.Join(c.Why, "; ")))
		}
	}
	if stopErr != nil {
		s.Incomplete = true
		s.IncompleteReason = stopErr.Error()
	}
	verdict.Decide(s, regressions)
	return s
}

// faultParams returns the parameters a scenario gave a fault.
func (r *rehearsal) faultParams(name string) map[string]string {
	for _, st := range r.p.scn.Steps {
		if st.Fault != nil && st.Fault.Name == name {
			return st.Fault.Params
		}
	}
	return nil
}

// rollbackDuration is how long after the rollback the target still got new
// requests (by intended send time).
func (r *rehearsal) rollbackDuration(ops []history.Op) float64 {
	at := r.rollback.At
	var last time.Time
	for _, op := range ops {
		if op.Type == history.Invoke || op.Platform != platform.Target || op.Intended.Before(at) {
			continue
		}
		if op.Intended.After(last) {
			last = op.Intended
		}
	}
	if last.IsZero() {
		return 0
	}
	return last.Sub(at).Seconds()
}

// baselineRegressions compares this run, whose stages are stages, with the
// baseline profile. The summary is not written yet: the stages say where
// the machine was the bottleneck.
func (r *rehearsal) baselineRegressions(stages []report.Stage) ([]report.Change, error) {
	base, err := report.LoadProfile(r.opts.Baseline)
	if err != nil {
		return nil, err
	}
	cur, err := report.LoadProfile(r.folder.Dir())
	if err != nil {
		return nil, err
	}
	cur.NoteMachineBound(stages)
	return report.Compare(base, cur, report.CompareOptions{MaxRegression: r.opts.MaxRegression}).Regressions(), nil
}

// unexpected lists how the outcome differs from what the scenario expects.
func (r *rehearsal) unexpected(s *report.Summary) []string {
	return verdict.Unexpected(r.p.scn.Expect, s)
}

// replicaProber is a platform whose replicas the harness host cannot reach
// at their own addresses (pods on a cluster network): it opens a local
// address to each (a port-forward) for the final-state probes.
type replicaProber interface {
	ProbeReplicas(ctx context.Context) (addrs []string, stop func(), err error)
}

// replicaAddrs are the addresses at which each replica of p that is up
// answers the harness; stop releases what was opened for them.
func (r *rehearsal) replicaAddrs(ctx context.Context, p platform.Platform) ([]string, func(), error) {
	if rp, ok := p.(replicaProber); ok {
		return rp.ProbeReplicas(ctx)
	}
	var addrs []string
	for _, rep := range p.Replicas() {
		if rep.State == platform.Up && rep.Addr != "" {
			addrs = append(addrs, rep.Addr)
		}
	}
	return addrs, func() {}, nil
}
