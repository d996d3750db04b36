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
gate: {budgets: [{error_rate: 0.01}]}
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
		{"unknown planted bug", validScenario + "service: {bugs: [typo]}\n", nil, "FILE:10: service.bugs"},
		{"a gate that cannot fail", strings.Replace(validScenario, "error_rate: 0.01", "error_rate: 1", 1), nil, "FILE:9: gate.budgets[0].error_rate: 1 must be in [0, 1)"},
		{"a ratio with nothing to compare", strings.Replace(validScenario, "error_rate: 0.01", "p99: 1.25x", 1), nil, "FILE:9: gate.budgets[0].p99: 1.25x is a ratio"},
		{"no gate at all", strings.Replace(validScenario, "gate: {budgets: [{error_rate: 0.01}]}\n", "", 1), nil, "gate.budgets: no budget"},
		{"an expected breach in no stage", validScenario + "expect: {verdict: fail, breaches: [{stage: nowhere}]}\n", nil, "FILE:10: expect.breaches[0].stage: no hold is named \"nowhere\""},
		{"trace too short", strings.Replace(validScenario, "duration: 10s}", "duration: 10m}", 1), nil, "FILE:4: steps: the holds replay 1h0m0s of trace"},
		{"a negative --multiplier", validScenario, []string{"--multiplier", "-1"}, "--multiplier: -1 is not a positive factor"},
		{"--multiplier past the trace", validScenario, []string{"--multiplier", "20"}, "FILE:4: steps: the holds replay 3m20s of trace at 20× but the trace lasts 2m0s"},
		{"bad --infra flag", validScenario, []string{"--infra", "podman"}, "--infra: \"podman\" is not one of"},
		{"regression bound without baseline", validScenario, []string{"--max-regression", "10%"}, "--max-regression needs --baseline"},
		{"required Route53 credentials with docker", validScenario + "dns: {route53_credentials: {access_key_id: AKID, secret_access_key: s}}\n", []string{"--infra", "docker"}, "FILE:10: dns.route53_credentials: the docker driver's Route53 accepts any credentials"},
		{"--route53-credentials with docker", validScenario, []string{"--infra", "docker", "--route53-credentials", "AKID:s"}, "--route53-credentials: the docker driver's Route53 accepts any credentials"},
		{"a malformed --route53-credentials", validScenario, []string{"--route53-credentials", "AKID"}, "want ACCESS_KEY_ID:SECRET_ACCESS_KEY"},
		{"--target kubeconfig without a context", validScenario, []string{"--target", "kubeconfig"}, "aws.kube_context: required with target kubeconfig"},
		{"--target kubeconfig without --stack-host", validScenario + "aws: {kube_context: lab}\n", []string{"--target", "kubeconfig"}, "aws.stack_host: required with target kubeconfig"},
		{"--stack-host not an address", validScenario + "aws: {kube_context: lab}\n", []string{"--target", "kubeconfig", "--stack-host", "gateway"}, "aws.stack_host: \"gateway\" is not an IP address"},
		{"--endpoint without a port", validScenario + "aws: {kube_context: lab}\n", []string{"--target", "kubeconfig", "--stack-host", "10.0.0.1", "--endpoint", "lb.example"}, "aws.endpoint: \"lb.example\" is not host:port"},
		{"--stack-host on the local target", validScenario, []string{"--stack-host", "10.0.0.1"}, "aws.stack_host: only with target kubeconfig"},
		{"--shards as a job without a cluster", validScenario, []string{"--shards", "2", "--workers", "job"}, "traffic.workers: job runs the shards as a Kubernetes Indexed Job"},
		{"--workers without --shards", validScenario, []string{"--workers", "in-process"}, "traffic.workers: only with traffic.shards above 1"},
		{"worker-kill without shards", strings.Replace(validScenario, "{kind: latency, target: aws->postgres, params: {latency: 100ms}}", "{kind: worker-kill}", 1), nil, "FILE:6: steps[1].fault.kind: worker-kill kills a shard worker: it needs traffic.shards above 1"},
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
