package scenario_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/scenario"
)

const valid = `name: demo
description: a staged cutover
seed: 7
traffic:
  synth: {duration: 10m, rate: 50}
steps:
  - set_weights: {heroku: 90, aws: 10}
  - hold: {duration: 30s}
  - fault: {kind: dyno-crash, target: web.1, after: 5s}
  - set_weights: {heroku: 0, aws: 100}
  - hold: {duration: 30s, name: final}
gate:
  budgets:
    - {endpoint: redeem, p99: 500ms, error_rate: 0.01}
`

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestLoadValidAppliesDefaults(t *testing.T) {
	f, err := scenario.Load(write(t, valid))
	require.NoError(t, err)
	s := f.Scenario
	require.Equal(t, uint64(7), s.Seed)
	require.Equal(t, "embedded", s.Infra)
	require.Equal(t, "local", s.Target)
	require.Equal(t, 2, s.Heroku.Dynos)
	require.Equal(t, "standard-1x", s.Heroku.DynoSize)
	require.Equal(t, 6.0, s.Traffic.Multiplier)
	require.Equal(t, "api.coupons.example.com.", s.DNS.Record)
	require.Equal(t, 60*time.Second, s.DNS.TTL.D())
	require.Equal(t, "rollback", s.Gate.OnBreach)
	require.Equal(t, "stage-1-aws-10", s.Steps[1].Hold.Name)
	require.Equal(t, "final", s.Steps[4].Hold.Name)
	require.Equal(t, "dyno-crash", s.Steps[2].Fault.Name)
	require.Equal(t, 5*time.Second, s.Steps[2].Fault.After.D())
}

func TestExplicitZeroIsKept(t *testing.T) {
	f, err := scenario.Load(write(t, valid+"heroku: {dynos: 0}\ndns: {ttl: 0}\n"))
	require.NoError(t, err)
	require.Equal(t, 0, f.Heroku.Dynos)
	require.Equal(t, time.Duration(0), f.DNS.TTL.D())
}

