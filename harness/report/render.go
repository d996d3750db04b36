package report

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
	"github.com/cutover/cutover/harness/stats"
)

//go:embed report.html.tmpl
var templates embed.FS

var pageTemplate = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"ms":    msText,
	"pct":   func(f float64) string { return pctPlain(f) },
	"share": func(f float64) string { return fmt.Sprintf("%.1f%%", f) },
	"rate":  func(f float64) string { return fmt.Sprintf("%.1f/s", f) },
	"num":   func(n int64) string { return groupDigits(n) },
	"join":  strings.Join,
	"dur": func(s float64) string {
		return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
	},
	"utc":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
	"lower":   strings.ToLower,
	"figure":  MetricValue,
	"metric":  MetricName,
	"since":   func(t, t0 time.Time) string { return "+" + t.Sub(t0).Round(100*time.Millisecond).String() },
	"meter":   gateMeter,
	"weights": weightsText,
	"cores":   func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"mb":      func(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) },
	"pct0":    func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
}).ParseFS(templates, "report.html.tmpl"))

// Render builds the report.html of the results folder dir from what is in
// it — summary.json (required), environment.json, the history, the router
// log and the per-stage vegeta results — and writes the folder's profile.json
// beside it. Both the engine and `cutover report DIR` call it.
func Render(dir string) error {
	f := &Folder{dir: dir}
	if _, err := ReadSummary(dir); err != nil {
		return err
	}
	// The profile first, so that the report lists it among the files. A
	// run that died before sending a request has none.
	p, err := BuildProfile(dir)
	switch {
	case err == nil:
		if err := WriteProfile(f.Path(ProfileFile), p); err != nil {
			return err
		}
	case !errors.Is(err, errNoLoad):
		return err
	}
	page, err := renderPage(dir)
	if err != nil {
		return err
	}
	return f.WriteFile(ReportFile, page)
}

// view is what the template reads.
type view struct {
	S          *Summary
	Env        *Environment
	Incomplete bool
	Why        string
	Headline   string
	Class      string
	Expected   string
	Source     string
	Target     string
	Platforms  []string

	Requests    int64
	Errors      int64
	GatesPass   int
	GatesFail   int
	GatesUnsure int
	GatesTotal  int
	InvOK       int
	Faults      []faultView
	Stages      []stageView
	CodeColumns []string

	Timeline  template.HTML
	Split     template.HTML
	ErrorsSVG template.HTML
	StageP99  template.HTML
	Machine   *machineView
	MachineSV template.HTML
	Notes     []string
	Files     []string
	Generated string
}

type stageView struct {
	Stage
	Offset    string
	P99       []float64 // per view.Platforms
	Codes     []int64   // per view.CodeColumns
	Endpoints []endpointView
	Pass      int
	Fail      int
	Unsure    int
}

type endpointView struct {
	Name string
	Figures
}

type faultView struct {
	Fault
	From, To string
	Stage    string
}

