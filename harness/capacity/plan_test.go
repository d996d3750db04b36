package capacity

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// testPrices are small enough to size by hand: a $25 dyno with a quarter
// core and 512 MB, a $250 one with 2 cores and 2.5 GB, and one node type
// (2 vCPU, 8 GiB at $0.10/h: 1.93 cores and 6,246 MiB allocatable).
func testPrices() Prices {
	return Prices{
		File: "test",
		Heroku: []Dyno{
			{Name: "small", MemoryMB: 512, Cores: 0.25, MonthlyUSD: 25},
			{Name: "big", MemoryMB: 2560, Cores: 2, MonthlyUSD: 250},
		},
		EC2: []Instance{{Name: "node", VCPU: 2, MemoryGiB: 8, HourlyUSD: 0.10}},
	}
}

// testInputs: 100 req/s at 1×; a replica serves 200 req/s on either side
// (linear scaling), costs 2 ms of CPU a request, peaks at 300 MB; 20 %
// headroom. A small dyno's quarter core pays for 125 req/s, so CPU binds
// there; pods request 0.6 cores and 360 MB, three to a node (CPU binds).
func testInputs() Inputs {
	linear := USL{Lambda: 200}
	prof := Profile{Fit: linear, CPUPerRequest: 0.002, CPUCoresP95: 0.5, PeakMemoryMB: 300, LatencyP95S: 0.1}
	return Inputs{
		PeakRate: 100, Heroku: prof, Target: prof, Prices: testPrices(), Headroom: 0.2,
		CurrentDynos: 2, CurrentSize: "small", Multiples: []float64{1, 5, 10},
	}
}

