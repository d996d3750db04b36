package route53

import (
	"math/bits"
	"math/rand/v2"
)

// Choose returns the index of the record a weighted set answers with, the way
// Route53 chooses: each record is picked with probability weight/total, a
// record of weight 0 is never picked while another weight is positive, and
// when every weight is 0 the records are picked with equal probability.
// Negative weights count as 0. It draws exactly one number from r, so a
// seeded r makes the sequence of choices reproducible. It panics on an
// empty slice, as there is nothing to choose from.
func Choose(r *rand.Rand, weights []int64) int { return ChooseAt(r.Uint64(), weights) }

// ChooseAt is Choose with the random draw given: x is a uniform 64-bit
// value, so a caller can derive it from a hash and get the same choice for
// the same inputs whatever the order of calls.
func ChooseAt(x uint64, weights []int64) int {
	var total int64
	for _, w := range weights {
		if w > 0 {
			total += w
		}
	}
	if total == 0 {
		hi, _ := bits.Mul64(x, uint64(len(weights)))
		return int(hi)
	}
	hi, _ := bits.Mul64(x, uint64(total))
	v := int64(hi)
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		if v < w {
			return i
		}
		v -= w
	}
	return len(weights) - 1 // unreachable: v < total
}
