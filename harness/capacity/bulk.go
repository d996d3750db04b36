package capacity

import (
	"fmt"
	"math"
	"sort"
)

// Bulk is what the bulk endpoints (voucher import and export) used. They
// set a replica's memory floor: on Heroku every web dyno must hold it,
// on the target they can run in a Deployment of their own.
type Bulk struct {
	// PeakMemoryMB is the most memory one replica held while a bulk
	// request was in flight on its platform, or while it was set up
	// (deployment, the seed data's bulk import, the warm-up).
	PeakMemoryMB float64 `json:"peak_memory_mb"`
	// CPUCores is the most CPU one replica used meanwhile, in cores (an
	// upper bound: the set-up's other work counts too).
	CPUCores float64 `json:"cpu_cores"`
	// Requests is how many bulk requests fell in the holds, and LatencyS
	// their mean time (0 when none did).
	Requests int     `json:"requests"`
	LatencyS float64 `json:"latency_s"`
}

// SplitRow is the target at one multiple with bulk work in a Deployment
// of its own.
type SplitRow struct {
	WebPods  int     `json:"web_pods"`
	BulkPods int     `json:"bulk_pods"`
	Nodes    int     `json:"nodes"`
	Instance string  `json:"instance"`
	USD      float64 `json:"monthly_usd"`
	Binds    string  `json:"binds"`
	// OutOfReach: no number of web pods carries the demand.
	OutOfReach bool `json:"out_of_reach,omitempty"`
	// SavesUSD is what the split saves a month against one Deployment
	// (negative: it costs more).
	SavesUSD float64 `json:"saves_usd"`
}

// BulkPlan is the pods of the split target and what it carries at the
// budget.
type BulkPlan struct {
	// WebPodCPU and WebPodMemoryMB are a web pod's requests: measured p95
	// CPU and the peak memory without bulk work, plus headroom.
	WebPodCPU      float64 `json:"web_pod_cpu_request"`
	WebPodMemoryMB float64 `json:"web_pod_memory_request_mb"`
	// BulkPodCPU and BulkPodMemoryMB are a bulk pod's requests: the most
	// CPU and memory a replica used on bulk work, plus headroom.
	BulkPodCPU      float64 `json:"bulk_pod_cpu_request"`
	BulkPodMemoryMB float64 `json:"bulk_pod_memory_request_mb"`
	// AtBudget is the traffic multiple the split target carries for the
	// plan's budget.
	AtBudget float64 `json:"target_multiple_at_budget"`
	// Summary says what splitting saves, in a sentence.
	Summary string `json:"summary"`
}

// podShape is count pods of one Deployment, by their requests.
type podShape struct {
	cpu, mem float64
	count    int
}

// nodeRoom is what is left on a node for pods to request.
type nodeRoom struct {
	cpu, mem float64
	pods     int
}

// fits is how many pods of shape s fit in r.
func (r nodeRoom) fits(s podShape) int {
	const eps = 1e-9 // what subtracting requests left over
	return min(int((r.cpu+eps)/s.cpu), int((r.mem+eps)/s.mem), r.pods)
}

func (r nodeRoom) take(s podShape, n int) nodeRoom {
	return nodeRoom{cpu: r.cpu - float64(n)*s.cpu, mem: r.mem - float64(n)*s.mem, pods: r.pods - n}
}

// perNode is how many pods of shape s an empty node of type it holds,
// and the resource that limits it.
func perNode(it Instance, s podShape) (int, string) {
	ac, am := Allocatable(it)
	byCPU, byMem := int(ac/s.cpu), int(am/s.mem)
	per, binds := byCPU, BindCPU
	if byMem < per {
		per, binds = byMem, BindMemory
	}
	if per > MaxPodsPerNode {
		per, binds = MaxPodsPerNode, BindMaxPods
	}
	return per, binds
}

// pack places the pods of every shape onto nodes of type it, first fit,
// the shapes with the largest memory request first (first-fit
// decreasing), and returns how many nodes it took; false when a pod fits
// no empty node.
func pack(shapes []podShape, it Instance) (int, bool) {
	ac, am := Allocatable(it)
	empty := nodeRoom{cpu: ac, mem: am, pods: MaxPodsPerNode}
	sorted := append([]podShape(nil), shapes...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].mem > sorted[j].mem })
	var nodes []nodeRoom
	for _, s := range sorted {
		if s.count <= 0 {
			continue
		}
		per := empty.fits(s)
		if per <= 0 {
			return 0, false
		}
		left := s.count
		for i := range nodes {
			if left == 0 {
				break
			}
			n := min(left, nodes[i].fits(s))
			if n > 0 {
				nodes[i] = nodes[i].take(s, n)
				left -= n
			}
		}
		for left > 0 {
			n := min(left, per)
			nodes = append(nodes, empty.take(s, n))
			left -= n
		}
	}
	return len(nodes), true
}

