package capacity

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// A node of testPrices has 1.93 cores and 6,249 MiB allocatable; pods
// request 0.6 cores (0.5 p95 + 20 %).
func TestComputeBulkDeployment(t *testing.T) {
	type split struct {
		web, bulk, nodes int
		usd, saves       float64
	}
	tests := []struct {
		name string
		// memory of one replica: at its peak (bulk work included), without
		// bulk work, and on bulk work
		peak, web, bulk float64
		oneNodes        []int // one Deployment, at 1, 5, 10×
		splits          []split
		// at a $150 budget: one Deployment, split
		oneAt, splitAt float64
		summary        string
	}{
		{
			name: "bulk memory dominates: the split packs web pods three to a node",
			peak: 2500, web: 300, bulk: 2500,
			// 3,000 MB pods, two to a node: 1, 3, 5 pods → 1, 2, 3 nodes.
			oneNodes: []int{1, 2, 3},
			splits: []split{
				// The 3,000 MB bulk pod and two 360 MB web pods share a node.
				{1, 1, 1, 73, 0},
				{3, 1, 2, 146, 0},
				// bulk + 2 web, then 3 web: two nodes, not three.
				{5, 1, 2, 146, 73},
			},
			// $150 is two nodes: 4 pods (8×) as one Deployment; the bulk
			// pod and 5 web pods (10×) split.
			oneAt: 8, splitAt: 10,
			summary: "at 10× it takes 5 web and 1 bulk pods on 2 × node ($146/month) against 5 pods on 3 × node ($219): it saves $73 a month",
		},
		{
			name: "bulk memory does not dominate: the bulk pod only adds a pod",
			peak: 300, web: 300, bulk: 300,
			oneNodes: []int{1, 1, 2},
			splits: []split{
				{1, 1, 1, 73, 0},
				// 4 pods of 0.6 cores, three to a node.
				{3, 1, 2, 146, -73},
				{5, 1, 2, 146, 0},
			},
			oneAt: 12, splitAt: 10,
			summary: "it saves $0 a month",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := testInputs()
			in.Budget = 150
			in.BulkDeployment = true
			in.BulkRate = 0.01 // at 10×, 0.1 a second of 1 s each: one pod
			in.Target.PeakMemoryMB, in.Target.WebPeakMemoryMB = tc.peak, tc.web
			in.Target.Bulk = Bulk{PeakMemoryMB: tc.bulk, CPUCores: 0.5, Requests: 2, LatencyS: 1}
			p, err := Compute(in)
			require.NoError(t, err)
			require.Len(t, p.Rows, 3)
			for i, r := range p.Rows {
				require.Equal(t, tc.oneNodes[i], r.TargetNodes, "%g× one Deployment", r.Multiple)
				require.NotNil(t, r.Split)
				got := split{r.Split.WebPods, r.Split.BulkPods, r.Split.Nodes, math.Round(r.Split.USD), math.Round(r.Split.SavesUSD)}
				require.Equal(t, tc.splits[i], got, "%g× split", r.Multiple)
				require.Equal(t, BindCPU, r.Split.Binds, "web pods of 360 MB are limited by CPU")
			}
			require.InDelta(t, tc.oneAt, p.TargetAtBudget, 1e-9)
			require.NotNil(t, p.BulkDeployment)
			require.InDelta(t, tc.splitAt, p.BulkDeployment.AtBudget, 1e-9)
			require.InDelta(t, 360, p.BulkDeployment.WebPodMemoryMB, 1e-9)
			require.InDelta(t, tc.bulk*1.2, p.BulkDeployment.BulkPodMemoryMB, 1e-9)
			require.InDelta(t, 0.6, p.BulkDeployment.BulkPodCPU, 1e-9)
			require.Contains(t, p.BulkDeployment.Summary, tc.summary)
		})
	}
}

func TestComputeWithoutBulkDeployment(t *testing.T) {
	p, err := Compute(testInputs())
	require.NoError(t, err)
	require.Nil(t, p.BulkDeployment)
	for _, r := range p.Rows {
		require.Nil(t, r.Split)
	}
	in := testInputs()
	in.BulkDeployment = true
	_, err = Compute(in)
	require.ErrorContains(t, err, "bulk deployment: the bulk work's memory and CPU must be measured")
}

func TestBulkPods(t *testing.T) {
	for _, tc := range []struct {
		name          string
		rate, latency float64
		multiple      float64
		want          int
	}{
		{"no bulk request measured: one pod", 0, 0, 10, 1},
		{"a few imports: one pod", 0.01, 2, 10, 1},
		// 1/s × 2 s × 10 × 1.2 = 24 in flight.
		{"a steady stream: Little's law", 1, 2, 10, 24},
		{"half the multiple, half the pods", 1, 2, 5, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInputs()
			in.BulkRate = tc.rate
			in.Target.Bulk.LatencyS = tc.latency
			require.Equal(t, tc.want, in.bulkPods(tc.multiple))
		})
	}
}

func TestPack(t *testing.T) {
	node := Instance{Name: "node", VCPU: 2, MemoryGiB: 8} // 1.93 cores, 6,249 MiB
	for _, tc := range []struct {
		name   string
		shapes []podShape
		want   int
		ok     bool
	}{
		{"identical pods: as many nodes as ceil(pods / per node)", []podShape{{cpu: 0.6, mem: 360, count: 7}}, 3, true},
		{"a big pod first, small ones in what it leaves", []podShape{{cpu: 0.6, mem: 360, count: 2}, {cpu: 0.6, mem: 3000, count: 1}}, 1, true},
		{"two big pods cannot share", []podShape{{cpu: 0.1, mem: 3500, count: 2}}, 2, true},
		{"the pod limit", []podShape{{cpu: 0.001, mem: 1, count: MaxPodsPerNode + 1}}, 2, true},
		{"a pod no node holds", []podShape{{cpu: 0.1, mem: 7000, count: 1}}, 0, false},
		{"no pods", []podShape{{cpu: 0.1, mem: 100, count: 0}}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := pack(tc.shapes, node)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, n)
		})
	}
}