func TestCompute(t *testing.T) {
	type row struct {
		dynos  int
		size   string
		usd    float64
		hbinds string
		pods   int
		nodes  int
		tusd   float64
		tbinds string
	}
	tests := []struct {
		name   string
		change func(*Inputs)
		rows   []row
		// at the budget (the current fleet's cost unless changed)
		budget, herokuAt, targetAt, carries float64
		herokuBinds                         string
	}{
		{
			name: "hand-sized baseline",
			rows: []row{
				// 120 req/s / 125 → 1 small; 1 pod → 1 node = 0.1·730.
				{1, "small", 25, BindCPU, 1, 1, 73, BindCPU},
				// 600/125 → 5 small (5 big would be 3 × $250); 3 pods fit one node.
				{5, "small", 125, BindCPU, 3, 1, 73, BindCPU},
				// 1200/125 → 10 small; 5 pods → 2 nodes.
				{10, "small", 250, BindCPU, 5, 2, 146, BindCPU},
			},
			// 2 small dynos = $50 carry 250/1.2 = 208 req/s → 2.0×; a
			// node costs $73, over the budget.
			budget: 50, herokuAt: 2.0, targetAt: 0, carries: 2.0,
			herokuBinds: "the cheapest size, small (512 MB quota), holds it; then cpu: one small dyno serves 125 req/s",
		},
		{
			name:   "a bigger budget",
			change: func(in *Inputs) { in.Budget = 150 },
			rows: []row{
				{1, "small", 25, BindCPU, 1, 1, 73, BindCPU},
				{5, "small", 125, BindCPU, 3, 1, 73, BindCPU},
				{10, "small", 250, BindCPU, 5, 2, 146, BindCPU},
			},
			// $150: 6 small → 750/1.2 = 625 req/s → 6.2×; 2 nodes ($146)
			// → 6 pods → 1200 req/s → 12×.
			budget: 150, herokuAt: 6.2, targetAt: 12, carries: 2.0, herokuBinds: "holds it",
		},
		{
			name: "changing a price changes the answer: a dearer small dyno",
			change: func(in *Inputs) {
				in.Prices.Heroku[0].MonthlyUSD = 300
				in.Budget = 150
			},
			rows: []row{
				// One big dyno ($250) is now cheaper than one small ($300).
				{1, "big", 250, BindBudget, 1, 1, 73, BindCPU},
				{3, "big", 750, BindBudget, 3, 1, 73, BindCPU},
				{6, "big", 1500, BindBudget, 5, 2, 146, BindCPU},
			},
			budget: 150, herokuAt: 0, targetAt: 12, carries: 2.0, herokuBinds: "the cheapest size, big (2560 MB quota), holds it",
		},
		{
			name: "changing a price changes the answer: a dearer node",
			change: func(in *Inputs) {
				in.Prices.EC2[0].HourlyUSD = 0.20
				in.Prices.EKS.HourlyUSD = 0.10
				in.Budget = 150
			},
			rows: []row{
				{1, "small", 25, BindCPU, 1, 1, 219, BindCPU},
				{5, "small", 125, BindCPU, 3, 1, 219, BindCPU},
				{10, "small", 250, BindCPU, 5, 2, 365, BindCPU},
			},
			budget: 150, herokuAt: 6.2, targetAt: 0, carries: 2.0, herokuBinds: "holds it",
		},
		{
			name: "bulk memory forces the big dyno and fewer pods per node",
			change: func(in *Inputs) {
				in.Heroku.PeakMemoryMB = 500 // 600 MB with headroom: over the small quota
				in.Target.PeakMemoryMB = 2500
				in.CurrentDynos, in.CurrentSize = 3, "big"
			},
			rows: []row{
				{1, "big", 250, BindBudget, 1, 1, 73, BindMemory},
				{3, "big", 750, BindBudget, 3, 2, 146, BindMemory},
				{6, "big", 1500, BindBudget, 5, 3, 219, BindMemory},
			},
			// 3 big = $750: 600/1.2 = 500 req/s → 5×; the target carries
			// 10× for $219 and more: 10 nodes ($730) → 20 pods → 4000 req/s.
			budget: 750, herokuAt: 5, targetAt: 40, carries: 5,
			herokuBinds: "memory sets the size: a replica peaks at 500 MB (600 MB with headroom), over small's 512 MB quota (R14), so every web dyno is big",
		},
		{
			name:   "a starved CPU share makes the bigger size the cheaper fleet",
			change: func(in *Inputs) { in.Prices.Heroku[0].Cores = 0.01 }, // 5 req/s a small dyno
			rows: []row{
				// 24 small ($600) or one big ($250).
				{1, "big", 250, BindBudget, 1, 1, 73, BindCPU},
				{3, "big", 750, BindBudget, 3, 1, 73, BindCPU},
				{6, "big", 1500, BindBudget, 5, 2, 146, BindCPU},
			},
			// $50 buys 2 small dynos: 10 req/s / 1.2 → 0.08×, under the 0.1 step.
			budget: 50, herokuAt: 0, targetAt: 0, carries: 0,
			herokuBinds: "big carries the load cheapest (a replica peaks at 300 MB); then latency budget: one big dyno serves 200 req/s",
		},
		{
			name:   "the router's in-flight cap binds on slow requests",
			change: func(in *Inputs) { in.Heroku.LatencyP95S = 10 },
			rows: []row{
				// 100 req/s × 10 s = 1000 in flight → 5 dynos at 200 each.
				{5, "small", 125, BindRouter, 1, 1, 73, BindCPU},
				{25, "small", 625, BindRouter, 3, 1, 73, BindCPU},
				{50, "small", 1250, BindRouter, 5, 2, 146, BindCPU},
			},
			budget: 50, herokuAt: 0.4, targetAt: 0, carries: 0.4, herokuBinds: "then router in-flight cap",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := testInputs()
			if tc.change != nil {
				tc.change(&in)
			}
			p, err := Compute(in)
			require.NoError(t, err)
			require.Len(t, p.Rows, len(tc.rows))
			for i, want := range tc.rows {
				r := p.Rows[i]
				got := row{r.HerokuDynos, r.HerokuSize, r.HerokuUSD, r.HerokuBinds, r.TargetPods, r.TargetNodes, math.Round(r.TargetUSD*100) / 100, r.TargetBinds}
				require.Equal(t, want, got, "%g×", r.Multiple)
			}
			require.Equal(t, tc.budget, p.Budget)
			require.InDelta(t, tc.herokuAt, p.HerokuAtBudget, 1e-9)
			require.InDelta(t, tc.targetAt, p.TargetAtBudget, 1e-9)
			require.InDelta(t, tc.carries, p.CurrentFleet.Carries, 1e-9)
			require.Equal(t, HoursPerMonth, p.HoursPerMonth)
			require.Contains(t, p.HerokuBinds, tc.herokuBinds)
			require.NotEmpty(t, p.TargetBinds)
		})
	}
}

func TestComputeScalabilityLimit(t *testing.T) {
	in := testInputs()
	// Peaks near 3 replicas at about 300 req/s: 10× (1,000 req/s) is out of reach.
	in.Target.Fit = USL{Lambda: 200, Sigma: 0.1, Kappa: 0.1}
	p, err := Compute(in)
	require.NoError(t, err)
	last := p.Rows[len(p.Rows)-1]
	require.True(t, last.TargetOutOfReach)
	require.Zero(t, last.TargetUSD)
	require.Contains(t, last.TargetBinds, BindScaling)
}

func TestComputeLinear(t *testing.T) {
	in := testInputs()
	in.Target.Fit = USL{Lambda: 200, Sigma: 0.1, Kappa: 0.1}
	in.Linear = true
	p, err := Compute(in)
	require.NoError(t, err)
	last := p.Rows[len(p.Rows)-1]
	require.False(t, last.TargetOutOfReach)
	require.Equal(t, 5, last.TargetPods, "1,000 req/s at 200 a pod")
	require.True(t, p.Linear)
}

func TestComputeRejectsUnmeasured(t *testing.T) {
	in := testInputs()
	in.Target.PeakMemoryMB = 0
	_, err := Compute(in)
	require.ErrorContains(t, err, "target: CPU per request and peak memory must be measured")
	in = testInputs()
	in.CurrentSize = "nope"
	_, err = Compute(in)
	require.ErrorContains(t, err, `the current dyno size "nope"`)
}
