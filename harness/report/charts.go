package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart sizes, in points; the page scales them to its width.
const (
	chartW      = 900
	chartH      = 330
	barH        = 250
	legendWidth = 150
)

var (
	colorText     = color.NRGBA{0x33, 0x33, 0x33, 0xff}
	colorBandA    = color.NRGBA{0xf1, 0xf3, 0xf6, 0xff}
	colorBandB    = color.NRGBA{0xff, 0xff, 0xff, 0xff}
	colorFault    = color.NRGBA{0xe0, 0x40, 0x30, 0x30}
	colorFaultTxt = color.NRGBA{0xb0, 0x20, 0x10, 0xff}
	colorRollback = color.NRGBA{0x90, 0x00, 0x00, 0xff}
	colorBudget   = color.NRGBA{0xc0, 0x10, 0x10, 0xff}
	// platformColors are Heroku's purple and AWS's orange, then neutrals.
	platformColors = []color.Color{
		color.NRGBA{0x79, 0x58, 0x9f, 0xff},
		color.NRGBA{0xe6, 0x8a, 0x00, 0xff},
		color.NRGBA{0x2b, 0x7b, 0xb9, 0xff},
		color.NRGBA{0x55, 0x55, 0x55, 0xff},
	}
	seriesColors = []color.Color{
		color.NRGBA{0xd6, 0x27, 0x28, 0xff},
		color.NRGBA{0x1f, 0x77, 0xb4, 0xff},
		color.NRGBA{0xff, 0x7f, 0x0e, 0xff},
		color.NRGBA{0x2c, 0xa0, 0x2c, 0xff},
		color.NRGBA{0x94, 0x67, 0xbd, 0xff},
		color.NRGBA{0x8c, 0x56, 0x4b, 0xff},
		color.NRGBA{0xe3, 0x77, 0xc2, 0xff},
		color.NRGBA{0x7f, 0x7f, 0x7f, 0xff},
	}
)

func lighter(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 { return uint8((v>>8)/2 + 0x80) }
	return color.NRGBA{mix(r), mix(g), mix(b), 0xff}
}

// sans is the font of every chart: the sans-serif Liberation face that
// gonum/plot ships (its default is the serif one).
func sans(size float64) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(size)}
}

// newPlot is a plot with the page's fonts.
func newPlot() *plot.Plot {
	p := plot.New()
	p.Title.TextStyle.Font = sans(13)
	p.X.Label.TextStyle.Font = sans(11)
	p.Y.Label.TextStyle.Font = sans(11)
	p.X.Tick.Label.Font = sans(10)
	p.Y.Tick.Label.Font = sans(10)
	p.Legend.TextStyle.Font = sans(10)
	return p
}

// band is a span of the time axis: a stage or a fault.
type band struct {
	From, To float64 // seconds since the start of the run
	Label    string
}

// marker is a moment on the time axis (the rollback).
type marker struct {
	At    float64
	Label string
}

// series is one line of a chart.
type series struct {
	Name   string
	Points plotter.XYs
	Color  color.Color
	Width  float64
	Dashed bool
}

// timeChart is a chart over the run's time axis, with the stages as
// alternating bands and the faults as red bands.
type timeChart struct {
	YLabel   string
	LogY     bool
	Series   []series
	Stages   []band
	Faults   []band
	Markers  []marker
	Duration float64
}

