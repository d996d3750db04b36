package capacity

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Point is one measurement: N replicas sustained X requests per second
// within the scenario's budgets.
type Point struct {
	N float64 `json:"replicas"`
	X float64 `json:"throughput_rps"`
}

// USL is a fit of Gunther's Universal Scalability Law,
//
//	X(N) = λN / (1 + σ(N−1) + κN(N−1)),
//
// where λ is the throughput of one replica, σ the contention (the share
// of work that serialises) and κ the coherency delay (the cost of replicas
// agreeing with one another).
type USL struct {
	Lambda float64 `json:"lambda"`
	Sigma  float64 `json:"sigma"`
	Kappa  float64 `json:"kappa"`
	// KappaFixed is true when κ was held at 0 because two points cannot
	// tell it from σ.
	KappaFixed bool    `json:"kappa_fixed"`
	Points     []Point `json:"points"`
	// Residuals are measured minus fitted throughput, in the order of Points.
	Residuals []float64 `json:"residuals"`
	// R2 is the coefficient of determination of the fit; DOF the degrees
	// of freedom left (points minus fitted parameters). With DOF 0 the fit
	// passes through every point and R2 = 1 says nothing.
	R2   float64 `json:"r2"`
	DOF  int     `json:"dof"`
	Note string  `json:"note"`
}

// Throughput is the fitted X(n).
func (u USL) Throughput(n float64) float64 {
	return u.Lambda * n / (1 + u.Sigma*(n-1) + u.Kappa*n*(n-1))
}

// PeakReplicas is where X(n) stops growing: sqrt((1−σ)/κ), or +Inf
// without coherency delay.
func (u USL) PeakReplicas() float64 {
	if u.Kappa <= 0 {
		return math.Inf(1)
	}
	return math.Sqrt((1 - u.Sigma) / u.Kappa)
}

// ReplicasFor is the fewest replicas whose fitted throughput reaches rate
// scaled by perReplica/λ (the throughput of one replica of another size),
// or 0 when no number of replicas reaches it.
func (u USL) ReplicasFor(rate, perReplica float64) int {
	if rate <= 0 {
		return 1
	}
	scale := perReplica / u.Lambda
	for n := 1; n <= 100000; n++ {
		if u.Throughput(float64(n))*scale >= rate {
			return n
		}
		if float64(n) > u.PeakReplicas() {
			return 0
		}
	}
	return 0
}

// FitUSL fits the law to points by least squares on throughput. With two
// distinct replica counts κ is held at 0 (and the note says so); with one
// point there is nothing to fit. σ and κ are kept non-negative.
func FitUSL(points []Point) (USL, error) {
	distinct := map[float64]bool{}
	for _, p := range points {
		if p.N < 1 || p.X <= 0 || math.IsNaN(p.X) || math.IsInf(p.X, 0) {
			return USL{}, fmt.Errorf("fit USL: point %+v: want replicas >= 1 and a positive finite throughput", p)
		}
		distinct[p.N] = true
	}
	if len(distinct) < 2 {
		return USL{}, errors.New("fit USL: need measurements at two or more replica counts")
	}
	u := USL{Points: append([]Point(nil), points...)}
	if len(distinct) == 2 {
		u.KappaFixed = true
		u.Sigma = minimize1(points)
		u.Note = "two replica counts: κ held at 0 (contention only); the projection cannot bend down"
	} else {
		u.Sigma, u.Kappa = minimize2(points)
	}
	u.Lambda = bestLambda(points, u.Sigma, u.Kappa)
	params := 3
	if u.KappaFixed {
		params = 2
	}
	u.DOF = len(points) - params
	if u.DOF <= 0 {
		u.DOF = 0
		if u.Note != "" {
			u.Note += "; "
		}
		u.Note += "as many parameters as points: the curve passes through them and R² says nothing"
	}
	var mean, ssTot, ssRes float64
	for _, p := range points {
		mean += p.X
	}
	mean /= float64(len(points))
	for _, p := range points {
		r := p.X - u.Throughput(p.N)
		u.Residuals = append(u.Residuals, r)
		ssRes += r * r
		ssTot += (p.X - mean) * (p.X - mean)
	}
	u.R2 = 1
	if ssTot > 0 {
		u.R2 = 1 - ssRes/ssTot
	}
	return u, nil
}

// bestLambda is the least-squares λ for fixed σ and κ: X ≈ λ·g(N) with
// g(N) = N/(1+σ(N−1)+κN(N−1)), so λ = Σ X·g / Σ g².
func bestLambda(points []Point, sigma, kappa float64) float64 {
	var xg, gg float64
	for _, p := range points {
		g := p.N / (1 + sigma*(p.N-1) + kappa*p.N*(p.N-1))
		xg += p.X * g
		gg += g * g
	}
	return xg / gg
}

// sse is the sum of squared residuals at σ, κ with λ at its best.
func sse(points []Point, sigma, kappa float64) float64 {
	l := bestLambda(points, sigma, kappa)
	var s float64
	for _, p := range points {
		r := p.X - l*p.N/(1+sigma*(p.N-1)+kappa*p.N*(p.N-1))
		s += r * r
	}
	return s
}

// minimize1 finds σ ≥ 0 (κ = 0) by golden-section search on [0, 10]:
// the sum of squares is unimodal in σ here.
func minimize1(points []Point) float64 {
	f := func(s float64) float64 { return sse(points, s, 0) }
	lo, hi := 0.0, 10.0
	g := (math.Sqrt(5) - 1) / 2
	a, b := hi-g*(hi-lo), lo+g*(hi-lo)
	fa, fb := f(a), f(b)
	for range 200 {
		if fa <= fb {
			hi, b, fb = b, a, fa
			a = hi - g*(hi-lo)
			fa = f(a)
		} else {
			lo, a, fa = a, b, fb
			b = lo + g*(hi-lo)
			fb = f(b)
		}
	}
	s := (lo + hi) / 2
	if f(0) <= f(s) {
		return 0
	}
	return s
}

// minimize2 finds σ, κ ≥ 0 with gonum's Nelder–Mead over (|σ|, |κ|), from
// a few fixed starts (deterministic), keeping the best.
func minimize2(points []Point) (sigma, kappa float64) {
	p := optimize.Problem{Func: func(x []float64) float64 {
		return sse(points, math.Abs(x[0]), math.Abs(x[1]))
	}}
	best := math.Inf(1)
	for _, start := range [][]float64{{0.05, 0.001}, {0.3, 0.01}, {0.01, 0.1}, {1, 0}} {
		res, err := optimize.Minimize(p, start, &optimize.Settings{FuncEvaluations: 20000}, &optimize.NelderMead{})
		if err != nil && res == nil {
			continue
		}
		if res.F < best {
			best = res.F
			sigma, kappa = math.Abs(res.X[0]), math.Abs(res.X[1])
		}
	}
	for _, cand := range [][2]float64{{0, 0}, {sigma, 0}, {0, kappa}} {
		if v := sse(points, cand[0], cand[1]); v < best {
			best = v
			sigma, kappa = cand[0], cand[1]
		}
	}
	return sigma, kappa
}