// Each invalid file must name the file, the line and the field.
func TestInvalidFiles(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		line       int
		field, msg string
	}{
		{"unknown field", strings.Replace(valid, "seed: 7", "sede: 7", 1), 3, "sede", "not found"},
		{"wrong type", strings.Replace(valid, "seed: 7", "seed: seven", 1), 3, "seed", "cannot unmarshal"},
		{"bad duration", strings.Replace(valid, "hold: {duration: 30s}", "hold: {duration: thirty}", 1), 8, "steps[1].hold.duration", "not a duration"},
		{"weight out of range", strings.Replace(valid, "aws: 10}", "aws: 300}", 1), 7, "steps[0].set_weights.aws", "0..255"},
		{"two things in a step", strings.Replace(valid, "- hold: {duration: 30s}", "- hold: {duration: 30s}\n    heal: x", 1), 8, "steps[1]", "exactly one"},
		{"heal unknown fault", strings.Replace(valid, "name: final}", "name: final}\n  - heal: nope", 1), 12, "steps[5].heal", "no earlier fault"},
		{"bad enum", valid + "infra: podman\n", 15, "infra", "not one of"},
		{"missing name", strings.Replace(valid, "name: demo\n", "", 1), 1, "name", "required"},
		{"no traffic", strings.Replace(valid, "traffic:\n  synth: {duration: 10m, rate: 50}\n", "", 1), 0, "traffic", "give traffic.trace"},
		{"trace missing", strings.Replace(valid, "synth: {duration: 10m, rate: 50}", "trace: nope.jsonl\n  seed_data: nope.jsonl", 1), 5, "traffic.trace", "no such file"},
		{"share out of range", valid + "dns: {ttl_ignoring_share: 1.5}\n", 15, "dns.ttl_ignoring_share", "[0, 1]"},
		{"credentials without a secret", valid + "dns: {route53_credentials: {access_key_id: AKID}}\n", 15, "dns.route53_credentials", "give both"},
		{"budget without limit", valid + "    - {endpoint: redeem}\n", 15, "gate.budgets[1]", "sets no limit"},
		{"kubeconfig without context", valid + "target: kubeconfig\n", 0, "aws.kube_context", "explicitly"},
		{"kubeconfig without stack host", valid + "target: kubeconfig\naws: {kube_context: lab}\n", 0, "aws.stack_host", "required"},
		{"stack host not an address", valid + "target: kubeconfig\naws: {kube_context: lab, stack_host: gateway}\n", 16, "aws.stack_host", "not an IP address"},
		{"endpoint without port", valid + "target: kubeconfig\naws: {kube_context: lab, stack_host: 10.0.0.1, endpoint: lb.example}\n", 16, "aws.endpoint", "not host:port"},
		{"unknown service type", valid + "target: kubeconfig\naws: {kube_context: lab, stack_host: 10.0.0.1, service_type: ClusterIP}\n", 16, "aws.service_type", "not one of"},
		{"node port without endpoint", valid + "target: kubeconfig\naws: {kube_context: lab, stack_host: 10.0.0.1, service_type: NodePort}\n", 0, "aws.endpoint", "required with service_type NodePort"},
		{"stack host on another target", valid + "aws: {stack_host: 10.0.0.1}\n", 15, "aws.stack_host", "only with target kubeconfig"},
		{"too many shards", strings.Replace(valid, "rate: 50}", "rate: 50}\n  shards: 65", 1), 6, "traffic.shards", "0..64"},
		{"shards as a job without a cluster", strings.Replace(valid, "rate: 50}", "rate: 50}\n  shards: 2\n  workers: job", 1), 7, "traffic.workers", "Indexed Job on the target cluster"},
		{"unknown shard workers", strings.Replace(valid, "rate: 50}", "rate: 50}\n  shards: 2\n  workers: lambda", 1), 7, "traffic.workers", "not one of"},
		{"workers without shards", strings.Replace(valid, "rate: 50}", "rate: 50}\n  workers: job", 1), 6, "traffic.workers", "only with traffic.shards"},
		{"failing invariant not checked", valid + "invariants: [bounds]\nexpect: {verdict: fail, failing_invariants: [idempotency]}\n", 16, "expect.failing_invariants[0]", "not among"},
		{"bad yaml", "name: [\n", 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.body)
			_, err := scenario.Load(p)
			one := firstError(t, err)
			require.Equal(t, p, one.File)
			require.Contains(t, err.Error(), p)
			if tc.line > 0 {
				require.Equal(t, tc.line, one.Line, err.Error())
			} else {
				require.Positive(t, one.Line, err.Error())
			}
			require.Equal(t, tc.field, one.Field, err.Error())
			require.Contains(t, one.Msg, tc.msg)
		})
	}
}

// firstError is the first of a load's scenario errors.
func firstError(t *testing.T, err error) *scenario.Error {
	t.Helper()
	require.Error(t, err)
	var one *scenario.Error
	var many scenario.Errors
	switch {
	case errors.As(err, &many):
		one = many[0]
	case errors.As(err, &one):
	default:
		t.Fatalf("error %T is not a scenario error: %v", err, err)
	}
	return one
}

func TestErrorfLocatesFields(t *testing.T) {
	f, err := scenario.Load(write(t, valid))
	require.NoError(t, err)
	e := f.Errorf("steps[2].fault.kind", "unknown fault kind %q", "x")
	require.Equal(t, 9, e.Line)
	require.Contains(t, e.Error(), ":9: steps[2].fault.kind: unknown fault kind")
}

func TestQuickened(t *testing.T) {
	f, err := scenario.Load(write(t, valid+"quick: {factor: 10}\n"))
	require.NoError(t, err)
	q := f.Scenario.Quickened()
	require.Equal(t, 3*time.Second, q.Steps[1].Hold.Duration.D())
	require.Equal(t, 500*time.Millisecond, q.Steps[2].Fault.After.D())
	require.Equal(t, 30*time.Second, f.Steps[1].Hold.Duration.D(), "the original is unchanged")
	require.Len(t, q.Steps, len(f.Steps))

	f, err = scenario.Load(write(t, valid))
	require.NoError(t, err)
	require.InDelta(t, 5.0, f.QuickFactor(), 1e-9, "60 s of holds brought to 12 s")
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("name: x\nsteps: [{hold: {duration: 1s}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := scenario.Parse("fuzz.yaml", data)
		if err == nil && s.Name == "" {
			t.Fatal("a scenario without a name was accepted")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
