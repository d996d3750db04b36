// Package stats is the one place cutover computes latency statistics: the
// nearest-rank quantile every figure uses, a streaming histogram of 1 %-wide
// log buckets that the replayer, the gate and the profiles accumulate and
// merge (as vegeta's Metrics accumulate with Add), and the rank and
// proportion tests that compare two of them.
package stats

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Quantile is the nearest-rank q-quantile of sorted values (the zero value
// when empty): the smallest value with at least q of the values at or below
// it. Every percentile cutover reports is this one, computed exactly here
// or to within a bucket by Histogram.Quantile.
func Quantile[T cmp.Ordered](sorted []T, q float64) T {
	var zero T
	if len(sorted) == 0 {
		return zero
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// bucketGrowth is the width of a latency bucket: each is 1% wider than the
// one before, so a percentile read from a Histogram is within 1% of the
// exact one, and two histograms rank against each other almost exactly.
const bucketGrowth = 1.01

var logGrowth = math.Log(bucketGrowth)

// Histogram counts latencies in log-scale buckets. It is what a Profile
// keeps instead of every sample, so baselines stay small.
type Histogram struct {
	// Counts maps a bucket index to the number of latencies in it; bucket
	// i holds latencies in [1.01^i, 1.01^(i+1)) nanoseconds.
	Counts map[int]int64 `json:"counts"`
	N      int64         `json:"n"`
	// Max and Sum are exact (a mean and a maximum need no buckets).
	Max time.Duration `json:"max,omitempty"`
	Sum time.Duration `json:"sum,omitempty"`
}

func bucketOf(d time.Duration) int {
	if d <= 1 {
		return 0
	}
	return int(math.Log(float64(d)) / logGrowth)
}

// bucketValue is the geometric middle of bucket i.
func bucketValue(i int) time.Duration {
	return time.Duration(math.Exp((float64(i) + 0.5) * logGrowth))
}

// Add counts one latency.
func (h *Histogram) Add(d time.Duration) {
	if h.Counts == nil {
		h.Counts = map[int]int64{}
	}
	h.Counts[bucketOf(d)]++
	h.N++
	h.Max = max(h.Max, d)
	h.Sum += d
}

// AddN counts n latencies of d.
func (h *Histogram) AddN(d time.Duration, n int64) {
	if n <= 0 {
		return
	}
	if h.Counts == nil {
		h.Counts = map[int]int64{}
	}
	h.Counts[bucketOf(d)] += n
	h.N += n
	h.Max = max(h.Max, d)
	h.Sum += d * time.Duration(n)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o Histogram) {
	for k, v := range o.Counts {
		if h.Counts == nil {
			h.Counts = map[int]int64{}
		}
		h.Counts[k] += v
	}
	h.N += o.N
	h.Max = max(h.Max, o.Max)
	h.Sum += o.Sum
}

// Mean is the exact mean of the latencies counted (0 when none).
func (h Histogram) Mean() time.Duration {
	if h.N == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.N)
}

func (h Histogram) keys() []int {
	ks := make([]int, 0, len(h.Counts))
	for k := range h.Counts {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Quantile is the nearest-rank q-quantile, to within a bucket.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(h.N))), 1)
	var seen int64
	ks := h.keys()
	for _, k := range ks {
		seen += h.Counts[k]
		if seen >= rank {
			return bucketValue(k)
		}
	}
	return bucketValue(ks[len(ks)-1])
}

// RankTest is the result of a Mann–Whitney U test of B against A.
type RankTest struct {
	// P is the two-sided p-value (normal approximation with tie and
	// continuity correction).
	P float64 `json:"p"`
	// ProbSlower is the probability that a request of B took longer than
	// one of A, ties counting half (Vargha–Delaney A). 0.5 is no change.
	ProbSlower float64 `json:"prob_slower"`
	// Z is the standardised U statistic; positive when B is slower.
	Z float64 `json:"z"`
}

// tieGroup is a distinct value and how often each side has it.
type tieGroup struct{ a, b float64 }

// MannWhitney tests whether latencies in b tend to be larger or smaller than
// in a. Latencies in one histogram bucket count as ties.
func MannWhitney(a, b Histogram) RankTest {
	seen := map[int]bool{}
	var ks []int
	for k := range a.Counts {
		seen[k] = true
		ks = append(ks, k)
	}
	for k := range b.Counts {
		if !seen[k] {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	groups := make([]tieGroup, len(ks))
	for i, k := range ks {
		groups[i] = tieGroup{float64(a.Counts[k]), float64(b.Counts[k])}
	}
	return mannWhitney(groups)
}

// MannWhitneySamples is MannWhitney on raw samples, with exact ties.
func MannWhitneySamples(a, b []float64) RankTest {
	type v struct {
		x    float64
		side int
	}
	all := make([]v, 0, len(a)+len(b))
	for _, x := range a {
		all = append(all, v{x, 0})
	}
	for _, x := range b {
		all = append(all, v{x, 1})
	}
	slices.SortFunc(all, func(p, q v) int {
		switch {
		case p.x < q.x:
			return -1
		case p.x > q.x:
			return 1
		}
		return 0
	})
	var groups []tieGroup
	for i := 0; i < len(all); {
		g := tieGroup{}
		j := i
		for ; j < len(all) && all[j].x == all[i].x; j++ {
			if all[j].side == 0 {
				g.a++
			} else {
				g.b++
			}
		}
		groups = append(groups, g)
		i = j
	}
	return mannWhitney(groups)
}

func mannWhitney(groups []tieGroup) RankTest {
	var na, nb float64
	for _, g := range groups {
		na += g.a
		nb += g.b
	}
	if na == 0 || nb == 0 {
		return RankTest{P: 1, ProbSlower: 0.5}
	}
	n := na + nb
	var rankSumB, ties, below float64
	for _, g := range groups {
		t := g.a + g.b
		meanRank := below + (t+1)/2
		rankSumB += g.b * meanRank
		ties += t*t*t - t
		below += t
	}
	uB := rankSumB - nb*(nb+1)/2 // pairs where B is larger, ties half
	mu := na * nb / 2
	variance := na * nb / 12 * ((n + 1) - ties/(n*(n-1)))
	res := RankTest{ProbSlower: uB / (na * nb), P: 1}
	if variance <= 0 {
		return res
	}
	d := uB - mu
	switch {
	case d > 0.5:
		d -= 0.5
	case d < -0.5:
		d += 0.5
	default:
		d = 0
	}
	res.Z = d / math.Sqrt(variance)
	res.P = math.Erfc(math.Abs(res.Z) / math.Sqrt2)
	return res
}

// ProportionTest compares error rates with a pooled two-proportion z-test:
// ea errors out of na against eb out of nb. It returns the two-sided p-value.
func ProportionTest(ea, na, eb, nb int64) float64 {
	if na == 0 || nb == 0 {
		return 1
	}
	pa, pb := float64(ea)/float64(na), float64(eb)/float64(nb)
	p := float64(ea+eb) / float64(na+nb)
	se := math.Sqrt(p * (1 - p) * (1/float64(na) + 1/float64(nb)))
	if se == 0 {
		return 1
	}
	z := (pb - pa) / se
	return math.Erfc(math.Abs(z) / math.Sqrt2)
}
