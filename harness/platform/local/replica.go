package local

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/internal/proc"
)

// replica is one pod: a supervisor goroutine (the kubelet's part) that
// starts the service process, probes it, registers it with the balancer
// while it is ready, and restarts it when it dies or fails its liveness
// probe.
type replica struct {
	p    *Platform
	name string
	seq  int
	addr string
	spec platform.ServiceSpec
	t    *target

	retiring   atomic.Bool
	firstReady chan struct{}
	readyOnce  sync.Once
	stopReq    chan struct{}
	stopOnce   sync.Once
	done       chan struct{}

	mu       sync.Mutex
	state    platform.ReplicaState
	inst     proc.Instance
	started  time.Time
	restarts int
	stopCtx  context.Context
	killed   bool
}

func newReplica(p *Platform, name string, seq int, addr string, spec platform.ServiceSpec) *replica {
	return &replica{
		p: p, name: name, seq: seq, addr: addr, spec: spec,
		t:          p.lb.newTarget(name, addr),
		firstReady: make(chan struct{}),
		stopReq:    make(chan struct{}),
		done:       make(chan struct{}),
		state:      platform.Starting,
	}
}

func (r *replica) snapshot() platform.Replica {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := platform.Replica{
		Name: r.name, State: r.state, Addr: r.addr, Egress: r.p.opts.Egress,
		Started: r.started, Restarts: r.restarts,
	}
	if r.inst != nil {
		out.PID = r.inst.PID()
	}
	return out
}

func (r *replica) setState(s platform.ReplicaState) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
}

func (r *replica) logf(reason, format string, args ...any) {
	r.p.log.line(r.name, reason, fmt.Sprintf(format, args...))
}

// outcome is why a container's supervision ended.
type outcome int

const (
	exited outcome = iota
	livenessFailed
	stopped
)

// run is the kubelet loop of one pod.
func (r *replica) run(lifetime context.Context) {
	defer close(r.done)
	// Out of rotation for good, its connections closed, when the pod ends.
	defer r.p.lb.deregister(r.t)
	crashes := 0
	for {
		startedAt := time.Now()
		inst, err := r.p.opts.Runner.Start(lifetime, r.spec, proc.InstanceConfig{
			Name:   r.name,
			Addr:   r.addr,
			Egress: r.p.opts.Egress,
			Env:    map[string]string{"HOST": r.p.opts.ReplicaHost},
			Output: func(stream, line string) { r.p.log.line(r.name, stream, line) },
		})
		if err != nil {
			r.logf("Failed", "Error: %v", err)
		} else {
			r.mu.Lock()
			r.inst, r.started, r.state = inst, startedAt, platform.Starting
			r.mu.Unlock()
			r.logf("Started", "Started container %s (pid %d, %s)", r.p.app, inst.PID(), r.addr)
			switch r.supervise(lifetime, inst) {
			case stopped:
				r.setState(platform.Down)
				return
			case exited:
				r.mu.Lock()
				killed := r.killed
				r.killed = false
				r.mu.Unlock()
				if !killed {
					r.logf("Exited", "container exited with status %d", inst.ExitCode())
				}
			case livenessFailed:
				r.logf("Killing", "Container %s failed liveness probe, will be restarted", r.p.app)
				r.stopInstance(inst)
			}
			if time.Since(startedAt) >= r.p.opts.BackoffReset {
				crashes = 0
			}
		}
		r.setState(platform.Crashed)
		crashes++
		if d := r.backoff(crashes); d > 0 {
			r.logf("BackOff", "Back-off %s restarting failed container", d)
			select {
			case <-time.After(d):
			case <-r.stopReq:
				r.setState(platform.Down)
				return
			case <-lifetime.Done():
				r.setState(platform.Down)
				return
			}
		}
		r.mu.Lock()
		r.restarts++
		r.mu.Unlock()
	}
}

// backoff is the kubelet's restart delay after the n-th consecutive
// crash: none for the first, then base doubling up to max.
func (r *replica) backoff(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	d := r.p.opts.BackoffBase
	for i := 2; i < n && d < r.p.opts.BackoffMax; i++ {
		d *= 2
	}
	return min(d, r.p.opts.BackoffMax)
}

