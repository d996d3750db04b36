package report_test

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/reporttest"
	"github.com/cutover/cutover/internal/machine"
)

func TestReportRendersInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	bin := reporttest.FindChromium(t)
	dir := filepath.Join(t.TempDir(), "rollback-run")
	s, err := reporttest.Write(dir, reporttest.Options{RunID: "rollback-run", Seed: 11, Noise: 3,
		RouterTimeouts: true, RollbackOnBreach: true, TargetLatency: &reporttest.LatencyFault{Stage: 2, Extra: 120 * time.Millisecond}})
	require.NoError(t, err)
	require.Equal(t, report.Fail, s.Verdict)
	page := filepath.Join(dir, report.ReportFile)

	html, err := os.ReadFile(page)
	require.NoError(t, err)
	for _, ref := range []string{`src="http`, `href="http`, `url(http`, `<script src`, `<link `} {
		require.NotContains(t, string(html), ref, "the report needs no network")
	}

	// The DOM after Chromium parsed and laid it out: the charts are there
	// as inline SVG with real drawing in them.
	dom := string(reporttest.Chromium(t, bin, page, "--dump-dom"))
	charts, paths := reporttest.Charts(dom)
	require.Len(t, charts, 5, "timeline, split, errors, p99 per stage, CPU per component")
	for i, c := range charts {
		require.Greater(t, paths[i], 20, "chart %d has drawing in it", i)
		require.Contains(t, c, "<text", "chart %d has labels", i)
	}
	require.Contains(t, charts[0], "heroku p99")
	require.Contains(t, charts[0], "rollback")
	require.Contains(t, charts[0], "fault: router-timeout")
	require.Contains(t, dom, "FAIL — do not cut over as rehearsed")
	require.Contains(t, dom, "rolled back")
	require.Regexp(t, `breach.*→ rollback <span class="muted">\(machine not saturated \(cpu \d+%, run queue [0-9.]+ per core`, dom,
		"a breach shows the machine's figures of the window it broke in")

	// The screenshot: the page is drawn, and the platform colours of the
	// chart lines are on it.
	shot := filepath.Join(t.TempDir(), "report.png")
	if d := os.Getenv("CUTOVER_SCREENSHOT_DIR"); d != "" {
		shot = filepath.Join(d, "report.png")
	}
	reporttest.Chromium(t, bin, page, "--screenshot="+shot, "--window-size=1280,4000")
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, image.Pt(1280, 4000), img.Bounds().Size())
	herokuPurple := color.NRGBA{0x79, 0x58, 0x9f, 0xff}
	awsOrange := color.NRGBA{0xe6, 0x8a, 0x00, 0xff}
	require.Greater(t, countNear(img, herokuPurple), 300, "heroku's lines and bars are drawn")
	require.Greater(t, countNear(img, awsOrange), 300, "aws's lines and bars are drawn")
}

// countNear counts pixels within a small distance of c.
func countNear(img image.Image, c color.NRGBA) int {
	near := func(r, g, b int) bool {
		return abs(r-int(c.R))+abs(g-int(c.G))+abs(b-int(c.B)) < 24
	}
	n := 0
	if p, ok := img.(*image.RGBA); ok { // what Chromium's opaque PNGs decode to
		for i := 0; i+3 < len(p.Pix); i += 4 {
			if near(int(p.Pix[i]), int(p.Pix[i+1]), int(p.Pix[i+2])) {
				n++
			}
		}
		return n
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(int(r>>8), int(g>>8), int(bl>>8)) {
				n++
			}
		}
	}
	return n
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestReportOfAnInterruptedRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cut-short")
	s, err := reporttest.Write(dir, reporttest.Options{RunID: "cut-short", Seed: 3, Noise: 3, Interrupt: 2})
	require.NoError(t, err)
	require.True(t, s.Incomplete)
	require.Equal(t, report.Fail, s.Verdict)
	inc, why, err := report.Incomplete(dir)
	require.NoError(t, err)
	require.True(t, inc)
	require.Contains(t, why, "interrupted")

	html, err := os.ReadFile(filepath.Join(dir, report.ReportFile))
	require.NoError(t, err)
	require.Contains(t, string(html), "This run did not finish.")
	require.Contains(t, string(html), "INCOMPLETE")
	require.Contains(t, string(html), "interrupted")
}

