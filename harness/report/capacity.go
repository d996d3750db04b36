package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"time"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/cutover/cutover/harness/capacity"
)

// Files of a capacity results folder (cutover capacity).
const (
	CapacityFile = "capacity.json"
	CapacityPage = "capacity.html"
)

// Capacity is capacity.json: what each platform's replicas sustained, the
// scalability fits, the prices used and the plan computed from them.
type Capacity struct {
	FormatVersion int       `json:"format_version"`
	Scenario      string    `json:"scenario"`
	Seed          uint64    `json:"seed"`
	Created       time.Time `json:"created"`
	// Profiles by platform (heroku, aws).
	Profiles map[string]capacity.Profile `json:"profiles"`
	Plan     capacity.Plan               `json:"plan"`
	Prices   capacity.Prices             `json:"prices"`
	// Assumptions are stated in words, one a sentence.
	Assumptions []string `json:"assumptions"`
	// Measurement is the search itself: every probe run, by fleet.
	Measurement any `json:"measurement"`
	// PlanError says why there is no plan (no fleet of a platform
	// sustained any rate); the measurement is still written.
	PlanError string `json:"plan_error,omitempty"`
}

// WriteCapacity writes capacity.json and the capacity page into dir.
func WriteCapacity(dir string, c *Capacity) error {
	if c.FormatVersion == 0 {
		c.FormatVersion = 1
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode capacity: %w", err)
	}
	page, err := RenderCapacity(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create results folder: %w", err)
	}
	for name, data := range map[string][]byte{CapacityFile: append(b, '\n'), CapacityPage: page} {
		if err := writeAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// capacityView is what the capacity page shows.
type capacityView struct {
	*Capacity
	CostChart, FitChart template.HTML
}

// RenderCapacity renders the capacity page: the cost curves of both
// platforms against the traffic multiple (with the budget), the measured
// throughput against replicas with each fit, and the plan's table.
func RenderCapacity(c *Capacity) ([]byte, error) {
	v := capacityView{Capacity: c}
	var err error
	if v.CostChart, err = costChart(c); err != nil {
		return nil, err
	}
	if v.FitChart, err = fitChart(c); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := capacityTmpl.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render capacity page: %w", err)
	}
	return buf.Bytes(), nil
}

func costChart(c *Capacity) (template.HTML, error) {
	p := newPlot()
	p.X.Label.Text = "traffic, multiple of the recorded peak"
	p.Y.Label.Text = "monthly cost (USD)"
	var legend []legendEntry
	for i, side := range []struct {
		name string
		usd  func(capacity.Row) (float64, bool)
	}{
		{"heroku", func(r capacity.Row) (float64, bool) { return r.HerokuUSD, !r.HerokuOutOfReach }},
		{"target", func(r capacity.Row) (float64, bool) { return r.TargetUSD, !r.TargetOutOfReach }},
	} {
		var pts plotter.XYs
		for _, r := range c.Plan.Rows {
			if u, ok := side.usd(r); ok {
				pts = append(pts, plotter.XY{X: r.Multiple, Y: u})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return "", fmt.Errorf("draw cost curve: %w", err)
		}
		l.Color, s.Color = platformColors[i], platformColors[i]
		l.Width = vg.Points(2)
		p.Add(l, s)
		legend = append(legend, legendEntry{side.name, l})
	}
	if c.Plan.Budget > 0 && len(c.Plan.Rows) > 0 {
		first, last := c.Plan.Rows[0].Multiple, c.Plan.Rows[len(c.Plan.Rows)-1].Multiple
		l, err := plotter.NewLine(plotter.XYs{{X: first, Y: c.Plan.Budget}, {X: last, Y: c.Plan.Budget}})
		if err != nil {
			return "", fmt.Errorf("draw budget: %w", err)
		}
		l.Color = colorBudget
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		legend = append(legend, legendEntry{fmt.Sprintf("budget $%.0f", c.Plan.Budget), l})
	}
	p.Y.Min = 0
	return drawSVG(p, legend, "Monthly cost against traffic", chartH)
}

func fitChart(c *Capacity) (template.HTML, error) {
	p := newPlot()
	p.X.Label.Text = "replicas"
	p.Y.Label.Text = "sustained throughput (req/s)"
	var legend []legendEntry
	for i, name := range sortedKeys(c.Profiles) {
		prof := c.Profiles[name]
		// Heroku's purple and the target's orange, as in the cost curves.
		col := platformColors[min(i, len(platformColors)-1)]
		switch name {
		case "heroku":
			col = platformColors[0]
		case "aws":
			col = platformColors[1]
		}
		var meas, curve plotter.XYs
		top := 1.0
		for _, pt := range prof.Fit.Points {
			meas = append(meas, plotter.XY{X: pt.N, Y: pt.X})
			top = max(top, pt.N)
		}
		for n := 1.0; n <= top+2; n += 0.25 {
			curve = append(curve, plotter.XY{X: n, Y: prof.Fit.Throughput(n)})
		}
		l, err := plotter.NewLine(curve)
		if err != nil {
			return "", fmt.Errorf("draw fit: %w", err)
		}
		l.Color = col
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		s, err := plotter.NewScatter(meas)
		if err != nil {
			return "", fmt.Errorf("draw points: %w", err)
		}
		s.Color = col
		s.Radius = vg.Points(4)
		p.Add(l, s)
		legend = append(legend, legendEntry{name + " measured", s}, legendEntry{fmt.Sprintf("%s USL (R² %.2f)", name, prof.Fit.R2), l})
	}
	p.Y.Min = 0
	return drawSVG(p, legend, "Throughput against replicas, measured and fitted", chartH)
}

var capacityTmpl = template.Must(template.New("capacity").Funcs(template.FuncMap{
	"usd": func(v float64) string { return fmt.Sprintf("$%.0f", v) },
	"f1":  func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f2":  func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"f3":  func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"ms":  func(v float64) string { return fmt.Sprintf("%.2f", v*1000) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cutover capacity: {{.Scenario}}</title>
<style>
body{font-family:'Liberation Sans',Arial,Helvetica,sans-serif;color:#333;max-width:1000px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f1f3f6}
td.l,th.l{text-align:left}.chart{width:100%;height:auto}.note{color:#666;font-size:90%}
</style></head><body>
<h1>Capacity and cost: {{.Scenario}}</h1>
<section id="capacity">
{{if .PlanError}}<p><b>No plan:</b> {{.PlanError}}</p>{{end}}
<p>At <b>{{usd .Plan.Budget}}/month</b>: Heroku carries <b>{{f1 .Plan.HerokuAtBudget}}×</b> the recorded peak ({{f1 .Plan.PeakRate}} req/s), the target <b>{{f1 .Plan.TargetAtBudget}}×</b>.
{{with .Plan.CurrentFleet}}{{if .Dynos}}Today's fleet, {{.Dynos}} × {{.Size}} ({{usd .MonthlyUSD}}/month), carries {{f1 .Carries}}×.{{end}}{{end}}</p>
<p>What binds first — Heroku: {{.Plan.HerokuBinds}}.<br>Target: {{.Plan.TargetBinds}}.</p>
<h2>Cost curves</h2>
{{.CostChart}}
<table><tr><th>multiple</th><th>req/s</th><th>Heroku dynos</th><th class="l">size</th><th>Heroku $/month</th><th class="l">binds</th><th>pods</th><th>nodes</th><th class="l">instance</th><th>target $/month</th><th class="l">binds</th></tr>
{{range .Plan.Rows}}<tr><td>{{f1 .Multiple}}×</td><td>{{f1 .DemandRPS}}</td><td>{{.HerokuDynos}}</td><td class="l">{{.HerokuSize}}</td><td>{{if .HerokuOutOfReach}}out of reach{{else}}{{usd .HerokuUSD}}{{end}}</td><td class="l">{{.HerokuBinds}}</td><td>{{.TargetPods}}</td><td>{{.TargetNodes}}</td><td class="l">{{.TargetType}}</td><td>{{if .TargetOutOfReach}}out of reach{{else}}{{usd .TargetUSD}}{{end}}</td><td class="l">{{.TargetBinds}}</td></tr>
{{end}}</table>
{{with .Plan.BulkDeployment}}<h2>Bulk work as its own Deployment</h2>
<p>{{.Summary}}. At {{usd $.Plan.Budget}}/month the target carries {{f1 .AtBudget}}× split, {{f1 $.Plan.TargetAtBudget}}× as one Deployment.</p>
<table><tr><th>multiple</th><th>one Deployment: pods</th><th>nodes</th><th>$/month</th><th>split: web pods</th><th>bulk pods</th><th>nodes</th><th class="l">instance</th><th>$/month</th><th>saves</th></tr>
{{range $.Plan.Rows}}{{if .Split}}<tr><td>{{f1 .Multiple}}×</td><td>{{.TargetPods}}</td><td>{{.TargetNodes}}</td><td>{{if .TargetOutOfReach}}out of reach{{else}}{{usd .TargetUSD}}{{end}}</td><td>{{.Split.WebPods}}</td><td>{{.Split.BulkPods}}</td><td>{{.Split.Nodes}}</td><td class="l">{{.Split.Instance}}</td><td>{{if .Split.OutOfReach}}out of reach{{else}}{{usd .Split.USD}}{{end}}</td><td>{{if or .TargetOutOfReach .Split.OutOfReach}}–{{else}}{{usd .Split.SavesUSD}}{{end}}</td></tr>
{{end}}{{end}}</table>
{{end}}<h2>Scalability</h2>
{{.FitChart}}
<table><tr><th class="l">platform</th><th>λ (req/s)</th><th>σ</th><th>κ</th><th>R²</th><th>dof</th><th>CPU ms/request</th><th>CPU p95 (cores)</th><th>peak memory (MB)</th><th>web (MB)</th><th>bulk (MB)</th><th>bulk (cores)</th><th>Postgres CPU ms/request</th><th>Postgres p95 (cores)</th><th class="l">note</th></tr>
{{range $name, $p := .Profiles}}<tr><td class="l">{{$name}}</td><td>{{f1 $p.Fit.Lambda}}</td><td>{{f3 $p.Fit.Sigma}}</td><td>{{f3 $p.Fit.Kappa}}</td><td>{{f2 $p.Fit.R2}}</td><td>{{$p.Fit.DOF}}</td><td>{{ms $p.CPUPerRequest}}</td><td>{{f2 $p.CPUCoresP95}}</td><td>{{f1 $p.PeakMemoryMB}}</td><td>{{f1 $p.WebPeakMemoryMB}}</td><td>{{f1 $p.Bulk.PeakMemoryMB}}</td><td>{{f2 $p.Bulk.CPUCores}}</td><td>{{ms $p.DBCPUPerRequest}}</td><td>{{f2 $p.DBCoresP95}}</td><td class="l">{{$p.Fit.Note}}</td></tr>
{{end}}</table>
<h2>Assumptions</h2>
<ul>{{range .Assumptions}}<li>{{.}}</li>{{end}}</ul>
<p class="note">Prices from {{.Prices.File}}: figures copied from the pages each entry names, on the date it names — not current truth; check them before deciding.</p>
</section></body></html>
`))
