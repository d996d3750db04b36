// Package local is the embedded target platform: N replicas of the service
// as real OS processes behind a load balancer on the target's own loopback
// address, behaving like a Kubernetes Deployment behind an ALB. A replica
// gets traffic only once its readiness probe passes; liveness probes
// restart it; a crashed replica is restarted with the kubelet's
// CrashLoopBackOff; a rolling restart surges one replica, waits for it to
// be ready and then retires one old replica gracefully; every replica's
// outbound calls leave from one fixed address (the NAT gateway's).
//
// Balancing is least outstanding requests (ALB's other algorithm), ties
// going round robin: a replica slowed by a fault (a toxic on its database
// link, a long GC pause) gets fewer new requests instead of a growing
// queue, and equal replicas share the load evenly.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/internal/machine"
	"github.com/cutover/cutover/internal/proc"
)

// Probe is the timing of an HTTP probe, as in a Kubernetes pod spec.
type Probe struct {
	InitialDelay     time.Duration
	Period           time.Duration
	Timeout          time.Duration
	SuccessThreshold int
	FailureThreshold int
}

func (p Probe) withDefaults(d Probe) Probe {
	if p.Period <= 0 {
		p.Period = d.Period
	}
	if p.Timeout <= 0 {
		p.Timeout = d.Timeout
	}
	if p.SuccessThreshold <= 0 {
		p.SuccessThreshold = d.SuccessThreshold
	}
	if p.FailureThreshold <= 0 {
		p.FailureThreshold = d.FailureThreshold
	}
	return p
}

// Options configure the platform. Zero fields get Kubernetes' and ALB's
// defaults; tests scale the times down.
type Options struct {
	// Addr is where the load balancer listens. Default 127.0.0.3:0 (a free
	// port).
	Addr string
	// ReplicaHost is the address replicas listen on, each on its own free
	// port (passed as HOST and PORT). Default 127.0.0.1.
	ReplicaHost string
	// Egress is the one source address of every replica's outbound
	// connections (EGRESS_ADDR), the NAT gateway's static IP. Default
	// 127.0.0.30.
	Egress string
	// Runner starts the replicas. Default proc.Local{} (OS processes).
	Runner proc.Runner
	// Readiness defaults: period 10 s, timeout 1 s, success 1, failure 3.
	Readiness Probe
	// Liveness defaults: period 10 s, timeout 1 s, success 1, failure 3.
	Liveness Probe
	// TerminationGrace is the time between SIGTERM and SIGKILL. Default 30 s.
	TerminationGrace time.Duration
	// DeregistrationDelay bounds how long a replica taken out of the load
	// balancer keeps its in-flight requests before it gets SIGTERM (ALB's
	// deregistration delay, standing in for a preStop hook). Default 30 s.
	DeregistrationDelay time.Duration
	// BackoffBase and BackoffMax shape CrashLoopBackOff: the first restart
	// is immediate, then 10 s doubling up to 5 min. BackoffReset is how
	// long a replica must run to have its back-off forgotten (10 min).
	BackoffBase, BackoffMax, BackoffReset time.Duration
	// RolloutTimeout bounds each wait for replicas to become ready.
	// Default 5 min.
	RolloutTimeout time.Duration
	// Log receives the pod-like lifecycle lines and the replicas' output.
	Log io.Writer
}

