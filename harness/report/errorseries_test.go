package report

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/history"
)

// The errors chart takes Heroku's codes from the router log: matched to
// requests by request id when the ids match, drawn at the log's own times
// when they do not; the lines of other processes in the log are skipped.
func TestErrorSeriesFromRouterLog(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	stamp := func(sec int) string {
		return t0.Add(time.Duration(sec) * time.Second).Format("2006-01-02T15:04:05.000000-07:00")
	}
	op := func(id, platform string, sec, status int, herokuCode string) history.Op {
		typ := history.OK
		if status == 0 || herokuCode != "" {
			typ = history.Info
		}
		return history.Op{Type: typ, Process: "c1", Platform: platform, RequestID: id, Status: status,
			HerokuCode: herokuCode, Intended: t0.Add(time.Duration(sec) * time.Second)}
	}
	for _, tc := range []struct {
		name string
		log  string
		ops  []history.Op
		// want maps a series to its errors per bucket (width 1 s).
		want map[string][]float64
	}{
		{
			name: "matched by request id, at the request's send time",
			log: stamp(9) + " heroku[router]: at=error code=H12 desc=\"Request timeout\" method=GET path=\"/\" request_id=r1 dyno=web.1 connect=0ms service=30000ms status=503 bytes=0\n" +
				stamp(9) + " heroku[web.1]: Cycling\n" +
				stamp(9) + " app[web.1]: GET / 200\n" +
				stamp(9) + " heroku[router]: at=info method=GET path=\"/\" request_id=r2 dyno=web.1 connect=0ms service=3ms status=200 bytes=2\n",
			ops:  []history.Op{op("r1", "heroku", 1, 503, ""), op("r2", "heroku", 2, 200, ""), op("r3", "aws", 3, 500, "")},
			want: map[string][]float64{"heroku H12": {0, 1, 0, 0}, "aws 500": {0, 0, 0, 1}},
		},
		{
			name: "unmatched: the router's times, not the history's Heroku codes",
			log: stamp(3) + " heroku[router]: at=error code=H10 desc=\"App crashed\" method=GET path=\"/\" dyno= connect= service= status=503 bytes=\n" +
				"not a log line\n",
			ops:  []history.Op{op("r1", "heroku", 1, 503, "H10"), op("r2", "aws", 2, 0, "")},
			want: map[string][]float64{"heroku H10": {0, 0, 0, 1}, "aws " + NoResponse: {0, 0, 1, 0}},
		},
		{
			name: "no router log: the history's codes",
			ops:  []history.Op{op("r1", "heroku", 0, 503, "H13")},
			want: map[string][]float64{"heroku H13": {1, 0, 0, 0}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.log != "" {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "logs"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.FromSlash(RouterLogFile)), []byte(tc.log), 0o644))
			}
			router, err := readRouterLogFile(dir)
			require.NoError(t, err)
			got := map[string][]float64{}
			for _, s := range errorSeries(tc.ops, router, "heroku", t0, 1, 4) {
				for _, p := range s.Points {
					got[s.Name] = append(got[s.Name], p.Y)
				}
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestReadRouterLogFileNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "logs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.FromSlash(RouterLogFile)),
		[]byte("2024-01-01T00:00:01Z heroku[router]: at=info status=200\nyesterday heroku[router]: at=error code=H12 status=503\n"), 0o644))
	_, err := readRouterLogFile(dir)
	require.ErrorContains(t, err, "heroku-router.log:2:")
}
