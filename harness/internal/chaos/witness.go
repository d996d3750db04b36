package chaos

import (
	"fmt"
	"time"

	"github.com/cutover/cutover/harness/platform"
	herokuplat "github.com/cutover/cutover/harness/platform/heroku"
)

// Every fault kind says what evidence it left; the catalogue test checks
// that each kind's fault implements Witness.

// Heroku faults: the router's codes and the dyno manager's lines.

func (b *routerTimeoutBurst) Evidence(rec *Record, w Window) Effect {
	ev := rec.routerCodes(w, "H12")
	if b.app == nil {
		return effect(false, ev, "the burst never reached the router")
	}
	// What each timed-out request's dyno did afterwards, kept by the
	// router: with a response hold the dyno had answered (committed)
	// before the H12; with a database hold it was still waiting on
	// Postgres, and a write it committed later raced its client's retry.
	from, to := rec.span(w)
	var mine []herokuplat.TimedOut
	for _, t := range b.app.TimedOut() {
		if in(t.At, from, to) {
			mine = append(mine, t)
		}
	}
	c := herokuplat.CountTimeouts(mine)
	ev["held"], ev["in_flight"], ev["committed_after"], ev["replayed_after"], ev["unanswered"] =
		float64(c.Held), float64(c.InFlight), float64(c.CommittedAfter), float64(c.ReplayedAfter), float64(c.Unanswered)
	observed := c.H12 > 0 && c.Held > 0
	what := "router: H12s whose dyno had already answered"
	if b.hold == holdDatabase {
		observed = c.H12 > 0 && c.InFlight+c.Unanswered > 0
		what = fmt.Sprintf("router: %d H12s; originals committed after their H12: %d; turned into replays: %d", c.H12, c.CommittedAfter, c.ReplayedAfter)
	}
	return effect(observed, ev, what)
}

func (c *dynoCrash) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{
		"crashed":   rec.dynoLines(w, c.picked, "State changed from up to crashed"),
		"restarted": rec.dynoLines(w, c.picked, "State changed from starting to up"),
	}
	return effect(ev["crashed"] > 0, ev, "dyno "+orAny(c.picked))
}

func (c appCrash) Evidence(rec *Record, w Window) Effect {
	ev := rec.routerCodes(w, "H10")
	ev["crashed"] = rec.dynoLines(w, "", "State changed from up to crashed")
	return effect(ev["crashed"] > 0 && ev["h10"] > 0, ev, "router log and dyno states")
}

func (c *dynoCycle) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{
		"cycling": rec.dynoLines(w, c.picked, "Cycling"),
		"sigterm": rec.dynoLines(w, c.picked, "Stopping all processes with SIGTERM"),
		"r12":     rec.dynoLines(w, c.picked, "Error R12"),
	}
	return effect(ev["cycling"] > 0 && ev["sigterm"] > 0, ev, "dyno "+orAny(c.picked))
}

func (m *memoryLeak) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{
		"r14": rec.dynoLines(w, m.picked, "Error R14"),
		"r15": rec.dynoLines(w, m.picked, "Error R15"),
	}
	return effect(ev["r14"]+ev["r15"] > 0, ev, "dyno "+orAny(m.picked))
}

func (maintenance) Evidence(rec *Record, w Window) Effect {
	ev := rec.routerCodes(w, "H80")
	return effect(ev["h80"] > 0, ev, "router log in maintenance")
}

func (r *routerRestart) Evidence(rec *Record, w Window) Effect {
	ev := rec.routerCodes(w, "H13", "H18")
	ev["cut_in_flight"] = float64(r.cut)
	return effect(ev["h13"]+ev["h18"] > 0, ev, "router log after the restart")
}

func (f flakyRouter) Evidence(rec *Record, w Window) Effect {
	ev := rec.routerCodes(w, string(f.code))
	return effect(sum(ev) > 0, ev, "router log while flaky")
}

// Target faults: the platform's lifecycle log.

func (k *replicaKill) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{
		"killed":    rec.targetEvents(w, "Killing", k.picked),
		"restarted": rec.targetEvents(w, "Started", k.picked),
	}
	return effect(ev["killed"] > 0, ev, "target events of "+orAny(k.picked))
}

func (r rollingRestart) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{
		"stopped": rec.targetEvents(w, "Killing", ""),
		"started": rec.targetEvents(w, "Started", ""),
	}
	return effect(ev["stopped"] > 0 && ev["started"] > 0, ev, "target events")
}