// svg draws the chart.
func (tc timeChart) svg(title string) (template.HTML, error) {
	p := newPlot()
	p.X.Label.Text = "time since the run started (s)"
	p.Y.Label.Text = tc.YLabel
	p.X.Min, p.X.Max = 0, math.Max(tc.Duration, 1)

	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range tc.Series {
		for _, pt := range s.Points {
			if tc.LogY && pt.Y <= 0 {
				continue
			}
			ymin, ymax = math.Min(ymin, pt.Y), math.Max(ymax, pt.Y)
		}
	}
	if tc.LogY {
		if math.IsInf(ymin, 1) {
			ymin, ymax = 1, 10
		}
		// Room above for the stage labels, below for the fault labels.
		ymin, ymax = ymin/2.5, ymax*4
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = latencyTicks{}
	} else {
		ymin = 0
		if math.IsInf(ymax, -1) || ymax <= 0 {
			ymax = 1
		}
		ymax *= 1.3
	}
	p.Y.Min, p.Y.Max = ymin, ymax
	// Labels sit at fixed fractions of the axis.
	at := func(frac float64) float64 {
		if tc.LogY {
			return math.Exp(math.Log(ymin) + frac*(math.Log(ymax)-math.Log(ymin)))
		}
		return ymin + frac*(ymax-ymin)
	}

	var labels plotter.XYLabels
	var styles []color.Color
	for i, st := range tc.Stages {
		c := colorBandA
		if i%2 == 1 {
			c = colorBandB
		}
		if err := addBand(p, st.From, st.To, ymin, ymax, c); err != nil {
			return "", err
		}
		labels.XYs = append(labels.XYs, plotter.XY{X: st.From, Y: at(0.93)})
		labels.Labels = append(labels.Labels, " "+st.Label)
		styles = append(styles, colorText)
	}
	for i, f := range tc.Faults {
		to := math.Max(f.To, f.From+tc.Duration/300)
		if err := addBand(p, f.From, to, ymin, ymax, colorFault); err != nil {
			return "", err
		}
		// Stacked, so that faults starting together stay readable.
		labels.XYs = append(labels.XYs, plotter.XY{X: f.From, Y: at(0.03 + 0.06*float64(i%4))})
		labels.Labels = append(labels.Labels, " fault: "+f.Label)
		styles = append(styles, colorFaultTxt)
	}
	p.Add(plotter.NewGrid())
	for _, m := range tc.Markers {
		l, err := plotter.NewLine(plotter.XYs{{X: m.At, Y: ymin}, {X: m.At, Y: ymax}})
		if err != nil {
			return "", fmt.Errorf("draw marker: %w", err)
		}
		l.Color, l.Width = colorRollback, vg.Points(2)
		p.Add(l)
		labels.XYs = append(labels.XYs, plotter.XY{X: m.At, Y: at(0.80)})
		labels.Labels = append(labels.Labels, " "+m.Label)
		styles = append(styles, colorRollback)
	}

	var legend []legendEntry
	for _, s := range tc.Series {
		if len(s.Points) == 0 {
			continue
		}
		l, err := plotter.NewLine(s.Points)
		if err != nil {
			return "", fmt.Errorf("draw %s: %w", s.Name, err)
		}
		l.Color = s.Color
		l.Width = vg.Points(s.Width)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l)
		legend = append(legend, legendEntry{s.Name, l})
	}
	if len(labels.XYs) > 0 {
		lb, err := plotter.NewLabels(labels)
		if err != nil {
			return "", fmt.Errorf("draw labels: %w", err)
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Color = styles[i]
			lb.TextStyle[i].Font = sans(9.5)
		}
		p.Add(lb)
	}
	return drawSVG(p, legend, title, chartH)
}

// addBand fills [from,to] over the whole height.
func addBand(p *plot.Plot, from, to, ymin, ymax float64, c color.Color) error {
	poly, err := plotter.NewPolygon(plotter.XYs{{X: from, Y: ymin}, {X: to, Y: ymin}, {X: to, Y: ymax}, {X: from, Y: ymax}})
	if err != nil {
		return fmt.Errorf("draw band: %w", err)
	}
	poly.Color = c
	poly.LineStyle.Width = 0
	p.Add(poly)
	return nil
}

type legendEntry struct {
	name  string
	thumb plot.Thumbnailer
}

// drawSVG draws p with its legend in a column on the right, and returns the
// SVG ready to inline in the page.
func drawSVG(p *plot.Plot, legend []legendEntry, title string, height float64) (template.HTML, error) {
	c := vgsvg.New(vg.Points(chartW), vg.Points(height))
	dc := draw.New(c)
	area := dc
	if len(legend) > 0 {
		area = draw.Crop(dc, 0, -vg.Points(legendWidth), 0, 0)
		l := plot.NewLegend()
		l.Top, l.Left = true, true
		l.TextStyle.Font = sans(10)
		l.ThumbnailWidth = vg.Points(18)
		l.Padding = vg.Points(5)
		for _, e := range legend {
			l.Add(e.name, e.thumb)
		}
		l.Draw(draw.Crop(dc, vg.Points(chartW-legendWidth+8), 0, 0, -vg.Points(10)))
	}
	p.Draw(area)
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("write chart: %w", err)
	}
	return inlineSVG(buf.String(), title), nil
}

var (
	svgProlog   = regexp.MustCompile(`(?s)^.*?<svg `)
	svgSize     = regexp.MustCompile(`width="[0-9.]+pt" height="[0-9.]+pt"`)
	libFontName = regexp.MustCompile(`font-family:Liberation (Sans|Serif|Mono)`)
)

// inlineSVG turns a standalone SVG document into an element for an HTML
// page: no XML prolog, a width set by the page, a title for screen readers,
// and fonts that fall back to what the viewer has (Liberation is metric
// compatible with Arial, Times and Courier).
func inlineSVG(doc, title string) template.HTML {
	doc = svgProlog.ReplaceAllString(doc, "<svg ")
	doc = svgSize.ReplaceAllString(doc, `class="chart" role="img" preserveAspectRatio="xMinYMin meet"`)
	doc = libFontName.ReplaceAllStringFunc(doc, func(m string) string {
		switch {
		case strings.HasSuffix(m, "Serif"):
			return "font-family:'Liberation Serif','Times New Roman',serif"
		case strings.HasSuffix(m, "Mono"):
			return "font-family:'Liberation Mono','Courier New',monospace"
		}
		return "font-family:'Liberation Sans',Arial,Helvetica,sans-serif"
	})
	i := strings.Index(doc, ">")
	doc = doc[:i+1] + "<title>" + template.HTMLEscapeString(title) + "</title>" + doc[i+1:]
	return template.HTML(doc) //nolint:gosec // generated by gonum/plot from our own data; text is escaped by vgsvg.
}

