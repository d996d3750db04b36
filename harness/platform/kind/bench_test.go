package kind

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkKindCreateToReady creates kind clusters from the node image
// `make kind-image` builds and reports the time from the first node
// container to the control plane's Ready (kind's own wait), side by side
// for a control plane alone and for the default shape (a control plane and
// a worker). Run it under the machine lock: it loads both cores.
func BenchmarkKindCreateToReady(b *testing.B) {
	cli := dockerOrSkip(b)
	nodeImage := nodeImageOrSkip(b, cli)
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"control-plane", Options{ControlPlaneOnly: true}},
		{"control-plane+worker", Options{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var total time.Duration
			n := 0
			for b.Loop() {
				opts := bc.opts
				opts.ClusterName = clusterName("bench")
				opts.NodeImage = nodeImage
				opts.Addr = loopbackAddr(b)
				p, err := New(opts)
				require.NoError(b, err)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				took, err := p.Up(ctx)
				cancel()
				require.NoError(b, p.Close(context.Background()))
				require.NoError(b, err)
				total += took
				n++
			}
			b.ReportMetric(total.Seconds()/float64(n), "s/create-to-ready")
		})
	}
}
