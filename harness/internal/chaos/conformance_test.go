package chaos_test

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/internal/chaos"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/heroku"
	"github.com/cutover/cutover/harness/platform/kind"
	"github.com/cutover/cutover/harness/platform/kubeconfig"
	"github.com/cutover/cutover/harness/platform/local"
)

// TestPlatformsCanRunTheFaultsTheyClaim checks, for each platform, that
// every fault kind it claims (the README's fault table) finds the
// capability it looks for at start — the same type assertion the fault
// makes. A method whose signature drifts (node-drain once expected a
// DrainNode no platform had) fails here instead of at run time.
func TestPlatformsCanRunTheFaultsTheyClaim(t *testing.T) {
	targetFaults := []string{"replica-kill", "rolling-restart", "scale"}
	kube := append([]string{"node-drain"}, targetFaults...)
	var herokuFaults []string
	for k := range chaos.Kinds() {
		if chaos.On(k) == platform.Heroku {
			herokuFaults = append(herokuFaults, k)
		}
	}
	sort.Strings(herokuFaults)
	require.Len(t, herokuFaults, 8)
	for _, tc := range []struct {
		name   string
		p      platform.Platform
		claims []string
		not    []string
	}{
		{"heroku", (*heroku.App)(nil), append(herokuFaults, "scale", "rolling-restart", "replica-kill"), []string{"node-drain"}},
		{"local", (*local.Platform)(nil), targetFaults, append([]string{"node-drain"}, herokuFaults...)},
		{"kind", (*kind.Platform)(nil), kube, herokuFaults},
		{"kubeconfig", (*kubeconfig.Platform)(nil), kube, herokuFaults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range tc.claims {
				require.NoError(t, chaos.Supports(k, tc.p), "%s claims %s", tc.name, k)
			}
			for _, k := range tc.not {
				require.Error(t, chaos.Supports(k, tc.p), "%s does not support %s", tc.name, k)
			}
		})
	}
}

// TestEveryFaultKindShowsEvidence: a fault that cannot say what it did
// would pass a rehearsal it never disturbed.
func TestEveryFaultKindShowsEvidence(t *testing.T) {
	params := map[string]map[string]string{
		"scale":     {"replicas": "1"},
		"latency":   {"latency": "100ms"},
		"bandwidth": {"rate_kbps": "64"},
	}
	targets := map[string]string{
		"latency": "aws->postgres", "bandwidth": "aws->postgres", "timeout": "aws->postgres",
		"reset-peer": "aws->postgres", "link-down": "aws->postgres",
	}
	for k := range chaos.Kinds() {
		f, err := chaos.New(chaos.Spec{Name: k, Kind: k, Target: targets[k], Params: params[k]})
		require.NoError(t, err, k)
		_, ok := f.(chaos.Witness)
		require.True(t, ok, "fault kind %s does not implement chaos.Witness", k)
	}
}