// latencyTicks marks a log axis of milliseconds at 1, 2, 5 × 10ⁿ, or only
// at powers of ten when the axis spans more than three of them.
type latencyTicks struct{}

func (latencyTicks) Ticks(min, max float64) []plot.Tick {
	steps := []float64{1, 2, 5}
	if math.Log10(max/min) > 3 {
		steps = []float64{1}
	}
	var ts []plot.Tick
	for e := math.Floor(math.Log10(min)) - 1; e <= math.Ceil(math.Log10(max)); e++ {
		for _, m := range steps {
			v := m * math.Pow(10, e)
			if v < min || v > max {
				continue
			}
			ts = append(ts, plot.Tick{Value: v, Label: tickText(v)})
		}
	}
	if len(ts) < 2 {
		return plot.LogTicks{}.Ticks(min, max)
	}
	return ts
}

// tickText is a compact duration for an axis: 500µs, 20ms, 5s.
func tickText(msv float64) string {
	switch {
	case msv >= 1000:
		return strconv.FormatFloat(msv/1000, 'g', 3, 64) + "s"
	case msv >= 1:
		return strconv.FormatFloat(msv, 'g', 3, 64) + "ms"
	}
	return strconv.FormatFloat(msv*1000, 'g', 3, 64) + "µs"
}

// barGroup is one set of bars, one per category.
type barGroup struct {
	Name   string
	Values []float64
	Color  color.Color
	// Labels, when set, are written above the bars.
	Labels []string
}

// barChart draws grouped bars per category, with optional horizontal
// budget lines.
type barChart struct {
	YLabel     string
	Categories []string
	Groups     []barGroup
	YMax       float64 // 0 means from the data
	Lines      []budgetLine
	// Clip, when above zero, caps the axis; taller bars are cut and
	// labelled with their value so the budgets stay readable.
	Clip float64
}

type budgetLine struct {
	Name  string
	Value float64
}

func (bc barChart) svg(title string) (template.HTML, error) {
	p := newPlot()
	p.Y.Label.Text = bc.YLabel
	p.NominalX(bc.Categories...)
	p.Add(plotter.NewGrid())
	n := float64(len(bc.Groups))
	w := vg.Points(math.Min(40, (chartW-legendWidth-80)/float64(max(len(bc.Categories), 1))/(n+1)))
	var legend []legendEntry
	ymax := 0.0
	for i, g := range bc.Groups {
		bars, err := plotter.NewBarChart(plotter.Values(g.Values), w)
		if err != nil {
			return "", fmt.Errorf("draw bars %s: %w", g.Name, err)
		}
		bars.Color = g.Color
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(float64(i)-(n-1)/2)
		p.Add(bars)
		legend = append(legend, legendEntry{g.Name, bars})
		var clipped plotter.XYLabels
		for j, l := range g.Labels {
			clipped.XYs = append(clipped.XYs, plotter.XY{X: float64(j), Y: g.Values[j]})
			clipped.Labels = append(clipped.Labels, l)
		}
		for j, v := range g.Values {
			if bc.Clip > 0 && v > bc.Clip {
				bars.Values[j] = bc.Clip
				clipped.XYs = append(clipped.XYs, plotter.XY{X: float64(j), Y: bc.Clip})
				clipped.Labels = append(clipped.Labels, "cut: "+tickText(v))
				v = bc.Clip
			}
			ymax = math.Max(ymax, v)
		}
		if len(clipped.XYs) > 0 {
			lb, err := plotter.NewLabels(clipped)
			if err != nil {
				return "", fmt.Errorf("draw labels: %w", err)
			}
			for k := range lb.TextStyle {
				lb.TextStyle[k].Font = sans(9.5)
				lb.TextStyle[k].XAlign = draw.XCenter
				if k >= len(g.Labels) {
					lb.TextStyle[k].Color = colorBudget
				}
			}
			lb.Offset = vg.Point{X: bars.Offset, Y: vg.Points(3)}
			p.Add(lb)
		}
	}
	for i, l := range bc.Lines {
		line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: l.Value}, {X: float64(len(bc.Categories)) - 0.5, Y: l.Value}})
		if err != nil {
			return "", fmt.Errorf("draw budget: %w", err)
		}
		line.Color = colorBudget
		line.Width = vg.Points(1.5)
		line.Dashes = []vg.Length{vg.Points(6), vg.Points(3 + 2*float64(i))}
		p.Add(line)
		legend = append(legend, legendEntry{l.Name, line})
		ymax = math.Max(ymax, l.Value)
	}
	p.Y.Min = 0
	if bc.YMax > 0 {
		p.Y.Max = bc.YMax
	} else {
		p.Y.Max = math.Max(ymax*1.15, 1e-9)
	}
	return drawSVG(p, legend, title, barH)
}
