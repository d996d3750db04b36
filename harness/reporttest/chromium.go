package reporttest

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FindChromium returns a headless Chromium binary, or skips the test.
func FindChromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("no headless Chromium on PATH: install Debian's chromium package (apt-get install chromium) to check the report renders")
	return ""
}

// Chromium runs headless Chromium on the page with extra arguments
// (--dump-dom, --screenshot=...) and returns its standard output.
func Chromium(t testing.TB, bin, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--no-first-run", "--disable-extensions"}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	return out
}

var (
	svgChart = regexp.MustCompile(`(?s)<svg [^>]*class="chart".*?</svg>`)
	svgPath  = regexp.MustCompile(`<path `)
)

// Charts returns the report's inline SVG charts as Chromium laid them out,
// with the number of drawn paths in each.
func Charts(dom string) (charts []string, paths []int) {
	charts = svgChart.FindAllString(dom, -1)
	for _, c := range charts {
		paths = append(paths, len(svgPath.FindAllString(c, -1)))
	}
	return charts, paths
}
