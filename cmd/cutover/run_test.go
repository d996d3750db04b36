package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const validScenario = `name: demo
traffic:
  synth: {duration: 2m, rate: 20}
steps:
  - set_weights: {heroku: 50, aws: 50}
  - fault: {kind: latency, target: aws->postgres, params: {latency: 100ms}}
  - hold: {duration: 10s}
invariants: [idempotency]
`

// Bad input gets exit 2 and an error naming the file, line and field,
// before anything starts: no results folder, no stack.
func TestRunRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		args       []string
		want       string // substring of stderr; "FILE" is replaced by the path
	}{
		{"unknown field", strings.Replace(validScenario, "name: demo", "name: demo\nsede: 1", 1), nil, "FILE:2: sede: field sede not found"},
		{"bad weight", strings.Replace(validScenario, "aws: 50}", "aws: 500}", 1), nil, "FILE:5: steps[0].set_weights.aws"},
		{"unknown fault kind", strings.Replace(validScenario, "kind: latency", "kind: meteor", 1), nil, "FILE:6: steps[1].fault.kind: unknown fault kind \"meteor\""},
		{"bad fault parameter", strings.Replace(validScenario, "latency: 100ms", "latency: soon", 1), nil, "FILE:6: steps[1].fault.params.latency"},
		{"unknown invariant", strings.Replace(validScenario, "[idempotency]", "[idempotence]", 1), nil, "FILE:8: invariants[0]: \"idempotence\" is not an invariant"},
		{"unknown planted bug", validScenario + "service: {bugs: [typo]}\n", nil, "FILE:9: service.bugs"},
		{"trace too short", strings.Replace(validScenario, "duration: 10s}", "duration: 10m}", 1), nil, "FILE:4: steps: the holds replay 1h0m0s of trace"},
		{"bad --infra flag", validScenario, []string{"--infra", "podman"}, "--infra: \"podman\" is not one of"},
		{"regression bound without baseline", validScenario, []string{"--max-regression", "10%"}, "--max-regression needs --baseline"},
		{"missing file", "", nil, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s.yaml")
			if tc.body != "" {
				require.NoError(t, os.WriteFile(path, []byte(tc.body), 0o644))
			}
			out := filepath.Join(dir, "results")
			code, _, stderr := runCLI(append([]string{"run", path, "--out", out}, tc.args...)...)
			require.Equal(t, exitInput, code, stderr)
			require.Contains(t, stderr, strings.ReplaceAll(tc.want, "FILE", path))
			_, err := os.Stat(out)
			require.True(t, os.IsNotExist(err), "nothing may be started or written for bad input")
		})
	}
}
