package capacity

import (
	"errors"
	"fmt"
	"math"
)

// Profile is what was measured of one platform's replicas under the
// recorded mix, at the highest rate they sustained within the budgets.
type Profile struct {
	// Fit is the scalability fit of sustained throughput against replicas.
	Fit USL `json:"fit"`
	// CPUPerRequest is the CPU-seconds one request costs a replica.
	CPUPerRequest float64 `json:"cpu_s_per_request"`
	// CPUCoresP95 is the 95th percentile of one replica's CPU use, in
	// cores, at its highest sustained rate.
	CPUCoresP95 float64 `json:"cpu_cores_p95"`
	// PeakMemoryMB is the most memory one replica held (the bulk import
	// and export set it, when the trace has them).
	PeakMemoryMB float64 `json:"peak_memory_mb"`
	// LatencyP95S is the p95 latency at that rate, in seconds (with the
	// rate, Little's law gives the requests in flight).
	LatencyP95S float64 `json:"latency_p95_s"`
	// WebPeakMemoryMB is the most memory one replica held while no bulk
	// import or export was in flight on its platform: what a web pod needs
	// when bulk work runs in a Deployment of its own (0: not measured
	// apart, PeakMemoryMB is used).
	WebPeakMemoryMB float64 `json:"web_peak_memory_mb"`
	// Bulk is what the bulk endpoints used.
	Bulk Bulk `json:"bulk"`
	// DBCPUPerRequest is the CPU-seconds Postgres spent per request the
	// platform served, and DBCoresP95 the p95 of its CPU in cores, at the
	// same probe as CPUPerRequest.
	DBCPUPerRequest float64 `json:"db_cpu_s_per_request"`
	DBCoresP95      float64 `json:"db_cores_p95"`
}

// Inputs are everything a plan is computed from.
type Inputs struct {
	// PeakRate is the recorded peak, in requests per second at 1×.
	PeakRate       float64
	Heroku, Target Profile
	Prices         Prices
	// Headroom is the share kept spare (0.2 = 20 %): added to the pod
	// requests and to the memory a dyno must have, and to the traffic the
	// Heroku fleet is sized for (a dyno cannot reserve CPU).
	Headroom float64
	// CurrentDynos and CurrentSize are the Heroku fleet today.
	CurrentDynos int
	CurrentSize  string
	// Budget is the monthly budget to compare at; 0 means what the
	// current Heroku fleet costs.
	Budget float64
	// Multiples are the traffic multiples to size for; default 1…10.
	Multiples []float64
	// Linear sizes with λN instead of the fit (σ = κ = 0): what replicas
	// on hosts of their own would do when the measured contention was the
	// shared rehearsal machine's rather than the service's.
	Linear bool
	// BulkDeployment prices, beside the target as one Deployment, the
	// target with bulk work (voucher import and export) in a Deployment
	// of its own: web pods sized without the bulk memory floor, bulk pods
	// with their own requests, bin-packed together (Row.Split,
	// Plan.BulkDeployment). Heroku routes HTTP only to its web process
	// type, so there the bulk endpoints stay on every web dyno.
	BulkDeployment bool
	// BulkRate is the trace's rate of bulk requests at 1×, per second
	// (0: unknown; one bulk pod is planned).
	BulkRate float64
	// Database is what the database has: a demand it cannot carry is out
	// of reach on either platform, whatever the fleet.
	Database Database
}

// RouterInFlightPerDyno is the Heroku router's request counter per web
// dyno (200n; heroku-facts.md §1.3): more requests in flight on one router
// get H11.
const RouterInFlightPerDyno = 200

