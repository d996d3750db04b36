package capacity

// Node reservation: what the kubelet, the container runtime and the
// operating system keep of a node, so pods can request only the rest
// (the node's "allocatable"). The tiers are GKE's, documented at
// https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes#memory_and_cpu_reservations
// (EKS's AMI reserves CPU with the same tiers; its memory reservation,
// 11 MiB per pod plus 255 MiB, is smaller on the nodes priced here, so
// GKE's is the cautious choice):
//
//	memory: 25% of the first 4 GiB, 20% of the next 4 GiB, 10% of the next
//	        8 GiB, 6% of the next 112 GiB, 2% above 128 GiB, plus a 100 MiB
//	        eviction threshold;
//	CPU:    6% of the first core, 1% of the next, 0.5% of the next 2,
//	        0.25% of every core above 4.

// EvictionMiB is the kubelet's hard eviction threshold for memory.
const EvictionMiB = 100

// MaxPodsPerNode is Kubernetes' default pod limit per node.
const MaxPodsPerNode = 110

type tier struct{ upTo, share float64 }

var (
	memTiers = []tier{{4, 0.25}, {8, 0.20}, {16, 0.10}, {128, 0.06}, {1e18, 0.02}} // GiB
	cpuTiers = []tier{{1, 0.06}, {2, 0.01}, {4, 0.005}, {1e18, 0.0025}}            // cores
)

func tiered(total float64, tiers []tier) float64 {
	var r, from float64
	for _, t := range tiers {
		if total <= from {
			break
		}
		r += (min(total, t.upTo) - from) * t.share
		from = t.upTo
	}
	return r
}

// ReservedMemoryMiB is the memory a node of memGiB keeps for the system,
// eviction threshold included.
func ReservedMemoryMiB(memGiB float64) float64 { return tiered(memGiB, memTiers)*1024 + EvictionMiB }

// ReservedCores is the CPU a node of vcpu cores keeps for the system.
func ReservedCores(vcpu float64) float64 { return tiered(vcpu, cpuTiers) }

// Allocatable is what pods can request on a node of instance type in.
func Allocatable(in Instance) (cores, memMiB float64) {
	return in.VCPU - ReservedCores(in.VCPU), in.MemoryGiB*1024 - ReservedMemoryMiB(in.MemoryGiB)
}
