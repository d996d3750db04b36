package capacity

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDefaultPricesCiteSourcesAndDates(t *testing.T) {
	p, err := DefaultPrices()
	require.NoError(t, err)
	require.NotEmpty(t, p.Heroku)
	require.NotEmpty(t, p.EC2)
	for _, d := range p.Heroku {
		require.Regexp(t, `^https://`, d.Source, d.Name)
		require.Regexp(t, `^\d{4}-\d{2}-\d{2}$`, d.AsOf, d.Name)
	}
	for _, in := range p.EC2 {
		require.Regexp(t, `^https://`, in.Source, in.Name)
		require.Regexp(t, `^\d{4}-\d{2}-\d{2}$`, in.AsOf, in.Name)
	}
	// The figures the migration story quotes: a Standard-2X is $50 a
	// month, a Performance-M $250.
	d, ok := p.Dyno("Standard-2X")
	require.True(t, ok)
	require.Equal(t, 50.0, d.MonthlyUSD)
	d, ok = p.Dyno("performance-m")
	require.True(t, ok)
	require.Equal(t, 250.0, d.MonthlyUSD)
}

func TestParsePricesErrorsNameFileLineField(t *testing.T) {
	const good = `heroku:
  - name: standard-1x
    memory_mb: 512
    cores: 0.167
    monthly_usd: 25
    source: https://example.invalid/heroku
    as_of: 2024-10-01
ec2:
  - name: m5.large
    vcpu: 2
    memory_gib: 8
    hourly_usd: 0.096
    source: https://example.invalid/ec2
    as_of: 2024-10-01
`
	tests := []struct {
		name, from, to, want string
	}{
		{"valid", "", "", ""},
		{"no source", "    source: https://example.invalid/ec2\n", "", "p.yaml:9: ec2[0].source: every price needs the URL"},
		{"bad date", "as_of: 2024-10-01\nec2", "as_of: last year\nec2", "p.yaml:7: heroku[0].as_of: every price needs the date"},
		{"negative price", "hourly_usd: 0.096", "hourly_usd: -1", "p.yaml:12: ec2[0].hourly_usd: must be a positive number"},
		{"zero memory", "memory_mb: 512", "memory_mb: 0", "p.yaml:3: heroku[0].memory_mb: must be a positive number"},
		{"unknown field", "cores: 0.167", "cpus: 0.167", "field cpus not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := good
			if tc.from != "" {
				src = replaceOnce(t, src, tc.from, tc.to)
			}
			_, err := ParsePrices("p.yaml", []byte(src))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestLoadPricesFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mine.yaml")
	require.NoError(t, os.WriteFile(path, defaultPrices, 0o644))
	p, err := LoadPrices(path)
	require.NoError(t, err)
	require.Equal(t, path, p.File)
	_, err = LoadPrices(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorContains(t, err, "read prices")
}

func replaceOnce(t *testing.T, s, from, to string) string {
	t.Helper()
	i := indexOf(s, from)
	require.GreaterOrEqual(t, i, 0, "fixture lacks %q", from)
	return s[:i] + to + s[i+len(from):]
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
