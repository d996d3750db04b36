package route53_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/route53"
)

func TestChoose(t *testing.T) {
	tests := []struct {
		name    string
		weights []int64
		want    []float64 // expected share of each index
	}{
		{"relative weights", []int64{1, 3}, []float64{0.25, 0.75}},
		{"zero next to positive is never chosen", []int64{0, 5, 0}, []float64{0, 1, 0}},
		{"all zero is uniform", []int64{0, 0, 0, 0}, []float64{0.25, 0.25, 0.25, 0.25}},
		{"negative counts as zero", []int64{-4, 2}, []float64{0, 1}},
		{"single record", []int64{9}, []float64{1}},
	}
	const draws = 40000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			counts := make([]int, len(tt.weights))
			for range draws {
				counts[route53.Choose(r, tt.weights)]++
			}
			for i, want := range tt.want {
				require.InDelta(t, want, float64(counts[i])/draws, 0.01, "index %d", i)
				if want == 0 {
					require.Zero(t, counts[i])
				}
			}
		})
	}

	a, b := rand.New(rand.NewPCG(7, 7)), rand.New(rand.NewPCG(7, 7))
	for range 1000 {
		require.Equal(t, route53.Choose(a, []int64{10, 90}), route53.Choose(b, []int64{10, 90}), "same seed, same choices")
	}
}
