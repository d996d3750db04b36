package report_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/reporttest"
)

// documentedFields reads the field table of summary-format.md: path → type.
func documentedFields(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("summary-format.md")
	require.NoError(t, err)
	row := regexp.MustCompile("^\\| `([^`]+)` \\| ([^|]+) \\|")
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			fields[m[1]] = strings.TrimSpace(m[2])
		}
	}
	require.Greater(t, len(fields), 50, "summary-format.md lost its table")
	return fields
}

// checker walks a summary.json and checks every field against the docs.
type checker struct {
	t    *testing.T
	docs map[string]string
	seen map[string]bool
}

func (c *checker) walk(path string, v any) {
	c.t.Helper()
	typ, ok := c.docs[path]
	if !ok {
		c.t.Errorf("summary.json has %s, which summary-format.md does not document", path)
		return
	}
	c.seen[path] = true
	typ = strings.TrimSuffix(typ, ", optional")
	switch {
	case typ == "object or null":
		if v == nil {
			return
		}
		c.object(path, v)
	case typ == "object":
		c.object(path, v)
	case strings.HasPrefix(typ, "array of "):
		arr, ok := v.([]any)
		if !ok {
			c.t.Errorf("%s: want an array, got %T", path, v)
			return
		}
		elem := strings.TrimPrefix(typ, "array of ")
		for _, e := range arr {
			if elem == "object" {
				c.object(path+"[]", e)
			} else {
				c.scalar(path+"[]", elem, e)
			}
		}
	case strings.HasPrefix(typ, "{} of "):
		m, ok := v.(map[string]any)
		if !ok {
			c.t.Errorf("%s: want an object, got %T", path, v)
			return
		}
		elem := strings.TrimPrefix(typ, "{} of ")
		for _, e := range m {
			if elem == "object" {
				c.object(path+"{}", e)
			} else {
				c.scalar(path+"{}", elem, e)
			}
		}
	default:
		c.scalar(path, typ, v)
	}
}

func (c *checker) object(path string, v any) {
	c.t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		c.t.Errorf("%s: want an object, got %T", path, v)
		return
	}
	for k, e := range m {
		p := k
		if path != "" {
			p = path + "." + k
		}
		c.walk(p, e)
	}
}

func (c *checker) scalar(path, typ string, v any) {
	c.t.Helper()
	switch typ {
	case "string":
		if _, ok := v.(string); !ok {
			c.t.Errorf("%s: want a string, got %T", path, v)
		}
	case "time":
		s, ok := v.(string)
		if _, err := time.Parse(time.RFC3339Nano, s); !ok || err != nil {
			c.t.Errorf("%s: want an RFC 3339 time, got %v", path, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			c.t.Errorf("%s: want a boolean, got %T", path, v)
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			c.t.Errorf("%s: want a number, got %T", path, v)
		}
	case "integer":
		n, ok := v.(json.Number)
		if _, err := n.Int64(); !ok || err != nil {
			c.t.Errorf("%s: want an integer, got %v", path, v)
		}
	default:
		c.t.Errorf("%s: summary-format.md gives an unknown type %q", path, typ)
	}
}

// TestSummaryMatchesDocumentedFormat runs short synthetic scenarios that
// between them produce every field (a pass, a rollback with faults and
// breaches, a planted bug, an interrupted run, a gate with too few samples)
// and checks each summary.json against summary-format.md, both ways.
func TestSummaryMatchesDocumentedFormat(t *testing.T) {
	docs := documentedFields(t)
	c := &checker{t: t, docs: docs, seen: map[string]bool{}}
	runs := map[string]reporttest.Options{
		"pass":        {Seed: 1, Noise: 1},
		"rollback":    {Seed: 2, Noise: 2, RouterTimeouts: true, RollbackOnBreach: true, TargetLatency: &reporttest.LatencyFault{Stage: 2, Extra: 200 * time.Millisecond}},
		"planted-bug": {Seed: 3, Noise: 3, PlantedBug: true},
		"interrupted": {Seed: 4, Noise: 4, Interrupt: 3},
		"sparse":      {Seed: 5, Noise: 5, Rate: 4},
		"unchecked":   {Seed: 6, Noise: 6, Unchecked: true, FaultFailed: true},
		"saturated":   {Seed: 7, Noise: 7, Saturated: 2},
		"behind":      {Seed: 8, Noise: 8, Behind: 3},
	}
	for name, o := range runs {
		dir := filepath.Join(t.TempDir(), name)
		_, err := reporttest.Write(dir, o)
		require.NoError(t, err, name)

		s, err := report.ReadSummary(dir)
		require.NoError(t, err, name)
		require.NoError(t, s.Validate(), name)
		require.Equal(t, report.FormatVersion, s.FormatVersion)

		b, err := os.ReadFile(filepath.Join(dir, report.SummaryFile))
		require.NoError(t, err)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var doc map[string]any
		require.NoError(t, dec.Decode(&doc), name)
		c.object("", doc)
	}
	for path := range docs {
		if !c.seen[path] {
			t.Errorf("summary-format.md documents %s, but no summary.json wrote it", path)
		}
	}
}
