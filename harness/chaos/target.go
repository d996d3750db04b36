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
}

func newReplicaKill(p params, target string, dur time.Duration) (Fault, error) {
	return replicaKill{platform: platform.Target, replica: target}, nil
}

func (k replicaKill) Start(ctx context.Context, env *Env) error {
	p, name, err := platformOf(env, k.platform, platform.Target)
	if err != nil {
		return err
	}
	killer, ok := p.(platform.ReplicaKiller)
	if !ok {
		return fmt.Errorf("platform %s cannot kill replicas", name)
	}
	rep, err := pickReplica(env, p, k.replica)
	if err != nil {
		return err
	}
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
	rs, ok := p.(platform.Restarter)
	if !ok {
		return fmt.Errorf("platform %s cannot restart replicas", name)
	}
	return rs.Restart(ctx, "")
}

// scale sets a platform's replica count (one shot: a later scale step
// changes it again).
type scale struct {
	platform string
	replicas int
}

func newScale(p params, target string, dur time.Duration) (Fault, error) {
	n, err := p.int("replicas", -1, 0, 100)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, &ParamError{Param: "replicas", Msg: "replicas: required"}
	}
	return scale{platform: target, replicas: n}, nil
}

func (s scale) Start(ctx context.Context, env *Env) error {
	p, _, err := platformOf(env, s.platform, platform.Target)
	if err != nil {
		return err
	}
	return p.Scale(ctx, s.replicas)
}

// NodeDrainer is implemented by Kubernetes targets with several nodes.
type NodeDrainer interface {
	DrainNode(ctx context.Context, node string) error
	UncordonNode(ctx context.Context, node string) error
}

// nodeDrain drains a node of the target cluster; healing uncordons it.
type nodeDrain struct{ node string }

var _ Healer = nodeDrain{}

func newNodeDrain(p params, target string, dur time.Duration) (Fault, error) {
	return nodeDrain{node: target}, nil
}

func (n nodeDrain) drainer(env *Env) (NodeDrainer, error) {
	if env.Target == nil {
		return nil, fmt.Errorf("no target platform in this run")
	}
	d, ok := env.Target.(NodeDrainer)
	if !ok {
		return nil, fmt.Errorf("target platform %s has no nodes to drain (use target kind or kubeconfig)", env.Target.Name())
	}
	return d, nil
}

func (n nodeDrain) Start(ctx context.Context, env *Env) error {
	d, err := n.drainer(env)
	if err != nil {
		return err
	}
	return d.DrainNode(ctx, n.node)
}

func (n nodeDrain) Heal(ctx context.Context, env *Env) error {
	d, err := n.drainer(env)
	if err != nil {
		return err
	}
	return d.UncordonNode(ctx, n.node)
}