func renderPage(dir string) ([]byte, error) {
	s, err := ReadSummary(dir)
	if err != nil {
		return nil, err
	}
	v := &view{S: s, Generated: time.Now().UTC().Format(time.RFC3339)}
	if env, err := ReadEnvironment(dir); err == nil {
		v.Env = env
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	inc, why, err := Incomplete(dir)
	if err != nil {
		return nil, err
	}
	v.Incomplete, v.Why = inc || s.Incomplete, why
	if s.IncompleteReason != "" {
		v.Why = s.IncompleteReason
	}
	ops, err := readHistoryFile(dir)
	if err != nil {
		return nil, err
	}
	routerLines, err := readRouterLogFile(dir)
	if err != nil {
		return nil, err
	}
	fillHeadline(v)
	fillTables(v)
	if len(v.Faults) == 0 {
		v.Faults = faultsFromHistory(ops, s.Started)
	}

	t0 := s.Started
	if t0.IsZero() && len(ops) > 0 {
		t0 = ops[0].Time
	}
	// Requests are drawn at their intended send time, so a timeout shows
	// where its cause was, not 30 s later.
	end := s.Finished
	for _, op := range ops {
		if op.Intended.After(end) {
			end = op.Intended
		}
	}
	duration := math.Max(end.Sub(t0).Seconds(), 1)
	since := func(t time.Time) float64 { return t.Sub(t0).Seconds() }

	var stages, faults []band
	for _, st := range s.Stages {
		if st.Started.IsZero() || st.Status == StageSkipped {
			continue
		}
		to := st.Finished
		if to.IsZero() {
			to = end
		}
		stages = append(stages, band{since(st.Started), since(to), st.Name + " · " + v.Target + " " + fmt.Sprint(st.Weights[v.Target]) + "%"})
	}
	for _, f := range v.Faults {
		to := f.End
		if to.IsZero() {
			to = end
		}
		faults = append(faults, band{since(f.Start), since(to), f.Name})
	}
	var markers []marker
	if s.Rollback != nil && !s.Rollback.At.IsZero() {
		markers = append(markers, marker{since(s.Rollback.At), "rollback"})
	}

	width := math.Max(duration/80, 0.5)
	if len(ops) > 0 {
		tl := timeChart{YLabel: "latency (log scale)", LogY: true, Stages: stages, Faults: faults, Markers: markers, Duration: duration}
		tl.Series = latencySeries(ops, v.Platforms, t0, width)
		if v.Timeline, err = tl.svg("Latency percentiles over time, per platform"); err != nil {
			return nil, err
		}
		ec := timeChart{YLabel: "errors per second", Stages: stages, Faults: faults, Markers: markers, Duration: duration}
		ec.Series = errorSeries(ops, routerLines, s.SourcePlatform, t0, width, duration)
		if v.ErrorsSVG, err = ec.svg("Errors over time, by Heroku code and HTTP status"); err != nil {
			return nil, err
		}
	} else {
		v.Notes = append(v.Notes, "The folder has no history ("+HistoryFile+"), so the timelines are missing.")
	}
	if len(s.Stages) > 0 {
		if v.Split, err = splitChart(v).svg("Configured weight and observed share of requests per stage"); err != nil {
			return nil, err
		}
		if v.StageP99, err = p99Chart(v).svg("p99 latency per stage and platform"); err != nil {
			return nil, err
		}
	}
	if v.Machine = fillMachine(v); v.Machine != nil {
		if v.MachineSV, err = machineChart(v.Machine).svg("CPU per component and stage"); err != nil {
			return nil, err
		}
	}
	v.Files = listFiles(dir)

	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	return buf.Bytes(), nil
}

func fillHeadline(v *view) {
	s := v.S
	v.Source, v.Target = s.SourcePlatform, s.TargetPlatform
	if v.Source == "" {
		v.Source = "heroku"
	}
	if v.Target == "" {
		v.Target = "aws"
	}
	switch s.Verdict {
	case Pass:
		v.Class, v.Headline = "pass", "PASS — the cutover held up in rehearsal"
	case Inconclusive:
		v.Class, v.Headline = "inconclusive", "INCONCLUSIVE — the rehearsal could not decide; do not take it as a pass"
	default:
		v.Class, v.Headline = "fail", "FAIL — do not cut over as rehearsed"
	}
	if s.ExpectedVerdict == Fail {
		if s.Verdict == Fail {
			v.Class = "expected"
			v.Expected = "This scenario is expected to fail (it plants a fault or a bug that the checks must catch), and it did: the checks work."
		} else {
			v.Class = "fail"
			v.Expected = "Unexpected: this scenario plants a fault or a bug that the checks must catch, yet the run passed. The checks missed it."
		}
	}
	if v.Incomplete {
		v.Class = "incomplete"
	}
}

func fillTables(v *view) {
	s := v.S
	seen := map[string]bool{v.Source: true, v.Target: true}
	v.Platforms = []string{v.Source, v.Target}
	codes := map[string]bool{}
	for _, st := range s.Stages {
		for _, p := range sortedKeys(st.Platforms) {
			if !seen[p] {
				seen[p] = true
				v.Platforms = append(v.Platforms, p)
			}
			for c := range st.Platforms[p].ErrorCodes {
				codes[p+" "+c] = true
			}
		}
	}
	v.CodeColumns = sortedKeys(codes)
	for _, st := range s.Stages {
		sv := stageView{Stage: st, Offset: st.Started.Sub(s.Started).Round(100 * time.Millisecond).String()}
		for _, p := range v.Platforms {
			sv.P99 = append(sv.P99, st.Platforms[p].LatencyMS.P99)
		}
		for _, col := range v.CodeColumns {
			p, c, _ := strings.Cut(col, " ")
			sv.Codes = append(sv.Codes, st.Platforms[p].ErrorCodes[c])
		}
		for _, name := range sortedKeys(st.Endpoints) {
			sv.Endpoints = append(sv.Endpoints, endpointView{name, st.Endpoints[name]})
		}
		for _, g := range st.Gates {
			switch g.Result {
			case GatePass:
				sv.Pass++
			case GateFail:
				sv.Fail++
			default:
				sv.Unsure++
			}
		}
		v.GatesPass += sv.Pass
		v.GatesFail += sv.Fail
		v.GatesUnsure += sv.Unsure
		v.GatesTotal += len(st.Gates)
		v.Requests += st.Requests
		v.Errors += st.Errors
		v.Stages = append(v.Stages, sv)
		for _, f := range st.Faults {
			v.Faults = append(v.Faults, faultView{Fault: f, Stage: st.Name,
				From: "+" + f.Start.Sub(s.Started).Round(100*time.Millisecond).String(),
				To:   "+" + f.End.Sub(s.Started).Round(100*time.Millisecond).String()})
		}
	}
	sort.SliceStable(v.Faults, func(i, j int) bool { return v.Faults[i].Start.Before(v.Faults[j].Start) })
	for _, inv := range s.Invariants {
		if inv.Result == InvariantHeld {
			v.InvOK++
		}
	}
}

// latencySeries is p50 and p99 per time bucket and platform.
func latencySeries(ops []history.Op, platforms []string, t0 time.Time, width float64) []series {
	byPlatform := map[string]map[int][]time.Duration{}
	for _, op := range ops {
		if op.Type == history.Invoke || op.Process == history.Nemesis || op.Latency <= 0 {
			continue
		}
		p := op.Platform
		if p == "" {
			p = "unknown"
		}
		if byPlatform[p] == nil {
			byPlatform[p] = map[int][]time.Duration{}
		}
		b := int(op.Intended.Sub(t0).Seconds() / width)
		byPlatform[p][b] = append(byPlatform[p][b], op.Latency)
	}
	names := slices.Clone(platforms)
	for _, p := range sortedKeys(byPlatform) {
		if !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	var out []series
	for i, p := range names {
		buckets := byPlatform[p]
		if len(buckets) == 0 {
			continue
		}
		var p50, p99 plotter.XYs
		for _, b := range sortedInts(buckets) {
			ds := buckets[b]
			slices.Sort(ds)
			x := (float64(b) + 0.5) * width
			p50 = append(p50, plotter.XY{X: x, Y: ms(stats.Quantile(ds, 0.50))})
			p99 = append(p99, plotter.XY{X: x, Y: ms(stats.Quantile(ds, 0.99))})
		}
		c := platformColors[min(i, len(platformColors)-1)]
		out = append(out,
			series{Name: p + " p99", Points: p99, Color: c, Width: 2},
			series{Name: p + " p50", Points: p50, Color: lighter(c), Width: 1.2, Dashed: true})
	}
	return out
}

// errorSeries counts errors per second and code, at the requests' intended
// send times. Heroku's codes come from the router log, which sees errors the
// client cannot tell apart (every router error is a 503 to it): a router line
// is matched to its request by request id, and a router log whose lines match
// no request is drawn at its own times instead. router holds the router
// log's lines that carry a code.
func errorSeries(ops []history.Op, router []routerlog.Line, source string, t0 time.Time, width, duration float64) []series {
	counts := map[string]map[int]float64{}
	add := func(name string, at time.Time) {
		if counts[name] == nil {
			counts[name] = map[int]float64{}
		}
		counts[name][int(at.Sub(t0).Seconds()/width)]++
	}
	codes := map[string]string{}
	for _, rl := range router {
		if rl.Code != "" && rl.RequestID != "" {
			codes[rl.RequestID] = rl.Code
		}
	}
	matched := false
	for _, op := range ops {
		if op.RequestID != "" && codes[op.RequestID] != "" {
			matched = true
			break
		}
	}
	if !matched {
		for _, rl := range router {
			if rl.Code != "" {
				add(source+" "+rl.Code, rl.Time)
			}
		}
	}
	for _, op := range ops {
		if op.Type == history.Invoke || op.Process == history.Nemesis {
			continue
		}
		code, fromRouter := codes[op.RequestID], false
		if op.RequestID != "" && code != "" {
			fromRouter = true
		}
		if !fromRouter && !op.IsError() {
			continue
		}
		if !matched && len(router) > 0 && op.Platform == source && op.HerokuCode != "" {
			continue // drawn from the router log
		}
		if !fromRouter {
			code = ErrorCode(op)
		}
		p := op.Platform
		if p == "" {
			p = "unknown"
		}
		add(p+" "+code, op.Intended)
	}
	n := int(math.Ceil(duration / width))
	var out []series
	for i, name := range sortedKeys(counts) {
		pts := make(plotter.XYs, 0, n)
		for b := 0; b < n; b++ {
			pts = append(pts, plotter.XY{X: (float64(b) + 0.5) * width, Y: counts[name][b] / width})
		}
		out = append(out, series{Name: name, Points: pts, Color: seriesColors[i%len(seriesColors)], Width: 1.5})
	}
	if len(out) == 0 {
		out = append(out, series{Name: "no errors", Points: plotter.XYs{{X: 0, Y: 0}, {X: duration, Y: 0}}, Color: seriesColors[3], Width: 1.5})
	}
	return out
}

func splitChart(v *view) barChart {
	bc := barChart{YLabel: "% of requests to " + v.Target, YMax: 112}
	configured := barGroup{Name: "configured weight", Color: lighter(platformColors[1])}
	observed := barGroup{Name: "observed share", Color: platformColors[1]}
	for _, st := range v.S.Stages {
		bc.Categories = append(bc.Categories, st.Name)
		configured.Values = append(configured.Values, float64(st.Weights[v.Target]))
		configured.Labels = append(configured.Labels, fmt.Sprintf("%d%%", st.Weights[v.Target]))
		observed.Values = append(observed.Values, st.ObservedSplit[v.Target])
		if st.Status == StageSkipped {
			observed.Labels = append(observed.Labels, "not run")
		} else {
			observed.Labels = append(observed.Labels, fmt.Sprintf("%.1f%%", st.ObservedSplit[v.Target]))
		}
	}
	bc.Groups = []barGroup{configured, observed}
	return bc
}

func p99Chart(v *view) barChart {
	bc := barChart{YLabel: "p99 latency (ms)"}
	for _, st := range v.S.Stages {
		bc.Categories = append(bc.Categories, st.Name)
	}
	for i, p := range v.Platforms {
		g := barGroup{Name: p + " p99", Color: platformColors[min(i, len(platformColors)-1)]}
		any := false
		for _, st := range v.S.Stages {
			f, ok := st.Platforms[p]
			any = any || ok
			g.Values = append(g.Values, f.LatencyMS.P99)
		}
		if any {
			bc.Groups = append(bc.Groups, g)
		}
	}
	// One line per budget value, naming the platforms it applies to.
	byValue := map[float64][]string{}
	for _, st := range v.S.Stages {
		for _, g := range st.Gates {
			if g.Metric == MetricP99 && g.Endpoint == "" {
				who := g.Platform
				if who == "" {
					who = "all"
				}
				if !slices.Contains(byValue[g.Budget], who) {
					byValue[g.Budget] = append(byValue[g.Budget], who)
				}
			}
		}
	}
	var values []float64
	for b := range byValue {
		values = append(values, b)
	}
	slices.Sort(values)
	top := 0.0
	for _, b := range values {
		name := "p99 budget"
		if len(values) > 1 {
			slices.Sort(byValue[b])
			name += " (" + strings.Join(byValue[b], ", ") + ")"
		}
		bc.Lines = append(bc.Lines, budgetLine{name, b})
		top = math.Max(top, b)
	}
	for _, g := range bc.Groups {
		for _, v := range g.Values {
			if top > 0 && v > 3*top {
				// A timeout-sized bar would flatten the budgets to the floor.
				bc.Clip = 3 * top
			}
		}
	}
	return bc
}

// faultsFromHistory recovers the faults from the history's nemesis entries
// when the summary lists none (a run cut short before the engine wrote
// them): each fault name and target spans its first to its last entry.
func faultsFromHistory(ops []history.Op, t0 time.Time) []faultView {
	type key struct{ name, target string }
	var order []key
	spans := map[key]*faultView{}
	for _, op := range ops {
		if op.Process != history.Nemesis {
			continue
		}
		k := key{op.F, op.Value["target"]}
		fv := spans[k]
		if fv == nil {
			fv = &faultView{Fault: Fault{Name: op.F, Target: k.target, Start: op.Time, End: op.Time}, Stage: op.Stage}
			spans[k] = fv
			order = append(order, k)
		}
		if op.Time.After(fv.End) {
			fv.End = op.Time
		}
	}
	out := make([]faultView, 0, len(order))
	for _, k := range order {
		fv := *spans[k]
		fv.From = "+" + fv.Start.Sub(t0).Round(100*time.Millisecond).String()
		fv.To = "+" + fv.End.Sub(t0).Round(100*time.Millisecond).String()
		out = append(out, fv)
	}
	return out
}

func readHistoryFile(dir string) ([]history.Op, error) {
	f, err := os.Open(filepath.Join(dir, HistoryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	return history.Read(f, f.Name())
}

// readRouterLogFile reads the router lines that carry an H-code (the only
// ones the errors chart draws or matches to requests); other lines, and the
// lines of other processes, are skipped.
func readRouterLogFile(dir string) ([]routerlog.Line, error) {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(RouterLogFile)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read router log: %w", err)
	}
	defer f.Close()
	var out []routerlog.Line
	sc := routerlog.NewScanner(f, f.Name())
	for sc.Scan() {
		if l := sc.Line(); l.Code != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read router log: %w", err)
	}
	return out, nil
}

// listFiles lists the folder's files for the report's index.
func listFiles(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err == nil && rel != ReportFile {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedInts[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + groupDigits(-n)
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// gateMeter is the width in pixels of the bar showing observed against
// budget in the gates table: the 160px meter spans 0–150% of the budget
// (the budget mark is at two thirds), so a wild breach does not flood it.
func gateMeter(g Gate) float64 {
	ratio := 1.5
	if g.Budget > 0 {
		ratio = math.Min(g.Observed/g.Budget, 1.5)
	} else if g.Observed <= 0 {
		ratio = 0
	}
	return ratio / 1.5 * 160
}

func weightsText(w map[string]int, order []string) string {
	var parts []string
	for _, p := range order {
		if n, ok := w[p]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", p, n))
		}
	}
	for _, p := range sortedKeys(w) {
		if !slices.Contains(order, p) {
			parts = append(parts, fmt.Sprintf("%s %d", p, w[p]))
		}
	}
	return strings.Join(parts, " / ")
}