// Plan is the answer: the fleet and monthly cost of each platform at each
// multiple, what each platform carries at the budget, and what binds.
type Plan struct {
	PeakRate      float64 `json:"peak_rate_rps"`
	Headroom      float64 `json:"headroom"`
	HoursPerMonth int     `json:"hours_per_month"`
	PricesFile    string  `json:"prices_file"`
	// Linear is true when replicas were sized as λN, not by the fit.
	Linear bool  `json:"linear"`
	Rows   []Row `json:"rows"`
	// Budget is the monthly budget compared at; HerokuAtBudget and
	// TargetAtBudget the traffic multiple each platform carries for it.
	Budget         float64 `json:"budget_usd"`
	HerokuAtBudget float64 `json:"heroku_multiple_at_budget"`
	TargetAtBudget float64 `json:"target_multiple_at_budget"`
	// CurrentFleet is today's Heroku fleet and the multiple it carries.
	CurrentFleet Fleet `json:"current_fleet"`
	// HerokuBinds and TargetBinds say which resource binds first on each
	// platform (at 1×), in a sentence.
	HerokuBinds string `json:"heroku_binds"`
	TargetBinds string `json:"target_binds"`
	// Database is what was assumed of the database, and HerokuDatabase and
	// TargetDatabase what it carries for each platform.
	Database       Database `json:"database"`
	HerokuDatabase Ceiling  `json:"heroku_database"`
	TargetDatabase Ceiling  `json:"target_database"`
	// BulkDeployment is the target with bulk work as its own Deployment
	// (only with Inputs.BulkDeployment); each row's Split has its fleet.
	BulkDeployment *BulkPlan `json:"bulk_deployment,omitempty"`
}

// Fleet is a Heroku fleet: dynos of one size.
type Fleet struct {
	Dynos      int     `json:"dynos"`
	Size       string  `json:"size"`
	MonthlyUSD float64 `json:"monthly_usd"`
	// Carries is the traffic multiple it carries within the budgets.
	Carries float64 `json:"carries_multiple"`
}

// Row is one traffic multiple.
type Row struct {
	Multiple  float64 `json:"multiple"`
	DemandRPS float64 `json:"demand_rps"`

	HerokuDynos int     `json:"heroku_dynos"`
	HerokuSize  string  `json:"heroku_size"`
	HerokuUSD   float64 `json:"heroku_monthly_usd"`
	HerokuBinds string  `json:"heroku_binds"`
	// HerokuOutOfReach: no fleet of any size carries the demand (the
	// fit stops growing, or no size holds the memory); the figures are 0.
	HerokuOutOfReach bool `json:"heroku_out_of_reach,omitempty"`

	TargetPods  int     `json:"target_pods"`
	TargetNodes int     `json:"target_nodes"`
	TargetType  string  `json:"target_instance"`
	TargetUSD   float64 `json:"target_monthly_usd"`
	TargetBinds string  `json:"target_binds"`
	// TargetOutOfReach: no number of pods carries the demand.
	TargetOutOfReach bool `json:"target_out_of_reach,omitempty"`
	// PodCPU and PodMemoryMB are the pod requests.
	PodCPU      float64 `json:"pod_cpu_request"`
	PodMemoryMB float64 `json:"pod_memory_request_mb"`
	// Split is the target with bulk work as its own Deployment (only
	// with Inputs.BulkDeployment).
	Split *SplitRow `json:"bulk_deployment,omitempty"`
}

// Resources that bind.
const (
	BindMemory  = "memory"
	BindCPU     = "cpu"
	BindBudget  = "latency budget"
	BindRouter  = "router in-flight cap"
	BindMaxPods = "pods per node"
	BindScaling = "scalability limit"
)

// herokuSizing is the cheapest Heroku fleet for a demand.
type herokuSizing struct {
	dynos int
	size  Dyno
	usd   float64
	binds string
}

// target sizing for a demand.
type targetSizing struct {
	pods, nodes int
	in          Instance
	usd         float64
	binds       string
}

