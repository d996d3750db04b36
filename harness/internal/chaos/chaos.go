// Package chaos is the fault catalogue (Jepsen's nemesis): one small type
// per kind of disturbance — Heroku router and dyno faults, target replica
// faults, network toxics on the named proxy links, data-service faults, and
// the partner firewall — behind one tiny interface, configured from a
// scenario's fault parameters.
package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/stack"
)

// Fault is one disturbance. Start applies it; faults that can be undone
// also implement Healer. One-shot faults (a crash) have nothing to heal.
type Fault interface {
	Start(ctx context.Context, env *Env) error
}

// Healer is a fault that can be undone.
type Healer interface {
	Heal(ctx context.Context, env *Env) error
}

// Env is what faults act on. Fields a fault does not need may be nil; a
// fault whose target is missing fails with a clear error.
type Env struct {
	Stack   stack.Stack
	Heroku  platform.Platform
	Target  platform.Platform
	Proxies *toxiproxy.Client
	// Workers is the sharded replay's workers; nil when one process sends
	// the replay.
	Workers Workers
	// Rand draws every random choice of a fault (which replica, jitter).
	Rand *rand.Rand
}

// Spec is a fault as a scenario writes it.
type Spec struct {
	Name   string
	Kind   string
	Target string
	Params map[string]string
	// Duration is how long the fault lasts (zero: one-shot, or until
	// healed). Faults that run on the platform's own timer use it.
	Duration time.Duration
}

// kind describes one fault kind for the catalogue.
type kind struct {
	name   string
	about  string
	params []string
	build  func(p params, target string, dur time.Duration) (Fault, error)
	// on is the platform the fault acts on (heroku, aws) or "" for the
	// stack and its links; can checks that a platform has what the fault
	// needs — the same check the fault makes when it starts.
	on  string
	can func(platform.Platform) error
}

// catalogue lists every fault kind. It is a function so the catalogue is
// not package-level mutable state.
func catalogue() []kind {
	isHeroku := func(p platform.Platform) error { _, err := asHeroku(p); return err }
	canKill := func(p platform.Platform) error { _, err := asKiller(p); return err }
	canRestart := func(p platform.Platform) error { _, err := asRestarter(p); return err }
	canDrain := func(p platform.Platform) error { _, err := asDrainer(p); return err }
	anyPlatform := func(platform.Platform) error { return nil }
	return []kind{
		// Heroku router and dynos.
		{"router-timeout-burst", "H12s from Heroku's router: hold a share of responses past the 30 s window while the dyno has committed (hold: response), or hold Heroku's queries to Postgres so the client sees H12 before the dyno commits (hold: database)", []string{"hold", "share", "latency"}, newRouterTimeoutBurst, platform.Heroku, isHeroku},
		{"dyno-crash", "kill one dyno abruptly; Heroku restarts it (immediately the first time, then after cool-offs)", nil, newDynoCrash, platform.Heroku, isHeroku},
		{"app-crash", "crash every dyno: the router answers H10 until they are back", nil, newAppCrash, platform.Heroku, isHeroku},
		{"dyno-cycle", "cycle dynos now (SIGTERM, SIGKILL after the grace), as the daily restart does", nil, newDynoCycle, platform.Heroku, isHeroku},
		{"memory-leak", "make one dyno's measured memory grow (R14 over the quota, then R15 and a kill)", []string{"mb_per_s", "to_mb"}, newMemoryLeak, platform.Heroku, isHeroku},
		{"maintenance", "maintenance mode: the router answers H80 with the maintenance page", nil, newMaintenance, platform.Heroku, isHeroku},
		{"router-restart", "restart the router node: in-flight requests are cut (H13/H18 burst)", nil, newRouterRestart, platform.Heroku, isHeroku},
		{"flaky-router", "the router fails a share of requests at random while the status page says all green", []string{"rate", "code"}, newFlakyRouter, platform.Heroku, isHeroku},
		// Target platform.
		{"replica-kill", "kill one target replica (or pod) abruptly", nil, newReplicaKill, platform.Target, canKill},
		{"rolling-restart", "rolling restart of the target (surge one, wait ready, stop one)", nil, newRollingRestart, platform.Target, canRestart},
		{"scale", "scale a platform (target heroku or aws) to a number of replicas (one shot)", []string{"replicas"}, newScale, platform.Target, anyPlatform},
		{"node-drain", "drain a Kubernetes node (kind, kubeconfig); healing uncordons it", nil, newNodeDrain, platform.Target, canDrain},
		// Network, on the proxy links by name (globs allowed: "*->postgres").
		{"latency", "add latency with jitter on proxy links", []string{"latency", "jitter", "stream"}, newLatency, "", anyPlatform},
		{"bandwidth", "limit bandwidth on proxy links", []string{"rate_kbps", "stream"}, newBandwidth, "", anyPlatform},
		{"timeout", "stop all data on proxy links and close after a timeout (0 = never)", []string{"timeout", "stream"}, newTimeoutToxic, "", anyPlatform},
		{"reset-peer", "reset connections (TCP RST) on proxy links after a timeout", []string{"timeout", "stream"}, newResetPeer, "", anyPlatform},
		{"link-down", "take proxy links down: connections refused", nil, newLinkDown, "", anyPlatform},
		// Data services.
		{"postgres-crash", "kill Postgres (SIGKILL / container kill); restart it when the fault heals", nil, newPostgresCrash, "", anyPlatform},
		{"postgres-read-only", "Postgres read-only, as in Heroku maintenance: writes fail with SQLSTATE 25006", nil, newPostgresReadOnly, "", anyPlatform},
		{"redis-flush", "drop every key of Redis", nil, newRedisFlush, "", anyPlatform},
		{"redis-restart", "restart Redis: it comes back empty", nil, newRedisRestart, "", anyPlatform},
		{"mongo-unavailable", "Mongo unreachable from every platform (its links go down)", nil, newMongoUnavailable, "", anyPlatform},
		// The load generators of a sharded replay.
		{"worker-kill", "kill one shard worker of a sharded replay (target shard.N; its pod, or its goroutine in-process): the run must report the requests it never sent", nil, newWorkerKill, "", anyPlatform},
	}
}

