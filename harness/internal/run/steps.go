package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/internal/chaos"
	"github.com/cutover/cutover/harness/internal/replay"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/internal/machine"
)

// steps runs the scenario's plan in order. A broken gate rolls the weights
// back (and the rest of the plan is skipped), aborts, or is only reported,
// as gate.on_breach says.
func (r *rehearsal) steps(ctx context.Context, tr *traffic) error {
	cursor := time.Duration(0)  // trace offset replayed so far
	planned := time.Duration(0) // plan time of the holds so far
	holds := 0
	for i, st := range r.p.scn.Steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stopped before step %d: %w", i+1, err)
		}
		switch {
		case st.SetWeights != nil:
			if r.rolled || r.aborted {
				continue
			}
			r.setStep(i+1, fmt.Sprintf("set weights heroku %d / aws %d", st.SetWeights.Heroku, st.SetWeights.AWS))
			if err := r.applyWeights(ctx, *st.SetWeights, fmt.Sprintf("step %d", i+1)); err != nil {
				return err
			}
		case st.Hold != nil:
			holds++
			orig := r.p.orig.Steps[i].Hold.Duration.D()
			span := orig
			if r.p.scn.Traffic.Mode == "compress" {
				span = time.Duration(float64(orig) * r.p.scn.Traffic.Multiplier)
			}
			from := cursor
			cursor += span
			if r.rolled || r.aborted {
				r.stages = append(r.stages, report.Stage{Name: st.Hold.Name, Status: report.StageSkipped, Weights: percent(r.weights)})
				continue
			}
			r.setStep(i+1, st.Hold.Name)
			// Every process that resolves reads the stage's weights
			// afresh (the shards' models do the same).
			r.model.StageStarted()
			start := r.clock.begin(planned)
			planned += st.Hold.Duration.D()
			if err := r.hold(ctx, tr, holds, st.Hold, from, cursor, start); err != nil {
				return err
			}
		case st.Fault != nil:
			if r.rolled || r.aborted {
				continue
			}
			fl := st.Fault
			spec := chaos.Spec{Name: fl.Name, Kind: fl.Kind, Target: fl.Target, Params: fl.Params, Duration: fl.Duration.D()}
			r.nemesis.Schedule(ctx, spec, r.p.faults[i], r.nextStage(i), fl.After.D(), fl.Duration.D())
			r.event("fault %s (%s) in %s for %s", fl.Name, fl.Kind, fl.After, durOrOneShot(fl.Duration.D()))
		case st.Heal != "":
			if err := r.nemesis.Heal(ctx, st.Heal); err != nil {
				r.event("heal %s: %v", st.Heal, err)
			}
		case st.Analysis != nil:
			if r.rolled || r.aborted {
				continue
			}
			r.analysis(ctx)
		case st.Capacity != nil:
			r.setStep(i+1, "capacity")
			if err := r.capacityStep(ctx, *st.Capacity); err != nil {
				return err
			}
		}
	}
	return nil
}

func durOrOneShot(d time.Duration) string {
	if d == 0 {
		return "one shot (or until healed)"
	}
	return d.String()
}

// nextStage names the hold a fault scheduled at step i falls into.
func (r *rehearsal) nextStage(i int) string {
	for _, st := range r.p.scn.Steps[i:] {
		if st.Hold != nil {
			return st.Hold.Name
		}
	}
	return ""
}

// percent turns weights into percentages summing to 100 (Route53 weights
// are relative; all zero means equal shares).
func percent(w scenario.Weights) map[string]int {
	total := w.Heroku + w.AWS
	if total == 0 {
		return map[string]int{platform.Heroku: 50, platform.Target: 50}
	}
	h := (w.Heroku*100 + total/2) / total
	return map[string]int{platform.Heroku: h, platform.Target: 100 - h}
}