func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = "127.0.0.3:0"
	}
	if o.ReplicaHost == "" {
		o.ReplicaHost = "127.0.0.1"
	}
	if o.Egress == "" {
		o.Egress = "127.0.0.30"
	}
	if o.Runner == nil {
		o.Runner = proc.Local{}
	}
	kube := Probe{Period: 10 * time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3}
	o.Readiness = o.Readiness.withDefaults(kube)
	o.Liveness = o.Liveness.withDefaults(kube)
	if o.TerminationGrace <= 0 {
		o.TerminationGrace = 30 * time.Second
	}
	if o.DeregistrationDelay <= 0 {
		o.DeregistrationDelay = 30 * time.Second
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 10 * time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Minute
	}
	if o.BackoffReset <= 0 {
		o.BackoffReset = 10 * time.Minute
	}
	if o.RolloutTimeout <= 0 {
		o.RolloutTimeout = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Platform is the local target: a load balancer and its replicas.
type Platform struct {
	opts Options
	log  *eventLog
	lb   *balancer
	srv  *http.Server
	ln   net.Listener
	// probe is the kubelet's prober: a new connection every probe.
	probe *http.Client

	// lifetime ends at Close; every replica supervisor runs under it.
	lifetime context.Context
	cancel   context.CancelFunc
	srvDone  chan struct{}

	opMu sync.Mutex // one Deploy/Scale/Restart at a time

	mu       sync.Mutex
	spec     platform.ServiceSpec
	app      string
	replicas []*replica // in creation order
	seq      int
	closed   bool
}

var (
	_ platform.Platform      = (*Platform)(nil)
	_ platform.ReplicaKiller = (*Platform)(nil)
	_ platform.Restarter     = (*Platform)(nil)
)

// New starts the load balancer (answering 503 until a replica is ready).
func New(opts Options) (*Platform, error) {
	o := opts.withDefaults()
	if net.ParseIP(o.Egress) == nil {
		return nil, fmt.Errorf("local: egress %q is not an IP address", o.Egress)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("local: load balancer listen on %s: %w", o.Addr, err)
	}
	p := &Platform{
		opts:    o,
		log:     &eventLog{w: o.Log},
		ln:      ln,
		srvDone: make(chan struct{}),
		probe: &http.Client{Transport: &http.Transport{
			DisableKeepAlives: true,
			Proxy:             nil,
		}},
	}
	p.lifetime, p.cancel = context.WithCancel(context.Background())
	p.lb = newBalancer()
	p.srv = &http.Server{
		Handler:           p.lb,
		ReadHeaderTimeout: time.Minute,
		IdleTimeout:       time.Minute, // ALB's default idle timeout
	}
	// The balancer's goroutines (its accept loop, every connection and
	// the requests they proxy) carry the load balancer's label, so a run's
	// machine accounting tells its CPU apart from the rest of the harness.
	machine.Do(p.lifetime, machine.LoadBalancer, func(context.Context) {
		go func() {
			defer close(p.srvDone)
			_ = p.srv.Serve(ln)
		}()
	})
	return p, nil
}

// Name is "local".
func (p *Platform) Name() string { return "local" }

// Endpoint is the load balancer's host:port.
func (p *Platform) Endpoint() string { return p.ln.Addr().String() }

// Egress is the fixed outbound source address of every replica.
func (p *Platform) Egress() string { return p.opts.Egress }

// Deploy starts replicas of spec and returns once all are ready. A second
// Deploy rolls the running replicas over to the new spec.
func (p *Platform) Deploy(ctx context.Context, spec platform.ServiceSpec, replicas int) error {
	if len(spec.Command) == 0 {
		return fmt.Errorf("local deploy: service %q has no command", spec.Name)
	}
	if replicas < 0 {
		return fmt.Errorf("local deploy: replicas %d < 0", replicas)
	}
	if spec.ReadyPath == "" {
		spec.ReadyPath = "/readyz"
	}
	if spec.HealthPath == "" {
		spec.HealthPath = "/healthz"
	}
	p.opMu.Lock()
	defer p.opMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New("local deploy: platform is closed")
	}
	redeploy := p.app != ""
	p.spec = spec
	p.app = appName(spec.Name)
	p.mu.Unlock()
	if redeploy {
		if err := p.rollingRestart(ctx); err != nil {
			return fmt.Errorf("local deploy: %w", err)
		}
		return p.scale(ctx, replicas)
	}
	return p.scale(ctx, replicas)
}

// Scale adds replicas (waiting until they are ready) or retires the
// newest ones gracefully (not-ready ones first, as a ReplicaSet does).
func (p *Platform) Scale(ctx context.Context, replicas int) error {
	if replicas < 0 {
		return fmt.Errorf("local scale: replicas %d < 0", replicas)
	}
	p.opMu.Lock()
	defer p.opMu.Unlock()
	if err := p.deployed(); err != nil {
		return fmt.Errorf("local scale: %w", err)
	}
	return p.scale(ctx, replicas)
}

func (p *Platform) deployed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return errors.New("platform is closed")
	case p.app == "":
		return errors.New("nothing deployed")
	}
	return nil
}

func (p *Platform) scale(ctx context.Context, n int) error {
	live := p.live()
	if len(live) < n {
		var added []*replica
		for range n - len(live) {
			r, err := p.addReplica()
			if err != nil {
				return fmt.Errorf("scale to %d: %w", n, err)
			}
			added = append(added, r)
		}
		if err := p.waitReady(ctx, added...); err != nil {
			return fmt.Errorf("scale to %d: %w", n, err)
		}
		return nil
	}
	if len(live) > n {
		// Not-ready replicas go first, then the newest.
		sort.SliceStable(live, func(i, j int) bool {
			ri, rj := live[i].t.ready.Load(), live[j].t.ready.Load()
			if ri != rj {
				return !ri
			}
			return live[i].seq > live[j].seq
		})
		var wg sync.WaitGroup
		for _, r := range live[:len(live)-n] {
			wg.Go(func() { p.retire(ctx, r) })
		}
		wg.Wait()
	}
	return nil
}

// live is the replicas not being retired, in creation order.
func (p *Platform) live() []*replica {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*replica
	for _, r := range p.replicas {
		if !r.retiring.Load() {
			out = append(out, r)
		}
	}
	return out
}