// Supports says whether a fault kind can act on platform p (the platform
// a scenario's fault targets), with the reason when it cannot. It makes the
// same check the fault makes when it starts, so a scenario is refused
// before the run rather than failing in the middle of it.
func Supports(kindName string, p platform.Platform) error {
	for _, k := range catalogue() {
		if k.name == kindName {
			return k.can(p)
		}
	}
	return fmt.Errorf("unknown fault kind %q", kindName)
}

// On names the platform a fault kind acts on (heroku, aws), or "" for the
// stack and its links.
func On(kindName string) string {
	for _, k := range catalogue() {
		if k.name == kindName {
			return k.on
		}
	}
	return ""
}

// Kinds returns the fault kinds with one line about each, sorted.
func Kinds() map[string]string {
	out := map[string]string{}
	for _, k := range catalogue() {
		out[k.name] = k.about
	}
	return out
}

// New builds a fault from its scenario spec. Unknown kinds, unknown
// parameters and bad values are errors naming the parameter.
func New(s Spec) (Fault, error) {
	for _, k := range catalogue() {
		if k.name != s.Kind {
			continue
		}
		allowed := map[string]bool{}
		for _, p := range k.params {
			allowed[p] = true
		}
		var names []string
		for n := range s.Params {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if !allowed[n] {
				return nil, &ParamError{Param: n, Msg: fmt.Sprintf("fault %s has no parameter %q (it takes %v)", s.Kind, n, k.params)}
			}
		}
		return k.build(params(s.Params), s.Target, s.Duration)
	}
	var names []string
	for _, k := range catalogue() {
		names = append(names, k.name)
	}
	sort.Strings(names)
	return nil, &ParamError{Msg: fmt.Sprintf("unknown fault kind %q (known: %v)", s.Kind, names)}
}

// ParamError is a bad fault parameter; Param is empty when the kind itself
// is wrong.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return e.Msg }

// params reads typed fault parameters.
type params map[string]string

func (p params) duration(name string, def time.Duration) (time.Duration, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, &ParamError{Param: name, Msg: fmt.Sprintf("%s: %q is not a duration like 250ms", name, v)}
	}
	return d, nil
}

func (p params) float(name string, def, lo, hi float64) (float64, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi {
		return 0, &ParamError{Param: name, Msg: fmt.Sprintf("%s: %q is not a number in [%g, %g]", name, v, lo, hi)}
	}
	return f, nil
}

func (p params) int(name string, def, lo, hi int) (int, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < lo || i > hi {
		return 0, &ParamError{Param: name, Msg: fmt.Sprintf("%s: %q is not a whole number in [%d, %d]", name, v, lo, hi)}
	}
	return i, nil
}

func (p params) oneOf(name, def string, set ...string) (string, error) {
	v, ok := p[name]
	if !ok {
		return def, nil
	}
	for _, s := range set {
		if v == s {
			return v, nil
		}
	}
	return "", &ParamError{Param: name, Msg: fmt.Sprintf("%s: %q is not one of %v", name, v, set)}
}

// platformOf picks the platform a fault targets: "heroku" or "aws"
// (default def).
func platformOf(env *Env, target, def string) (platform.Platform, string, error) {
	name := target
	if name == "" {
		name = def
	}
	var p platform.Platform
	switch name {
	case platform.Heroku:
		p = env.Heroku
	case platform.Target:
		p = env.Target
	default:
		return nil, "", fmt.Errorf("target %q is not a platform (heroku or aws)", name)
	}
	if p == nil {
		return nil, "", fmt.Errorf("platform %s is not part of this run", name)
	}
	return p, name, nil
}

// pickReplica returns the replica named target, or a random running one
// (drawn from env.Rand) when target is empty or "random".
func pickReplica(env *Env, p platform.Platform, target string) (string, error) {
	reps := p.Replicas()
	if target != "" && target != "random" {
		for _, r := range reps {
			if r.Name == target {
				return r.Name, nil
			}
		}
		return "", fmt.Errorf("no replica named %q on %s", target, p.Name())
	}
	var up []string
	for _, r := range reps {
		if r.State == platform.Up {
			up = append(up, r.Name)
		}
	}
	if len(up) == 0 {
		return "", fmt.Errorf("no running replica on %s", p.Name())
	}
	sort.Strings(up)
	return up[env.Rand.IntN(len(up))], nil
}

// links returns the proxy links matching a glob ("heroku->*", "*->postgres").
func links(env *Env, glob string) ([]*toxiproxy.Proxy, error) {
	if env.Proxies == nil {
		return nil, fmt.Errorf("no fault proxies in this run")
	}
	all, err := env.Proxies.Proxies()
	if err != nil {
		return nil, fmt.Errorf("list proxy links: %w", err)
	}
	var names []string
	for n := range all {
		if ok, _ := path.Match(glob, n); ok {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no proxy link matches %q", glob)
	}
	sort.Strings(names)
	out := make([]*toxiproxy.Proxy, len(names))
	for i, n := range names {
		out[i] = all[n]
	}
	return out, nil
}