func (in Inputs) check() error {
	var errs []error
	if in.PeakRate <= 0 {
		errs = append(errs, errors.New("peak rate: must be positive"))
	}
	for name, p := range map[string]Profile{"heroku": in.Heroku, "target": in.Target} {
		if p.Fit.Lambda <= 0 {
			errs = append(errs, fmt.Errorf("%s: no throughput fit", name))
		}
		if p.CPUPerRequest <= 0 || p.PeakMemoryMB <= 0 {
			errs = append(errs, fmt.Errorf("%s: CPU per request and peak memory must be measured (got %g s, %g MB)", name, p.CPUPerRequest, p.PeakMemoryMB))
		}
	}
	if in.Headroom < 0 {
		errs = append(errs, errors.New("headroom: negative"))
	}
	if in.BulkDeployment && (in.Target.Bulk.PeakMemoryMB <= 0 || in.Target.Bulk.CPUCores <= 0) {
		errs = append(errs, fmt.Errorf("bulk deployment: the bulk work's memory and CPU must be measured (got %g MB, %g cores)", in.Target.Bulk.PeakMemoryMB, in.Target.Bulk.CPUCores))
	}
	if err := in.Database.check(); err != nil {
		errs = append(errs, err)
	}
	if in.BulkRate < 0 {
		errs = append(errs, errors.New("bulk rate: negative"))
	}
	return errors.Join(errs...)
}

// Compute sizes and prices both platforms.
func Compute(in Inputs) (Plan, error) {
	if err := in.check(); err != nil {
		return Plan{}, fmt.Errorf("capacity plan: %w", err)
	}
	mult := in.Multiples
	if len(mult) == 0 {
		for m := 1; m <= 10; m++ {
			mult = append(mult, float64(m))
		}
	}
	if in.Linear {
		in.Heroku.Fit = USL{Lambda: in.Heroku.Fit.Lambda, Points: in.Heroku.Fit.Points, Note: "sized linearly (λN)"}
		in.Target.Fit = USL{Lambda: in.Target.Fit.Lambda, Points: in.Target.Fit.Points, Note: "sized linearly (λN)"}
	}
	p := Plan{PeakRate: in.PeakRate, Headroom: in.Headroom, HoursPerMonth: HoursPerMonth, PricesFile: in.Prices.File, Linear: in.Linear,
		Database: in.Database, HerokuDatabase: in.ceiling(in.Heroku), TargetDatabase: in.ceiling(in.Target)}
	for _, m := range mult {
		d := m * in.PeakRate
		r := Row{Multiple: m, DemandRPS: d}
		if h, ok := in.heroku(d, nil); ok {
			r.HerokuDynos, r.HerokuSize, r.HerokuUSD, r.HerokuBinds = h.dynos, h.size.Name, h.usd, h.binds
		} else {
			r.HerokuOutOfReach, r.HerokuBinds = true, h.binds
		}
		r.PodCPU, r.PodMemoryMB = in.podRequests()
		if t, ok := in.target(d); ok {
			r.TargetPods, r.TargetNodes, r.TargetType, r.TargetUSD, r.TargetBinds = t.pods, t.nodes, t.in.Name, t.usd, t.binds
		} else {
			r.TargetOutOfReach, r.TargetBinds = true, t.binds
		}
		if in.BulkDeployment {
			r.Split = in.splitRow(m, r)
		}
		p.Rows = append(p.Rows, r)
	}

	if in.CurrentDynos > 0 {
		size, ok := in.Prices.Dyno(in.CurrentSize)
		if !ok {
			return Plan{}, fmt.Errorf("capacity plan: the current dyno size %q is not in %s", in.CurrentSize, in.Prices.File)
		}
		p.CurrentFleet = Fleet{Dynos: in.CurrentDynos, Size: size.Name, MonthlyUSD: float64(in.CurrentDynos) * size.MonthlyUSD}
		p.CurrentFleet.Carries = largestMultiple(func(m float64) bool {
			h, ok := in.heroku(m*in.PeakRate, &size)
			return ok && h.dynos <= in.CurrentDynos
		})
	}
	p.Budget = in.Budget
	if p.Budget <= 0 {
		p.Budget = p.CurrentFleet.MonthlyUSD
	}
	if p.Budget > 0 {
		p.HerokuAtBudget = largestMultiple(func(m float64) bool {
			h, ok := in.heroku(m*in.PeakRate, nil)
			return ok && h.usd <= p.Budget
		})
		p.TargetAtBudget = largestMultiple(func(m float64) bool {
			t, ok := in.target(m * in.PeakRate)
			return ok && t.usd <= p.Budget
		})
	}
	p.HerokuBinds, p.TargetBinds = in.binds()
	p.HerokuBinds += "; " + dbSentence(p.Rows, func(r Row) (string, bool) { return r.HerokuBinds, r.HerokuOutOfReach }, p.HerokuDatabase)
	p.TargetBinds += "; " + dbSentence(p.Rows, func(r Row) (string, bool) { return r.TargetBinds, r.TargetOutOfReach }, p.TargetDatabase)
	if in.BulkDeployment {
		p.BulkDeployment = in.bulkPlan(p)
	}
	return p, nil
}