func (p *Platform) addReplica() (*replica, error) {
	port, release, err := proc.FreePort(p.opts.ReplicaHost)
	if err != nil {
		return nil, err
	}
	release() // the process binds it next; until here no one else could take it
	addr := net.JoinHostPort(p.opts.ReplicaHost, strconv.Itoa(port))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("platform is closed")
	}
	p.seq++
	r := newReplica(p, p.app+"-"+strconv.Itoa(p.seq), p.seq, addr, p.spec)
	p.replicas = append(p.replicas, r)
	go r.run(p.lifetime)
	return r, nil
}

// waitReady waits until every replica in rs is ready (in the balancer),
// within RolloutTimeout.
func (p *Platform) waitReady(ctx context.Context, rs ...*replica) error {
	ctx, cancel := context.WithTimeout(ctx, p.opts.RolloutTimeout)
	defer cancel()
	for _, r := range rs {
		select {
		case <-r.firstReady:
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to be ready: %w (state %s, restarts %d)", r.name, ctx.Err(), r.snapshot().State, r.snapshot().Restarts)
		}
	}
	return nil
}

// retire takes r out of the balancer, lets its in-flight requests finish,
// stops it gracefully and forgets it.
func (p *Platform) retire(ctx context.Context, r *replica) {
	r.retiring.Store(true)
	r.stop(ctx)
	p.mu.Lock()
	for i, x := range p.replicas {
		if x == r {
			p.replicas = append(p.replicas[:i], p.replicas[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	p.log.line(r.name, "Deleted", "pod deleted")
}

// Replicas lists the replicas in creation order.
func (p *Platform) Replicas() []platform.Replica {
	p.mu.Lock()
	rs := append([]*replica(nil), p.replicas...)
	p.mu.Unlock()
	out := make([]platform.Replica, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.snapshot())
	}
	return out
}

func (p *Platform) find(name string) (*replica, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.replicas {
		if r.name == name {
			return r, nil
		}
	}
	names := make([]string, 0, len(p.replicas))
	for _, r := range p.replicas {
		names = append(names, r.name)
	}
	return nil, fmt.Errorf("no replica %q (replicas: %s)", name, strings.Join(names, ", "))
}

// KillReplica kills one replica's process with SIGKILL, as a container
// killed by the kernel; in-flight requests fail and the replica restarts
// under CrashLoopBackOff.
func (p *Platform) KillReplica(ctx context.Context, name string) error {
	r, err := p.find(name)
	if err != nil {
		return fmt.Errorf("local kill: %w", err)
	}
	return r.kill()
}

// Restart replaces one replica (name) or all of them ("", a rolling
// restart): for each, a new replica is started and must be ready before
// the old one is retired, so capacity never drops.
func (p *Platform) Restart(ctx context.Context, name string) error {
	p.opMu.Lock()
	defer p.opMu.Unlock()
	if err := p.deployed(); err != nil {
		return fmt.Errorf("local restart: %w", err)
	}
	if name == "" {
		return p.rollingRestart(ctx)
	}
	r, err := p.find(name)
	if err != nil {
		return fmt.Errorf("local restart: %w", err)
	}
	return p.replace(ctx, r)
}

func (p *Platform) rollingRestart(ctx context.Context) error {
	p.log.object("deployment/"+p.app, "RollingRestart", fmt.Sprintf("replacing %d replicas, surge 1", len(p.live())))
	for _, r := range p.live() {
		if err := p.replace(ctx, r); err != nil {
			return fmt.Errorf("rolling restart: %w", err)
		}
	}
	return nil
}

func (p *Platform) replace(ctx context.Context, old *replica) error {
	n, err := p.addReplica()
	if err != nil {
		return err
	}
	if err := p.waitReady(ctx, n); err != nil {
		return err
	}
	p.retire(ctx, old)
	return nil
}

// Close stops the load balancer and every replica (gracefully, within
// ctx). It is safe to call twice.
func (p *Platform) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	rs := append([]*replica(nil), p.replicas...)
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { p.retire(ctx, r) })
	}
	wg.Wait()
	p.cancel()
	err := p.srv.Close()
	<-p.srvDone
	if err != nil {
		return fmt.Errorf("local close: %w", err)
	}
	return nil
}

// appName is the pod-name prefix for a service name: lower-case letters,
// digits and dashes.
func appName(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "service"
	}
	return out
}

// eventLog writes pod-like lines.
type eventLog struct {
	mu sync.Mutex
	w  io.Writer
}

// line writes a platform.Event line for pod/<name>, the same shape as the
// kube platforms' log.
func (l *eventLog) line(name, reason, message string) { l.object("pod/"+name, reason, message) }

func (l *eventLog) object(object, reason, message string) {
	line := platform.Event{Time: time.Now(), Object: object, Reason: reason, Message: message}.String()
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, line)
}
