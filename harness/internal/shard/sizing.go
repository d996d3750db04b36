package shard

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Capacity is what one worker process needs, as measured: the CPU time it
// spends per attempt it sends (sending, reading the answer, streaming
// both operations to the coordinator) and its peak resident memory. A
// worker in a process of its own measures both (WorkerOptions.Measure,
// End.CPU and End.PeakRSS); every sharded run reports them per worker.
type Capacity struct {
	CPUPerRequest time.Duration
	PeakRSS       int64
}

// MeasuredCPUPerRequest and MeasuredPeakRSS are a worker's capacity
// measured in a pod of the kind cluster on this repository's 2-core
// machine on 2026-12-05: `cutover run scenarios/worker-lost.yaml --target
// kind`, whose summary reported 1.1 ms of CPU per request and 62 MB peak
// memory for its shard workers. A cluster with faster nodes needs less;
// the run checks each worker against what its pod asked for
// (Sizing.Check).
const (
	MeasuredCPUPerRequest = 1100 * time.Microsecond
	MeasuredPeakRSS       = 62 << 20
)

// Measured is the measured capacity (MeasuredCPUPerRequest,
// MeasuredPeakRSS).
func Measured() Capacity {
	return Capacity{CPUPerRequest: MeasuredCPUPerRequest, PeakRSS: MeasuredPeakRSS}
}

// Sizing is what a worker pod asks of its node.
type Sizing struct {
	// MilliCPU is the CPU request in thousandths of a core and
	// MilliCPULimit the limit: four times the request, at least a core, so
	// that only a worker using far more than it was sized for is
	// throttled (and flagged undersized beforehand).
	MilliCPU, MilliCPULimit int64
	// Memory is the memory request and MemoryLimit the limit, in bytes.
	Memory, MemoryLimit int64
	// PerRequest and Rate are what MilliCPU was derived from: the CPU per
	// request and the requests per second one worker sends at the peak.
	PerRequest time.Duration
	Rate       float64
}

const (
	// imbalance is how far above an even share of the requests one shard
	// may send at the peak: shards split virtual clients, not requests.
	imbalance = 1.5
	// minMilliCPU keeps an idle stage's worker schedulable and alive.
	minMilliCPU = 50
	mib         = 1 << 20
)

// Size is the pod request for a worker of shards that together send
// peakRate requests per second at most: CPU for its share of the peak
// (times imbalance), memory twice the measured peak (the plan of a larger
// trace is larger); limits of four times the CPU (at least a core) and
// eight times the memory.
func (c Capacity) Size(peakRate float64, shards int) Sizing {
	rate := peakRate * imbalance / float64(max(shards, 1))
	// Rounded to a millionth first: 1500 × 1.1 ms is 1650m, not 1651m.
	milli := int64(math.Ceil(math.Round(rate*c.CPUPerRequest.Seconds()*1000*1e6) / 1e6))
	mem := (2*c.PeakRSS + mib - 1) / mib * mib
	milli = max(milli, minMilliCPU)
	return Sizing{MilliCPU: milli, MilliCPULimit: max(4*milli, 1000), Memory: mem, MemoryLimit: 8 * mem, PerRequest: c.CPUPerRequest, Rate: rate}
}

// Check compares what a worker used with what its pod was sized for: it
// says where the worker needed more — CPU per request above the figure
// the CPU request was derived from, peak memory above the memory request
// — or "" when the sizing held. A zero figure (not measured) is not
// judged.
func (s Sizing) Check(used Capacity) string {
	var over []string
	if used.CPUPerRequest > s.PerRequest {
		over = append(over, fmt.Sprintf("%.2f ms of CPU per request where its CPU request assumed %.2f ms",
			float64(used.CPUPerRequest.Microseconds())/1000, float64(s.PerRequest.Microseconds())/1000))
	}
	if used.PeakRSS > s.Memory {
		over = append(over, fmt.Sprintf("%d MiB of memory where its pod asked for %d MiB", used.PeakRSS/mib, s.Memory/mib))
	}
	if len(over) == 0 {
		return ""
	}
	return "used " + strings.Join(over, " and ")
}