// supervise probes inst until it exits, fails its liveness probe, or a
// stop is requested (which it carries out).
func (r *replica) supervise(lifetime context.Context, inst proc.Instance) outcome {
	rp, lp := r.p.opts.Readiness, r.p.opts.Liveness
	readyTimer := time.NewTimer(rp.InitialDelay)
	liveTimer := time.NewTimer(lp.InitialDelay + lp.Period)
	defer readyTimer.Stop()
	defer liveTimer.Stop()
	var okCount, failCount, liveFails int
	ready := false
	for {
		select {
		case <-inst.Done():
			r.unready()
			return exited
		case <-r.stopReq:
			r.stopInstance(inst)
			return stopped
		case <-lifetime.Done():
			r.unready()
			_ = inst.Kill()
			<-inst.Done()
			return stopped
		case <-readyTimer.C:
			err := r.probe(lifetime, r.spec.ReadyPath, rp.Timeout)
			if err == nil {
				okCount, failCount = okCount+1, 0
				if !ready && okCount >= rp.SuccessThreshold {
					ready = true
					r.p.lb.register(r.t)
					r.setState(platform.Up)
					r.readyOnce.Do(func() { close(r.firstReady) })
					r.logf("Ready", "Readiness probe succeeded")
				}
			} else {
				okCount, failCount = 0, failCount+1
				if ready && failCount >= rp.FailureThreshold {
					ready = false
					r.unready()
					r.logf("Unhealthy", "Readiness probe failed: %v", err)
				}
			}
			readyTimer.Reset(rp.Period)
		case <-liveTimer.C:
			err := r.probe(lifetime, r.spec.HealthPath, lp.Timeout)
			if err == nil {
				liveFails = 0
			} else {
				liveFails++
				if liveFails >= lp.FailureThreshold {
					r.logf("Unhealthy", "Liveness probe failed: %v", err)
					return livenessFailed
				}
			}
			liveTimer.Reset(lp.Period)
		}
	}
}

// probe is an HTTP GET as the kubelet does it: 200-399 passes.
func (r *replica) probe(ctx context.Context, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	resp, err := r.p.probe.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}

// unready takes the replica out of the balancer.
func (r *replica) unready() {
	r.p.lb.deregister(r.t)
	r.mu.Lock()
	if r.state == platform.Up {
		r.state = platform.Starting
	}
	r.mu.Unlock()
}

// stopInstance deregisters, lets in-flight requests finish (up to the
// deregistration delay), then SIGTERM and SIGKILL after the grace period.
func (r *replica) stopInstance(inst proc.Instance) {
	r.p.lb.deregister(r.t)
	r.setState(platform.Stopping)
	r.mu.Lock()
	ctx := r.stopCtx
	r.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	if !r.t.drain(time.Now().Add(r.p.opts.DeregistrationDelay), ctx.Done()) {
		r.logf("Deregistered", "%d requests still in flight after the deregistration delay", r.t.inflight.Load())
	}
	grace := r.p.opts.TerminationGrace
	r.logf("Killing", "Stopping container %s (grace period %s)", r.p.app, grace)
	forced, err := proc.Stop(ctx, inst, grace)
	switch {
	case err != nil:
		r.logf("Warning", "stop: %v", err)
	case forced:
		r.logf("Killed", "container did not stop within %s: SIGKILL", grace)
	default:
		r.logf("Stopped", "container exited with status %d", inst.ExitCode())
	}
}

// stop asks the supervisor to stop the replica gracefully and waits for
// it; when ctx ends first the process is killed.
func (r *replica) stop(ctx context.Context) {
	r.mu.Lock()
	r.stopCtx = ctx
	r.mu.Unlock()
	r.stopOnce.Do(func() { close(r.stopReq) })
	<-r.done
}

// kill sends SIGKILL to the running container (a fault); the supervisor
// sees it exit and restarts it.
func (r *replica) kill() error {
	r.mu.Lock()
	inst := r.inst
	running := inst != nil && r.state != platform.Crashed && r.state != platform.Down
	if running {
		r.killed = true
	}
	r.mu.Unlock()
	if !running {
		return fmt.Errorf("local kill: replica %s has no running container", r.name)
	}
	r.logf("Killing", "SIGKILL (replica killed)")
	if err := inst.Kill(); err != nil {
		return fmt.Errorf("local kill %s: %w", r.name, err)
	}
	return nil
}
