package capacity

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReservation(t *testing.T) {
	// Worked figures from GKE's tiers (plan-node-sizes): e.g. 8 GiB keeps
	// 25 %·4 + 20 %·4 = 1.8 GiB, plus the 100 MiB eviction threshold.
	tests := []struct {
		vcpu, memGiB  float64
		cores, memMiB float64
	}{
		{1, 1, 0.06, 0.25*1024 + 100},
		{2, 4, 0.07, 1024 + 100},
		{2, 8, 0.07, 1.8*1024 + 100},
		{4, 16, 0.08, (1+0.8+0.8)*1024 + 100},
		{8, 32, 0.09, (1+0.8+0.8+0.06*16)*1024 + 100},
		{64, 256, 0.06 + 0.01 + 0.01 + 0.0025*60, (1+0.8+0.8+0.06*112+0.02*128)*1024 + 100},
	}
	for _, tc := range tests {
		require.InDelta(t, tc.cores, ReservedCores(tc.vcpu), 1e-9, "%g cores", tc.vcpu)
		require.InDelta(t, tc.memMiB, ReservedMemoryMiB(tc.memGiB), 1e-6, "%g GiB", tc.memGiB)
	}
	c, m := Allocatable(Instance{VCPU: 2, MemoryGiB: 8})
	require.InDelta(t, 1.93, c, 1e-9)
	require.InDelta(t, 8*1024-1.8*1024-100, m, 1e-6)
}