// hold replays one stage while a watcher evaluates the gate every interval.
func (r *rehearsal) hold(ctx context.Context, tr *traffic, index int, h *scenario.Hold, from, to time.Duration, start time.Time) error {
	r.gate.reset()
	st := report.Stage{Name: h.Name, Weights: percent(r.weights), Started: time.Now()}
	if r.machine != nil {
		r.machine.mark(st.Started)
	}
	results, err := r.folder.Create(report.StageResultsName(index, h.Name))
	if err != nil {
		return err
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		breaches []report.Breach
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.watch(hctx, cancel, &st, &mu, &breaches)
	}()
	// A fault that cannot start stops the stage: the rehearsal would no
	// longer be the one the scenario describes.
	var faultErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case err := <-r.nemesis.Failed():
			faultErr = err
			cancel()
		case <-hctx.Done():
		}
	}()

	mode := replay.Paced
	if r.p.scn.Traffic.Mode == "amplify" {
		mode = replay.Amplify
	}
	res, rerr := r.sender.Replay(hctx, replay.Stage{
		Name:       h.Name,
		Trace:      tr.reader,
		From:       from,
		To:         to,
		Multiplier: r.p.scn.Traffic.Multiplier,
		Mode:       mode,
		Compress:   r.p.quick,
		Results:    results,
		Start:      start,
	})
	cancel()
	wg.Wait()
	if cerr := results.Close(); cerr != nil && rerr == nil {
		rerr = cerr
	}
	st.Finished = time.Now()
	st.Breaches = breaches
	st.LostShards, st.Unsent, st.Unreported = res.LostShards, res.Unsent, res.Unreported
	if st.DurationS = st.Finished.Sub(st.Started).Seconds(); st.DurationS > 0 && res.Planned > 0 {
		st.PlannedRate = float64(res.Planned) / (float64(to-from) / r.p.scn.Traffic.Multiplier / r.p.quick / float64(time.Second))
	}
	st.Status = report.StageCompleted
	switch {
	case r.rollback != nil && r.rollback.Stage == h.Name:
		st.Status = report.StageRolledBack
	case r.aborted || (rerr != nil && ctx.Err() != nil):
		st.Status = report.StageInterrupted
	}
	// The gate over the whole stage, on a machine that was, or was not,
	// the bottleneck.
	st.Machine = r.machine.stage(st.Started, st.Finished, res)
	if why := saturated(st.Machine).Why(); why != "" {
		r.event("%s: the rehearsal machine was the bottleneck (%s): latency not judged", h.Name, why)
	}
	st.Gates = r.gate.evaluate(st.Started, st.Weights, saturated(st.Machine))
	r.metrics.SetGate(st.Name, st.Gates)
	switch fs := failed(st.Gates); {
	case len(fs) > 0 && r.rollback == nil && !r.aborted:
		r.onBreach(ctx, &st, fs, saturated(st.Machine), &breaches)
	case len(fs) > 0:
		// Already acted on during this stage or an earlier one: the
		// budgets that broke over the whole stage are still breaches.
		noteBreaches(&breaches, st.Name, fs, saturated(st.Machine), time.Now(), report.ActionNone)
	case !r.rolled:
		r.good = r.weights
	}
	st.Breaches = breaches
	r.stages = append(r.stages, st)
	r.event("%s: %d requests at %.0f/s, errors %.2f%%, p99 %s", h.Name, res.Requests, res.AchievedRate, 100*res.ErrorRate, res.Latency.P99.Round(time.Millisecond))
	if faultErr != nil {
		return &FaultError{Err: faultErr}
	}
	if rerr != nil && !errors.Is(rerr, context.Canceled) {
		return fmt.Errorf("replay %s: %w", h.Name, rerr)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped during %s: %w", h.Name, ctx.Err())
	}
	return nil
}