// splitRequests are the requests of a web pod (without the bulk memory
// floor) and of a bulk pod, headroom included.
func (in Inputs) splitRequests() (web, bulk podShape) {
	cpu, _ := in.podRequests()
	webMem := in.Target.WebPeakMemoryMB
	if webMem <= 0 {
		webMem = in.Target.PeakMemoryMB
	}
	h := 1 + in.Headroom
	web = podShape{cpu: cpu, mem: webMem * h}
	bulk = podShape{cpu: in.Target.Bulk.CPUCores * h, mem: in.Target.Bulk.PeakMemoryMB * h, count: 1}
	return web, bulk
}

// bulkPods is how many bulk pods carry the bulk requests of demand
// multiple m: the bulk requests in flight by Little's law (rate × mean
// time, plus headroom), one a pod, at least one.
func (in Inputs) bulkPods(m float64) int {
	inFlight := m * in.BulkRate * in.Target.Bulk.LatencyS * (1 + in.Headroom)
	return max(1, int(math.Ceil(inFlight)))
}

// split sizes the target at multiple m with bulk work as its own
// Deployment: the web pods the demand needs, sized without the bulk
// memory floor, and the bulk pods, packed together.
func (in Inputs) split(m float64) (targetSizing, int, bool) {
	pods := in.Target.Fit.ReplicasFor(m*in.PeakRate, in.Target.Fit.Lambda)
	if pods == 0 {
		return targetSizing{binds: BindScaling + ": the fit stops growing before this demand"}, 0, false
	}
	web, bulk := in.splitRequests()
	web.count = pods
	bulk.count = in.bulkPods(m)
	if why, out := in.dbBinds(in.Target, m*in.PeakRate, pods+bulk.count); out {
		return targetSizing{binds: why}, 0, false
	}
	t, ok := in.cheapestNodes(web, []podShape{bulk})
	return t, bulk.count, ok
}

// splitRow prices multiple m with the split, against the one-Deployment
// row r.
func (in Inputs) splitRow(m float64, r Row) *SplitRow {
	t, bulkPods, ok := in.split(m)
	if !ok {
		return &SplitRow{OutOfReach: true, Binds: t.binds}
	}
	s := &SplitRow{WebPods: t.pods, BulkPods: bulkPods, Nodes: t.nodes, Instance: t.in.Name, USD: t.usd, Binds: t.binds}
	if !r.TargetOutOfReach {
		s.SavesUSD = r.TargetUSD - t.usd
	}
	return s
}

// bulkPlan describes the split target: its pods, what it carries at the
// budget, and what it saves at the highest multiple both reach.
func (in Inputs) bulkPlan(p Plan) *BulkPlan {
	web, bulk := in.splitRequests()
	b := &BulkPlan{WebPodCPU: web.cpu, WebPodMemoryMB: web.mem, BulkPodCPU: bulk.cpu, BulkPodMemoryMB: bulk.mem}
	if p.Budget > 0 {
		b.AtBudget = largestMultiple(func(m float64) bool {
			t, _, ok := in.split(m)
			return ok && t.usd <= p.Budget
		})
	}
	_, oneMem := in.podRequests()
	pods := fmt.Sprintf("web pods request %.2f cores and %.0f MB (one Deployment: %.0f MB), bulk pods %.2f cores and %.0f MB", web.cpu, web.mem, oneMem, bulk.cpu, bulk.mem)
	for i := len(p.Rows) - 1; i >= 0; i-- {
		r := p.Rows[i]
		if r.TargetOutOfReach || r.Split == nil || r.Split.OutOfReach {
			continue
		}
		verb := "saves"
		saves := r.Split.SavesUSD
		if saves < 0 {
			verb, saves = "costs", -saves
		}
		b.Summary = fmt.Sprintf("bulk work as its own Deployment: %s; at %.0f× it takes %d web and %d bulk pods on %d × %s ($%.0f/month) against %d pods on %d × %s ($%.0f): it %s $%.0f a month",
			pods, r.Multiple, r.Split.WebPods, r.Split.BulkPods, r.Split.Nodes, r.Split.Instance, r.Split.USD, r.TargetPods, r.TargetNodes, r.TargetType, r.TargetUSD, verb, saves)
		return b
	}
	b.Summary = "bulk work as its own Deployment: " + pods + "; no multiple is in reach of both"
	return b
}