func (s *scale) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{
		"replicas_before": float64(s.before),
		"replicas_after":  float64(s.after),
		"requested":       float64(s.replicas),
	}
	what := fmt.Sprintf("%s went from %d to %d replicas", orDefault(s.platform, platform.Target), s.before, s.after)
	return Effect{Observed: s.before != s.after, Evidence: ev, Summary: what}
}

func (n *nodeDrain) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{
		"evicted":     rec.targetEvents(w, "Evicted", ""),
		"rescheduled": rec.targetEvents(w, "Scheduled", ""),
		"cordoned":    rec.targetEvents(w, "Cordon", ""),
	}
	return effect(ev["evicted"] > 0, ev, "node "+orAny(n.drained))
}

// Network faults: what the probes measured through the links.

func (t *toxic) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{}
	var added time.Duration
	failed := 0
	for _, p := range t.probes {
		switch {
		case p.Failure == "stalled" || p.Failure == "reset" || p.Failure == "refused":
			failed++
			ev[p.Failure]++
		case p.Failure == "" && p.After-p.Before > added:
			added = p.After - p.Before
		}
	}
	ev["links"] = float64(len(t.probes))
	observed := false
	switch t.typ {
	case "latency":
		ev["added_latency_ms"] = float64(added.Milliseconds())
		want, _ := t.attrs["latency"].(int64)
		// The toxic's own latency is the floor; half of it shows the
		// toxic sits on the path (jitter and scheduling aside).
		observed = want > 0 && added >= time.Duration(want)*time.Millisecond/2
	case "timeout":
		observed = ev["stalled"]+ev["reset"]+ev["refused"] > 0
	case "reset_peer":
		observed = failed > 0
	default:
		// Bandwidth: the probes move a few bytes, so the evidence is the
		// latency of the requests on the platform behind the link.
		errs, total, _ := rec.outage(w, platformOfLink(t.glob), w.Start)
		ev["requests"], ev["errors"] = total, errs
		ev["added_latency_ms"] = float64(added.Milliseconds())
		observed = added > 0 || errs > 0
	}
	return effect(observed, ev, "probes through "+t.glob)
}

func (d *linkDown) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{"links": float64(len(d.probes))}
	down := 0
	for _, p := range d.probes {
		if p.Failure != "" {
			down++
		}
	}
	ev["refused"] = float64(down)
	errs, _, rec2 := rec.outage(w, platformOfLink(d.glob), healedOrStart(w))
	ev["client_errors"], ev["recovery_s"] = errs, round1(rec2)
	return effect(len(d.probes) > 0 && down == len(d.probes), ev, "probes through "+d.glob)
}

// Data-service faults: what the harness saw of the server directly, and
// the errors and recovery of the requests.

func (c *postgresCrash) Evidence(rec *Record, w Window) Effect {
	since := w.Start
	if !c.healedAt.IsZero() {
		since = c.healedAt
	}
	errs, _, recovery := rec.outage(w, "", since)
	ev := map[string]float64{"client_errors": errs, "recovery_s": round1(recovery)}
	if c.down {
		ev["server_down"] = 1
	}
	return effect(c.down, ev, "postgres "+c.downWhy)
}

func (r *postgresReadOnly) Evidence(rec *Record, w Window) Effect {
	errs, _, recovery := rec.outage(w, "", healedOrStart(w))
	ev := map[string]float64{"client_errors": errs, "recovery_s": round1(recovery)}
	if r.confirmed {
		ev["read_only_confirmed"] = 1
	}
	return effect(r.confirmed, ev, "postgres default_transaction_read_only")
}

func (f *redisFlush) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{"keys_before": float64(f.before), "keys_after": float64(f.after)}
	return effect(f.before > 0 && f.after < f.before, ev, "redis DBSIZE")
}

func (r *redisRestart) Evidence(rec *Record, w Window) Effect {
	ev := map[string]float64{}
	restarted := r.before != "" && r.after != "" && r.before != r.after
	if restarted {
		ev["restarted"] = 1
	}
	return effect(restarted, ev, "redis run_id before and after")
}

// platformOfLink is the platform behind a link glob ("aws->postgres" →
// aws), or "" when the glob spans platforms.
func platformOfLink(glob string) string {
	for _, p := range []string{platform.Heroku, platform.Target} {
		if len(glob) > len(p)+2 && glob[:len(p)+2] == p+"->" {
			return p
		}
	}
	return ""
}

// healedOrStart is when recovery is measured from: the heal, or the start
// of a fault that ran to the end.
func healedOrStart(w Window) time.Time {
	if !w.End.IsZero() {
		return w.End
	}
	return w.Start
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func orAny(name string) string { return orDefault(name, "any") }

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