func TestReportOfAPlantedBug(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bug")
	_, err := reporttest.Write(dir, reporttest.Options{RunID: "bug", Seed: 8, Noise: 8, PlantedBug: true})
	require.NoError(t, err)
	html, err := os.ReadFile(filepath.Join(dir, report.ReportFile))
	require.NoError(t, err)
	page := string(html)
	require.Contains(t, page, "expected to fail")
	require.Contains(t, page, "idempotency")
	require.Regexp(t, `<code>op-\d+</code>`, page, "violations name their operations")
}

func TestRenderNeedsASummary(t *testing.T) {
	err := report.Render(t.TempDir())
	require.ErrorContains(t, err, "read summary")
}

func TestRenderIsRepeatable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "again")
	_, err := reporttest.Write(dir, reporttest.Options{RunID: "again", Seed: 1, Noise: 1})
	require.NoError(t, err)
	first, err := os.ReadFile(filepath.Join(dir, report.ReportFile))
	require.NoError(t, err)
	require.NoError(t, report.Render(dir))
	second, err := os.ReadFile(filepath.Join(dir, report.ReportFile))
	require.NoError(t, err)
	strip := regexp.MustCompile(`Generated [0-9TZ:-]+`)
	require.Equal(t, strip.ReplaceAllString(string(first), ""), strip.ReplaceAllString(string(second), ""))
	require.True(t, strings.HasPrefix(string(first), "<!DOCTYPE html>"))
}

func BenchmarkRender(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "bench")
	s, err := reporttest.Write(dir, reporttest.Options{RunID: "bench", Seed: 1, Noise: 1, Rate: 400})
	if err != nil {
		b.Fatal(err)
	}
	var requests int64
	for _, st := range s.Stages {
		requests += st.Requests
	}
	b.ResetTimer()
	for b.Loop() {
		if err := report.Render(dir); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(requests)*float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// A summary without its faults (a run cut short) still shows them, from the
// nemesis entries of the history.
func TestReportFindsFaultsInTheHistory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "faults")
	_, err := reporttest.Write(dir, reporttest.Options{RunID: "faults", Seed: 4, Noise: 4, RouterTimeouts: true})
	require.NoError(t, err)
	s, err := report.ReadSummary(dir)
	require.NoError(t, err)
	for i := range s.Stages {
		s.Stages[i].Faults = nil
	}
	require.NoError(t, os.Remove(filepath.Join(dir, report.SummaryFile)))
	b, err := json.Marshal(s)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, report.SummaryFile), b, 0o644))
	require.NoError(t, report.Render(dir))
	html, err := os.ReadFile(filepath.Join(dir, report.ReportFile))
	require.NoError(t, err)
	require.Contains(t, string(html), "<td><b>router-timeout</b></td><td>web.2</td><td>ramp-25</td>")
	require.Contains(t, string(html), "fault: router-timeout")
}