// watch evaluates the gate over the last window every interval until the
// hold ends, acting on the first breach.
func (r *rehearsal) watch(ctx context.Context, stopHold context.CancelFunc, st *report.Stage, mu *sync.Mutex, breaches *[]report.Breach) {
	g := r.p.scn.Gate
	t := time.NewTicker(g.Interval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			since := now.Add(-g.Window.D())
			if since.Before(st.Started) {
				since = st.Started
			}
			r.mu.Lock()
			weights := percent(r.weights)
			r.mu.Unlock()
			mj := r.machine.saturation(since, now)
			gates := r.gate.evaluate(since, weights, mj)
			r.metrics.SetGate(st.Name, gates)
			fs := failed(gates)
			if len(fs) == 0 {
				continue
			}
			mu.Lock()
			if r.rollback == nil && !r.aborted {
				r.onBreach(ctx, st, fs, mj, breaches)
			} else {
				// Acted on already: a budget that breaks later in the
				// stage is recorded, not acted on twice.
				noteBreaches(breaches, st.Name, fs, mj, now, report.ActionNone)
			}
			mu.Unlock()
			if r.aborted {
				stopHold()
				return
			}
		}
	}
}

// onBreach acts on broken budgets as gate.on_breach says; mj is the
// machine's judgement of the window they broke in (nil: not sampled).
func (r *rehearsal) onBreach(ctx context.Context, st *report.Stage, fs []report.Gate, mj *machine.Judgement, breaches *[]report.Breach) {
	now := time.Now()
	did := report.ActionNone
	switch report.Action(r.p.scn.Gate.OnBreach) {
	case report.ActionRollback:
		if !r.rolled && r.weights != r.good {
			from := r.weights
			if err := r.applyWeights(context.WithoutCancel(ctx), r.good, "rollback"); err != nil {
				r.event("rollback failed: %v", err)
				break
			}
			did = report.ActionRollback
			r.rollback = &report.Rollback{Stage: st.Name, At: now, Reason: fs[0].Describe(), From: percent(from), To: percent(r.good)}
		}
		r.rolled = true
	case report.ActionAbort:
		r.aborted = true
		did = report.ActionAbort
	}
	noteBreaches(breaches, st.Name, fs, mj, now, did)
	if mj != nil {
		r.event("gate broke in %s: %s → %s (%s)", st.Name, fs[0].Describe(), did, mj)
	} else {
		r.event("gate broke in %s: %s → %s", st.Name, fs[0].Describe(), did)
	}
}

// noteBreaches adds each broken budget to a stage's breaches the first
// time it breaks in that stage: a budget that keeps breaking window after
// window, or again over the whole stage, is one breach, seen when it first
// broke.
func noteBreaches(breaches *[]report.Breach, stage string, fs []report.Gate, mj *machine.Judgement, now time.Time, did report.Action) {
	for _, g := range fs {
		b := report.Breach{Stage: stage, Metric: g.Metric, Endpoint: g.Endpoint, Platform: g.Platform, Compare: g.Compare, Budget: g.Budget, Observed: g.Observed, At: now, Action: did, Machine: mj}
		if !slices.ContainsFunc(*breaches, b.Same) {
			*breaches = append(*breaches, b)
		}
	}
}

// analysis is a promotion decision on the last stage, as an analysis run
// of Argo Rollouts or Flagger is: every budget must have been judged and
// held. A failed gate was acted on when the stage ended; an inconclusive
// one (fewer samples than gate.min_samples) is treated as a breach here,
// since there is not enough evidence to go on.
func (r *rehearsal) analysis(ctx context.Context) {
	n := len(r.stages)
	if n == 0 {
		return
	}
	st := &r.stages[n-1]
	var inconclusive []report.Gate
	for _, g := range st.Gates {
		if g.Result == report.GateInconclusive {
			g.Result = report.GateFail
			g.Note = "inconclusive at an analysis step: too few samples to promote"
			inconclusive = append(inconclusive, g)
		}
	}
	if len(inconclusive) == 0 {
		r.event("analysis of %s: every budget judged and held", st.Name)
		return
	}
	r.event("analysis of %s: %d budgets could not be judged", st.Name, len(inconclusive))
	r.onBreach(ctx, st, inconclusive, saturated(st.Machine), &st.Breaches)
	if r.rollback != nil && r.rollback.Stage == st.Name {
		st.Status = report.StageRolledBack
	}
}
