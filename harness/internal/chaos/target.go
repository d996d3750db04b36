package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/cutover/cutover/harness/platform"
)

// replicaKill kills one replica of a platform (default the target).
type replicaKill struct {
	platform, replica string
	picked            string // the replica killed
}

func newReplicaKill(p params, target string, dur time.Duration) (Fault, error) {
	return &replicaKill{platform: platform.Target, replica: target}, nil
}

func (k *replicaKill) Start(ctx context.Context, env *Env) error {
	p, name, err := platformOf(env, k.platform, platform.Target)
	if err != nil {
		return err
	}
	killer, err := asKiller(p)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	rep, err := pickReplica(env, p, k.replica)
	if err != nil {
		return err
	}
	k.picked = rep
	return killer.KillReplica(ctx, rep)
}

// rollingRestart restarts every replica of a platform gracefully.
type rollingRestart struct{ platform string }

func newRollingRestart(p params, target string, dur time.Duration) (Fault, error) {
	return rollingRestart{platform: target}, nil
}

func (r rollingRestart) Start(ctx context.Context, env *Env) error {
	p, name, err := platformOf(env, r.platform, platform.Target)
	if err != nil {
		return err
	}
	rs, err := asRestarter(p)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return rs.Restart(ctx, "")
}

// scale sets a platform's replica count (one shot: a later scale step
// changes it again).
type scale struct {
	platform string
	replicas int
	// before and after are the replicas the platform reported around the
	// change (after: once it settled, or when the start returned).
	before, after int
}

func newScale(p params, target string, dur time.Duration) (Fault, error) {
	n, err := p.int("replicas", -1, 0, 100)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, &ParamError{Param: "replicas", Msg: "replicas: required"}
	}
	return &scale{platform: target, replicas: n}, nil
}

func (s *scale) Start(ctx context.Context, env *Env) error {
	p, _, err := platformOf(env, s.platform, platform.Target)
	if err != nil {
		return err
	}
	s.before = liveReplicas(p)
	err = p.Scale(ctx, s.replicas)
	s.after = liveReplicas(p)
	return err
}

// liveReplicas counts the replicas that are up or starting.
func liveReplicas(p platform.Platform) int {
	n := 0
	for _, r := range p.Replicas() {
		if r.State == platform.Up || r.State == platform.Starting {
			n++
		}
	}
	return n
}

func asKiller(p platform.Platform) (platform.ReplicaKiller, error) {
	k, ok := p.(platform.ReplicaKiller)
	if !ok {
		return nil, fmt.Errorf("platform %s cannot kill replicas", p.Name())
	}
	return k, nil
}

func asRestarter(p platform.Platform) (platform.Restarter, error) {
	r, ok := p.(platform.Restarter)
	if !ok {
		return nil, fmt.Errorf("platform %s cannot restart replicas", p.Name())
	}
	return r, nil
}

// NodeDrainer is a Kubernetes target with nodes to drain: DrainNode does
// what `kubectl drain` does (cordon, evict through the Eviction API with
// the PodDisruptionBudget honoured, wait for replacements) and returns the
// node it drained ("" picks the busiest); Uncordon makes it schedulable
// again.
type NodeDrainer interface {
	DrainNode(ctx context.Context, node string) (string, error)
	Uncordon(ctx context.Context, node string) error
}

func asDrainer(p platform.Platform) (NodeDrainer, error) {
	d, ok := p.(NodeDrainer)
	if !ok {
		return nil, fmt.Errorf("target platform %s has no nodes to drain (use target kind or kubeconfig)", p.Name())
	}
	return d, nil
}

// nodeDrain drains a node of the target cluster; healing uncordons it.
type nodeDrain struct {
	node    string
	drained string // the node it drained
}

var _ Healer = (*nodeDrain)(nil)

func newNodeDrain(p params, target string, dur time.Duration) (Fault, error) {
	return &nodeDrain{node: target}, nil
}

func (n *nodeDrain) drainer(env *Env) (NodeDrainer, error) {
	if env.Target == nil {
		return nil, fmt.Errorf("no target platform in this run")
	}
	return asDrainer(env.Target)
}

func (n *nodeDrain) Start(ctx context.Context, env *Env) error {
	d, err := n.drainer(env)
	if err != nil {
		return err
	}
	n.drained, err = d.DrainNode(ctx, n.node)
	return err
}

func (n *nodeDrain) Heal(ctx context.Context, env *Env) error {
	d, err := n.drainer(env)
	if err != nil {
		return err
	}
	node := n.drained
	if node == "" {
		node = n.node
	}
	if node == "" {
		return nil
	}
	return d.Uncordon(ctx, node)
}