// perDyno is what one dyno of size s serves within the budgets: the
// measured rate of one replica, or less when the size's CPU share cannot
// pay for it.
func (in Inputs) perDyno(s Dyno) (float64, string) {
	measured := in.Heroku.Fit.Lambda
	cpu := s.Cores / in.Heroku.CPUPerRequest
	if cpu < measured {
		return cpu, BindCPU
	}
	return measured, BindBudget
}

// heroku sizes the Heroku fleet for demand (requests/s): one size for
// every web dyno, at least the peak memory plus headroom (R14 above the
// quota); the fewest dynos whose projected throughput carries the demand
// plus headroom, and enough for the router's in-flight counter; the
// cheapest such fleet (or of the size given).
func (in Inputs) heroku(demand float64, only *Dyno) (herokuSizing, bool) {
	needMem := in.Heroku.PeakMemoryMB * (1 + in.Headroom)
	best := herokuSizing{usd: math.Inf(1), binds: BindMemory + ": no dyno size holds the peak memory"}
	if why, out := in.dbBinds(in.Heroku, demand, 0); out {
		best.binds = why
		return best, false
	}
	found := false
	for _, s := range in.Prices.Heroku {
		if only != nil && s.Name != only.Name {
			continue
		}
		if s.MemoryMB < needMem {
			continue
		}
		per, binds := in.perDyno(s)
		n := in.Heroku.Fit.ReplicasFor(demand*(1+in.Headroom), per)
		if n == 0 {
			if !found {
				best.binds = BindScaling + ": the fit stops growing before this demand"
			}
			continue
		}
		if r := int(math.Ceil(demand * in.Heroku.LatencyP95S / RouterInFlightPerDyno)); r > n {
			n, binds = r, BindRouter
		}
		if why, out := in.dbBinds(in.Heroku, demand, n); out {
			if !found {
				best.binds = why
			}
			continue
		}
		usd := float64(n) * s.MonthlyUSD
		if usd < best.usd || (usd == best.usd && n < best.dynos) {
			best = herokuSizing{dynos: n, size: s, usd: usd, binds: binds}
			found = true
		}
	}
	return best, found
}

// podRequests are a pod's CPU (cores) and memory (MB) requests: measured
// p95 CPU and peak memory, plus headroom.
func (in Inputs) podRequests() (cpu, memMB float64) {
	cpu = in.Target.CPUCoresP95
	if cpu <= 0 {
		cpu = in.Target.CPUPerRequest * in.Target.Fit.Lambda
	}
	return cpu * (1 + in.Headroom), in.Target.PeakMemoryMB * (1 + in.Headroom)
}

