package run

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/chaos"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
	"github.com/cutover/cutover/harness/report"
)

// evidenceSlack is how long after a fault ended its effects are still
// counted: Heroku's router logs an H12 when its 30 s window closes.
const evidenceSlack = 35 * time.Second

// record gathers the run's own data the faults' evidence is measured from:
// the completed requests, and the Heroku and target logs as written in the
// results folder.
func (r *rehearsal) record(ops []history.Op) (*chaos.Record, error) {
	rec := &chaos.Record{Slack: time.Duration(float64(evidenceSlack) * r.p.scn.Heroku.RequestTimerScale), Workers: r.workerLosses()}
	for _, op := range ops {
		if op.Type == history.Invoke || op.Process == history.Nemesis {
			continue
		}
		rec.Requests = append(rec.Requests, op)
		if op.Time.After(rec.End) {
			rec.End = op.Time
		}
	}
	dir := r.folder.Dir()
	herokuFiles, _ := filepath.Glob(filepath.Join(dir, report.DynoLogsDir, "*.log"))
	herokuFiles = append(herokuFiles, filepath.Join(dir, report.RouterLogFile))
	for _, f := range herokuFiles {
		err := eachLine(f, func(line string) {
			// Successful router lines are most of the file and carry no
			// fault evidence; keep those with a code and every dyno line.
			if strings.Contains(line, "heroku[router]") && !strings.Contains(line, " code=") {
				return
			}
			if e, err := routerlog.ParseEntry(line); err == nil && e.Source == "heroku" {
				rec.Heroku = append(rec.Heroku, e)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(rec.Heroku, func(i, j int) bool { return rec.Heroku[i].Time.Before(rec.Heroku[j].Time) })
	targetFiles, _ := filepath.Glob(filepath.Join(dir, report.TargetLogsDir, "*.log"))
	for _, f := range targetFiles {
		err := eachLine(f, func(line string) {
			e, err := platform.ParseEvent(line)
			if err != nil || e.Reason == "stdout" || e.Reason == "stderr" {
				return
			}
			rec.Target = append(rec.Target, e)
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(rec.Target, func(i, j int) bool { return rec.Target[i].Time.Before(rec.Target[j].Time) })
	return rec, nil
}

// eachLine calls fn with every line of a file; a missing file has none.
func eachLine(path string, fn func(string)) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read evidence: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fn(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read evidence %s: %w", path, err)
	}
	return nil
}

// faultsOf returns the faults of stage st with the evidence each left.
func (r *rehearsal) faultsOf(stage string, events []chaos.Event, rec *chaos.Record) []report.Fault {
	var out []report.Fault
	for _, ev := range events {
		if ev.Stage != stage {
			continue
		}
		f := report.Fault{Name: ev.Name, Kind: ev.Kind, Target: ev.Target, Params: r.faultParams(ev.Name), Start: ev.Start, End: ev.End, Error: ev.Error}
		f.Effect.Required = r.faultEffect(ev.Name) != "optional"
		if ev.Error == "" && rec != nil {
			e := ev.Evidence(rec)
			f.Effect.Observed, f.Effect.Evidence, f.Effect.Summary = e.Observed, e.Evidence, e.Summary
		}
		if f.Effect.Evidence == nil {
			f.Effect.Evidence = map[string]float64{}
		}
		out = append(out, f)
	}
	return out
}

// conditions are the disturbances a scenario sets up without a fault step
// — the partner's firewall, clients that ignore the DNS TTL — with the
// evidence of each, so they are judged like faults: a condition that shows
// no effect did not rehearse anything.
func (r *rehearsal) conditions(stages []report.Stage) []report.Fault {
	out := []report.Fault{}
	if pa := r.p.scn.Partner; pa != nil && pa.AllowTargetOnly {
		var refused, sources, accepted int
		for _, st := range r.partner.Sources() {
			if st.Rejected > 0 {
				refused += st.Rejected
				sources++
			}
			accepted += st.Accepted
		}
		f := report.Fault{Name: "partner-firewall", Kind: "partner-firewall", Target: "partner", Start: r.started}
		f.Effect = report.Effect{
			Observed: refused > 0, Required: true,
			Evidence: map[string]float64{"refused": float64(refused), "refused_sources": float64(sources), "accepted": float64(accepted)},
			Summary:  fmt.Sprintf("the partner's firewall refused %d calls from %d source addresses (Heroku has no static egress address) and accepted %d", refused, sources, accepted),
		}
		out = append(out, f)
	}
	if share := r.p.scn.DNS.TTLIgnoringShare; share > 0 {
		// Clients that never re-resolve keep sending to the source after
		// the weights say 0 %.
		var stage string
		var seen float64
		for _, st := range stages {
			if st.Status == report.StageSkipped || st.Weights[platform.Heroku] != 0 {
				continue
			}
			stage, seen = st.Name, st.ObservedSplit[platform.Heroku]
		}
		f := report.Fault{Name: "ttl-ignoring-clients", Kind: "dns-ttl-ignoring", Target: "clients", Start: r.started,
			Params: map[string]string{"share": fmt.Sprint(share)}}
		f.Effect = report.Effect{
			Observed: stage != "" && seen > 0, Required: true,
			Evidence: map[string]float64{"heroku_share_at_weight_0": seen},
			Summary:  fmt.Sprintf("at heroku weight 0 (%s) Heroku still served %.1f%% of the requests", orNone(stage), seen),
		}
		out = append(out, f)
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "no such stage ran"
	}
	return s
}

// faultEffect is the scenario's effect setting for the named fault.
func (r *rehearsal) faultEffect(name string) string {
	for _, st := range r.p.scn.Steps {
		if st.Fault != nil && st.Fault.Name == name {
			return st.Fault.Effect
		}
	}
	return ""
}