// A stage's machine figures are shown per stage and per component, and a
// saturated stage says why its latency was not judged.
func TestReportShowsTheShardWorkers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shards")
	_, err := reporttest.Write(dir, reporttest.Options{RunID: "shards", Seed: 5})
	require.NoError(t, err)
	s, err := report.ReadSummary(dir)
	require.NoError(t, err)
	s.Shards = []report.ShardWorker{
		{Shard: 0, Host: "cutover-shards-0-abcde", ClockOffsetMS: -0.4, ClockErrorMS: 0.2, CPUMSPerRequest: 1.6, PeakRSSMB: 70,
			CPURequestMilli: 420, MemoryRequestMB: 124, Undersized: "used 1.60 ms of CPU per request where its CPU request assumed 1.10 ms"},
		{Shard: 1, Host: "cutover-shards-1-fghij", ClockOffsetMS: 1.25, ClockErrorMS: 0.3, Lost: "pod cutover-shards-1-fghij: deleted"},
	}
	s.Stages[1].LostShards, s.Stages[1].Unsent, s.Stages[1].Unreported = []int{1}, 120, 7
	b, err := json.MarshalIndent(s, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, report.SummaryFile), b, 0o644))
	require.NoError(t, report.Render(dir))
	html, err := os.ReadFile(filepath.Join(dir, report.ReportFile))
	require.NoError(t, err)
	page := string(html)
	require.Contains(t, page, `<h2 id="shards">Shard workers</h2>`)
	require.Contains(t, page, "Worst clock skew against this run: 1.250 ms (known within 0.300 ms)")
	require.Contains(t, page, "pod cutover-shards-1-fghij: deleted")
	require.Contains(t, page, "420m CPU, 124 MiB")
	require.Contains(t, page, `<span class="tag inconclusive">undersized</span> used 1.60 ms of CPU per request where its CPU request assumed 1.10 ms`)
	require.Contains(t, page, "120 planned requests never sent, 7 possibly sent unreported")

	// A run of one process has no such section.
	s.Shards = nil
	b, err = json.MarshalIndent(s, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, report.SummaryFile), b, 0o644))
	require.NoError(t, report.Render(dir))
	html, err = os.ReadFile(filepath.Join(dir, report.ReportFile))
	require.NoError(t, err)
	require.NotContains(t, string(html), `id="shards"`)
}

func TestReportShowsTheMachine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "machine")
	_, err := reporttest.Write(dir, reporttest.Options{RunID: "machine", Seed: 5, Noise: 3})
	require.NoError(t, err)
	s, err := report.ReadSummary(dir)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(s.Stages), 2)
	comps := []machine.ComponentUsage{
		{Name: "harness", UserCores: 0.61, SystemCores: 0.2, MemoryMax: 300 << 20},
		{Name: "stack/postgres", UserCores: 0.3, SystemCores: 0.1, MemoryMax: 90 << 20},
		{Name: "heroku/web.1", UserCores: 0.2, MemoryMax: 40 << 20},
		{Name: "heroku/web.2", UserCores: 0.2, MemoryMax: 40 << 20},
	}
	s.Stages[0].Machine = &report.StageMachine{
		Window:     machine.Window{Samples: 10, Cores: 2, CPUBusy: 0.55, Components: comps},
		Saturation: machine.Judgement{CPUBusy: 0.55},
	}
	s.Stages[1].Machine = &report.StageMachine{
		Window:     machine.Window{Samples: 10, Cores: 2, CPUBusy: 0.99, Components: comps},
		Saturation: machine.Judgement{Saturated: true, CPUBusy: 0.99, RunQueuePerCore: 3.5, Reasons: []string{"cpu 99% busy (≥ 90%)", "3.5 runnable tasks per core (≥ 2.0)"}},
	}
	b, err := json.MarshalIndent(s, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, report.SummaryFile), b, 0o644))
	require.NoError(t, report.Render(dir))

	html, err := os.ReadFile(filepath.Join(dir, report.ReportFile))
	require.NoError(t, err)
	page := string(html)
	require.Contains(t, page, `<h2 id="machine">The rehearsal machine</h2>`)
	require.Contains(t, page, "CPU per component and stage")
	require.Contains(t, page, "<td>heroku dynos</td>", "a platform's replicas are one component")
	require.Contains(t, page, "0.40 cores, 80 MB", "web.1 and web.2 together")
	require.Contains(t, page, "<td>postgres</td>")
	require.Contains(t, page, `<span class="tag fail">saturated</span> cpu 99% busy (≥ 90%), 3.5 runnable tasks per core (≥ 2.0)`)
	require.Contains(t, page, `<span class="tag pass">headroom</span>`)
}