// target sizes the target for demand: the fewest pods whose projected
// throughput carries it, bin-packed onto the cheapest set of nodes of one
// instance type after the system reservation, plus the control plane.
func (in Inputs) target(demand float64) (targetSizing, bool) {
	pods := in.Target.Fit.ReplicasFor(demand, in.Target.Fit.Lambda)
	if pods == 0 {
		return targetSizing{binds: BindScaling + ": the fit stops growing before this demand"}, false
	}
	if why, out := in.dbBinds(in.Target, demand, pods); out {
		return targetSizing{binds: why}, false
	}
	cpu, mem := in.podRequests()
	return in.cheapestNodes(podShape{cpu: cpu, mem: mem, count: pods}, nil)
}

// cheapestNodes bin-packs the web pods (and the extra pods, if any) onto
// nodes of each instance type and keeps the cheapest. What binds is what
// limits the web pods on a node.
func (in Inputs) cheapestNodes(web podShape, extra []podShape) (targetSizing, bool) {
	best := targetSizing{pods: web.count, usd: math.Inf(1), binds: "no instance type holds one pod"}
	found := false
	for _, it := range in.Prices.EC2 {
		nodes, ok := pack(append([]podShape{web}, extra...), it)
		if !ok {
			continue
		}
		_, binds := perNode(it, web)
		usd := (float64(nodes)*it.HourlyUSD + in.Prices.EKS.HourlyUSD) * HoursPerMonth
		if usd < best.usd || (usd == best.usd && nodes < best.nodes) {
			best = targetSizing{pods: web.count, nodes: nodes, in: it, usd: usd, binds: binds}
			found = true
		}
	}
	return best, found
}

// binds says which resource binds first on each platform, at 1×.
func (in Inputs) binds() (heroku, target string) {
	d := in.PeakRate
	if h, ok := in.heroku(d, nil); ok {
		per, _ := in.perDyno(h.size)
		need := in.Heroku.PeakMemoryMB * (1 + in.Headroom)
		smallest := h.size
		for _, s := range in.Prices.Heroku {
			if s.MonthlyUSD < smallest.MonthlyUSD {
				smallest = s
			}
		}
		var size string
		switch {
		case smallest.Name == h.size.Name:
			size = fmt.Sprintf("a replica peaks at %.0f MB (%.0f MB with headroom): the cheapest size, %s (%.0f MB quota), holds it", in.Heroku.PeakMemoryMB, need, h.size.Name, h.size.MemoryMB)
		case smallest.MemoryMB < need:
			size = fmt.Sprintf("memory sets the size: a replica peaks at %.0f MB (%.0f MB with headroom), over %s's %.0f MB quota (R14), so every web dyno is %s (%.0f MB)", in.Heroku.PeakMemoryMB, need, smallest.Name, smallest.MemoryMB, h.size.Name, h.size.MemoryMB)
		default:
			size = fmt.Sprintf("%s carries the load cheapest (a replica peaks at %.0f MB)", h.size.Name, in.Heroku.PeakMemoryMB)
		}
		heroku = fmt.Sprintf("%s; then %s: one %s dyno serves %.0f req/s", size, h.binds, h.size.Name, per)
	} else {
		heroku = h.binds
	}
	if t, ok := in.target(d); ok {
		cpu, mem := in.podRequests()
		target = fmt.Sprintf("%s binds node packing: pods request %.2f cores and %.0f MB, on %s; one pod serves %.0f req/s within the budgets (%s)",
			t.binds, cpu, mem, t.in.Name, in.Target.Fit.Lambda, BindBudget)
	} else {
		target = t.binds
	}
	return heroku, target
}

// largestMultiple is the largest multiple, in steps of 0.1 up to 100,
// such that ok holds for it and for every smaller step.
func largestMultiple(ok func(m float64) bool) float64 {
	last := 0.0
	for i := 1; i <= 1000; i++ {
		m := float64(i) / 10
		if !ok(m) {
			break
		}
		last = m
	}
	return last
}
