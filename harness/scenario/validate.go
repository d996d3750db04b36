package scenario

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/cutover/cutover/harness/capacity"
)

// Known values of enumerated fields.
var (
	Infras  = []string{"embedded", "docker"}
	Targets = []string{"local", "kind", "kubeconfig"}
	// ShardWorkers are where the workers of a sharded replay run.
	ShardWorkers = []string{"job", "in-process"}
	// ServiceTypes are the Service types of target kubeconfig.
	ServiceTypes = []string{"LoadBalancer", "NodePort"}
	DynoSizes    = []string{"eco", "basic", "standard-1x", "standard-2x", "performance-m", "performance-l", "performance-l-ram", "performance-xl", "performance-2xl"}
	Routers      = []string{"router2", "legacy"}
	Modes        = []string{"compress", "amplify"}
	Sources      = []string{"dns", "api"}
	Breaches     = []string{"rollback", "abort", "continue"}
	Verdicts     = []string{"pass", "fail", "inconclusive"}
	Effects      = []string{"required", "optional"}
	Metrics      = []string{"p50", "p95", "p99", "error_rate"}
	Platforms    = []string{"heroku", "aws"}
	ImageNames   = []string{"postgres", "redis", "mongo", "localstack", "toxiproxy", "service"}
	Endpoints    = []string{"validate", "redeem", "rollback", "create", "get", "import", "export", "list"}
)

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

type checker struct {
	f    *File
	errs Errors
}

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, c.f.Errorf(field, format, args...))
}

func (c *checker) enum(field, v string, set []string) {
	if !oneOf(v, set) {
		c.add(field, "%q is not one of %v", v, set)
	}
}

func (c *checker) fileExists(field, p string) {
	if p == "" {
		return
	}
	if _, err := os.Stat(c.f.Resolve(p)); err != nil {
		c.add(field, "file %s: %v", p, err)
	}
}

// Resolve makes a path of the scenario file absolute: relative paths are
// relative to the scenario file's directory.
func (f *File) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(f.File), p)
}

func (f *File) validate() Errors {
	c := &checker{f: f}
	s := &f.Scenario
	if s.Name == "" {
		c.add("name", "required")
	}
	c.enum("infra", s.Infra, Infras)
	c.enum("target", s.Target, Targets)
	if s.Target == "kubeconfig" && s.AWS.KubeContext == "" {
		c.add("aws.kube_context", "required with target kubeconfig: name the context explicitly (the current context is never used by accident)")
	}
	c.kubeconfigTarget(s)
	for name := range s.Images {
		if !oneOf(name, ImageNames) {
			c.add("images."+name, "not an image setting (want one of %v)", ImageNames)
		}
	}
	if len(s.Service.Command) > 0 && s.Service.Command[0] == "" {
		c.add("service.command[0]", "empty program name")
	}

	h := s.Heroku
	if h.Dynos < 0 || h.Dynos > 100 {
		c.add("heroku.dynos", "%d is out of range 0..100", h.Dynos)
	}
	c.enum("heroku.dyno_size", h.DynoSize, DynoSizes)
	if h.TimeCompression < 1 {
		c.add("heroku.time_compression", "%g must be at least 1 (1 = real time)", h.TimeCompression)
	}
	if h.RequestTimerScale <= 0 || h.RequestTimerScale > 1 {
		c.add("heroku.request_timer_scale", "%g must be in (0, 1]", h.RequestTimerScale)
	}
	c.enum("heroku.router", h.Router, Routers)
	if h.MemoryQuotaMB < 0 {
		c.add("heroku.memory_quota_mb", "must not be negative")
	}
	if s.AWS.Replicas < 1 || s.AWS.Replicas > 100 {
		c.add("aws.replicas", "%d is out of range 1..100", s.AWS.Replicas)
	}

	d := s.DNS
	if len(d.Record) < len(d.Zone) || d.Record[len(d.Record)-len(d.Zone):] != d.Zone {
		c.add("dns.record", "%q is not inside zone %q", d.Record, d.Zone)
	}
	if d.TTL < 0 || d.TTL.D() > 48*time.Hour {
		c.add("dns.ttl", "%s is out of range 0..48h (Route53's maximum is 172800 s)", d.TTL)
	}
	if d.Clients < 1 || d.Clients > 100000 {
		c.add("dns.clients", "%d is out of range 1..100000", d.Clients)
	}
	if d.TTLIgnoringShare < 0 || d.TTLIgnoringShare > 1 {
		c.add("dns.ttl_ignoring_share", "%g must be in [0, 1]", d.TTLIgnoringShare)
	}
	if d.KeepAlive < 0 {
		c.add("dns.keepalive", "must not be negative")
	}
	c.enum("dns.source", d.Source, Sources)
	if cr := d.Route53Credentials; cr != nil {
		if cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
			c.add("dns.route53_credentials", "give both access_key_id and secret_access_key (or leave the field out to accept any)")
		}
	}

	t := s.Traffic
	switch {
	case t.Trace != "" && t.Synth != nil:
		c.add("traffic.synth", "give either traffic.trace or traffic.synth, not both")
	case t.Trace == "" && t.Synth == nil:
		c.add("traffic", "give traffic.trace (a trace file) or traffic.synth (synthesizer settings)")
	}
	c.fileExists("traffic.trace", t.Trace)
	c.fileExists("traffic.seed_data", t.SeedData)
	if t.Trace != "" && t.SeedData == "" {
		c.add("traffic.seed_data", "required with traffic.trace: the vouchers the trace redeems")
	}
	if sy := t.Synth; sy != nil {
		if sy.Duration <= 0 {
			c.add("traffic.synth.duration", "must be positive")
		}
		if sy.Rate <= 0 {
			c.add("traffic.synth.rate", "must be positive (recorded requests per second)")
		}
		if sy.Vouchers < 0 || sy.GiftCards < 0 || sy.Customers < 0 {
			c.add("traffic.synth", "counts must not be negative")
		}
	}
	if t.Multiplier <= 0 || t.Multiplier > 1000 {
		c.add("traffic.multiplier", "%g is out of range (0, 1000]", t.Multiplier)
	}
	c.enum("traffic.mode", t.Mode, Modes)
	if t.Mode == "amplify" && t.Multiplier != float64(int(t.Multiplier)) {
		c.add("traffic.multiplier", "amplify mode sends each request N times: %g must be a whole number", t.Multiplier)
	}
	if t.ClientTimeout < 0 {
		c.add("traffic.client_timeout", "must not be negative")
	}
	if t.Retries < 0 || t.Retries > 10 {
		c.add("traffic.retries", "%d is out of range 0..10", t.Retries)
	}
	if field, problem := ShardsProblem(t.Shards, t.Workers, s.Target); problem != "" {
		c.add(field, "%s", problem)
	}

	c.steps()

	c.gate()

	seen := map[string]bool{}
	for i, name := range s.Invariants {
		if seen[name] {
			c.add(fmt.Sprintf("invariants[%d]", i), "%q listed twice", name)
		}
		seen[name] = true
	}
	c.expect(seen)
	if s.Quick.Factor < 0 {
		c.add("quick.factor", "must not be negative")
	}
	sort.SliceStable(c.errs, func(i, j int) bool { return c.errs[i].Line < c.errs[j].Line })
	return c.errs
}

func (c *checker) steps() {
	s := &c.f.Scenario
	if len(s.Steps) == 0 {
		c.add("steps", "a scenario needs at least one step")
		return
	}
	started := map[string]bool{}
	holds, capacities := 0, 0
	for i, st := range s.Steps {
		p := fmt.Sprintf("steps[%d]", i)
		n := 0
		if st.SetWeights != nil {
			n++
			w := st.SetWeights
			if w.Heroku < 0 || w.Heroku > 255 {
				c.add(p+".set_weights.heroku", "%d is out of Route53's range 0..255", w.Heroku)
			}
			if w.AWS < 0 || w.AWS > 255 {
				c.add(p+".set_weights.aws", "%d is out of Route53's range 0..255", w.AWS)
			}
		}
		if st.Hold != nil {
			n++
			holds++
			if st.Hold.Duration <= 0 {
				c.add(p+".hold.duration", "must be positive")
			}
		}
		if st.Fault != nil {
			n++
			fl := st.Fault
			if fl.Kind == "" {
				c.add(p+".fault.kind", "required")
			}
			if started[fl.Name] {
				c.add(p+".fault.name", "%q is already used by an earlier fault: give each fault its own name", fl.Name)
			}
			started[fl.Name] = true
			if fl.After < 0 || fl.Duration < 0 {
				c.add(p+".fault", "after and duration must not be negative")
			}
			c.enum(p+".fault.effect", fl.Effect, Effects)
		}
		if st.Heal != "" {
			n++
			if !started[st.Heal] {
				c.add(p+".heal", "no earlier fault is named %q", st.Heal)
			}
		}
		if st.Analysis != nil {
			n++
		}
		if st.Capacity != nil {
			n++
			capacities++
			if capacities > 1 {
				c.add(p+".capacity", "a scenario has at most one capacity step: its capacity.json is the results folder's")
			}
			c.capacity(p+".capacity", st.Capacity)
		}
		if n != 1 {
			c.add(p, "a step sets exactly one of set_weights, hold, fault, heal, analysis, capacity (this one sets %d)", n)
		}
	}
	if holds == 0 {
		c.add("steps", "no hold step: nothing would be replayed")
	}
}

// capacity checks a capacity step's fields: those of cutover capacity.
func (c *checker) capacity(p string, cp *Capacity) {
	seen := map[string]bool{}
	for i, pl := range cp.Platforms {
		f := fmt.Sprintf("%s.platforms[%d]", p, i)
		c.enum(f, pl, Platforms)
		if seen[pl] {
			c.add(f, "%q listed twice", pl)
		}
		seen[pl] = true
	}
	counts := map[int]bool{}
	for i, n := range cp.Replicas {
		if n < 1 || n > 100 {
			c.add(fmt.Sprintf("%s.replicas[%d]", p, i), "%d is out of range 1..100", n)
		}
		counts[n] = true
	}
	if len(cp.Replicas) > 0 && len(counts) < 2 {
		c.add(p+".replicas", "give at least two replica counts: the scalability fit needs them")
	}
	if cp.Hold < 0 {
		c.add(p+".hold", "must not be negative")
	}
	if cp.Start < 0 {
		c.add(p+".start", "must not be negative")
	}
	if cp.Max < 0 || (cp.Max > 0 && cp.Max < cp.Start) {
		c.add(p+".max", "%g must be positive and at least start", cp.Max)
	}
	if cp.Bisections < 0 {
		c.add(p+".bisections", "must not be negative")
	}
	if cp.Headroom != nil && *cp.Headroom < 0 {
		c.add(p+".headroom", "must not be negative")
	}
	if cp.Budget < 0 {
		c.add(p+".budget", "must not be negative")
	}
	if cp.Prices != "" {
		if _, err := capacity.LoadPrices(c.f.Resolve(cp.Prices)); err != nil {
			c.add(p+".prices", "%v", err)
		}
	}
}

func (c *checker) gate() {
	s := &c.f.Scenario
	g := s.Gate
	c.enum("gate.on_breach", g.OnBreach, Breaches)
	if g.Interval <= 0 {
		c.add("gate.interval", "must be positive")
	}
	if g.Window <= 0 {
		c.add("gate.window", "must be positive")
	}
	if g.MinSamples < 1 {
		c.add("gate.min_samples", "must be at least 1")
	}
	switch {
	case g.None && len(g.Budgets) > 0:
		c.add("gate.none", "a scenario with gate.none has no budgets: remove one or the other")
	case !g.None && len(g.Budgets) == 0:
		c.add("gate.budgets", "no budget: every stage would pass unjudged; give budgets, or say gate.none: true")
	}
	timeout := s.Traffic.ClientTimeout
	for i, b := range g.Budgets {
		p := fmt.Sprintf("gate.budgets[%d]", i)
		c.scope(p, b.Platform, b.Endpoint)
		if b.Compare != "" {
			c.enum(p+".compare", b.Compare, Platforms)
			if b.Platform == b.Compare {
				c.add(p+".platform", "%q cannot be compared with itself", b.Platform)
			}
			if b.ErrorRate != nil {
				c.add(p+".error_rate", "a comparative budget judges latency; give the error rate its own absolute budget")
			}
		} else if b.MinDelta != 0 {
			c.add(p+".min_delta", "only a comparative budget (compare: heroku) has a minimum difference")
		}
		if b.MinDelta < 0 {
			c.add(p+".min_delta", "must not be negative")
		}
		for _, q := range b.Limits() {
			f := p + "." + q.Name
			switch {
			case b.Compare != "" && q.Limit.Ratio == 0:
				c.add(f, "%s is absolute, but this budget compares with %s: give a ratio such as 1.25x (or move the absolute limit to its own budget)", q.Limit, b.Compare)
			case b.Compare == "" && q.Limit.Ratio > 0:
				c.add(f, "%s is a ratio: say what it is relative to with compare: heroku", q.Limit)
			case q.Limit.Ratio > 0 && q.Limit.Ratio < 1:
				c.add(f, "%s would fail a target that is as fast as the reference; a ratio must be at least 1x", q.Limit)
			case q.Limit.Abs > 0 && timeout > 0 && q.Limit.Abs >= timeout:
				c.add(f, "%s can never fail: clients give up after traffic.client_timeout %s", q.Limit, timeout)
			}
		}
		if b.ErrorRate != nil && (*b.ErrorRate < 0 || *b.ErrorRate >= 1) {
			c.add(p+".error_rate", "%g must be in [0, 1): an error rate of 1 can never be exceeded", *b.ErrorRate)
		}
		if len(b.Limits()) == 0 && b.ErrorRate == nil {
			c.add(p, "sets no limit: give p50, p95, p99 or error_rate")
		}
	}
}

// scope checks the optional platform and endpoint that narrow a budget or
// an expected breach.
func (c *checker) scope(prefix, platform, endpoint string) {
	if platform != "" {
		c.enum(prefix+".platform", platform, Platforms)
	}
	if endpoint != "" {
		c.enum(prefix+".endpoint", endpoint, Endpoints)
	}
}

func (c *checker) expect(invariants map[string]bool) {
	s := &c.f.Scenario
	e := s.Expect
	c.enum("expect.verdict", e.Verdict, Verdicts)
	for i, name := range e.FailingInvariants {
		if len(s.Invariants) > 0 && !invariants[name] {
			c.add(fmt.Sprintf("expect.failing_invariants[%d]", i), "%q is not among the checked invariants", name)
		}
	}
	for i, name := range e.MayAlsoFail {
		if len(s.Invariants) > 0 && !invariants[name] {
			c.add(fmt.Sprintf("expect.may_also_fail[%d]", i), "%q is not among the checked invariants", name)
		}
	}
	if (len(e.FailingInvariants) > 0 || len(e.Breaches) > 0) && e.Verdict != "fail" {
		c.add("expect.verdict", "must be fail when expect names failing invariants or breaches")
	}
	stages, faults := map[string]bool{}, map[string]bool{}
	for _, st := range s.Steps {
		if st.Hold != nil {
			stages[st.Hold.Name] = true
		}
		if st.Fault != nil {
			faults[st.Fault.Name] = true
		}
	}
	for i, b := range slices.Concat(e.Breaches, e.MayAlsoBreak) {
		p := fmt.Sprintf("expect.breaches[%d]", i)
		if i >= len(e.Breaches) {
			p = fmt.Sprintf("expect.may_also_break[%d]", i-len(e.Breaches))
		}
		if b.Stage != "" && !stages[b.Stage] {
			c.add(p+".stage", "no hold is named %q", b.Stage)
		}
		c.scope(p, b.Platform, b.Endpoint)
		if b.Metric != "" {
			c.enum(p+".metric", b.Metric, Metrics)
		}
	}
	if len(e.MayAlsoBreak) > 0 && len(e.Breaches) == 0 {
		c.add("expect.may_also_break", "names breaches a fault may also cause, beside expect.breaches: name those first")
	}
	if len(e.Breaches) > 0 && s.Gate.None {
		c.add("expect.breaches", "the scenario has no gate (gate.none), so nothing can break")
	}
	for i, name := range e.ObservedFaults {
		if !faults[name] {
			c.add(fmt.Sprintf("expect.observed_faults[%d]", i), "no fault is named %q", name)
		}
	}
}

// CheckOverrides checks s — this file's scenario with the command line's
// flags applied (--target, --stack-host, --endpoint, --shards, --workers)
// — with the rules the file itself obeys for the target and the shards;
// errors name the field (and its line when the file sets it).
func (f *File) CheckOverrides(s *Scenario) error {
	c := &checker{f: f}
	c.enum("target", s.Target, Targets)
	if s.Target == "kubeconfig" && s.AWS.KubeContext == "" {
		c.add("aws.kube_context", "required with target kubeconfig: name the context explicitly (the current context is never used by accident)")
	}
	c.kubeconfigTarget(s)
	if field, problem := ShardsProblem(s.Traffic.Shards, s.Traffic.Workers, s.Target); problem != "" {
		c.add(field, "%s", problem)
	}
	if len(c.errs) > 0 {
		return c.errs
	}
	return nil
}

// kubeconfigTarget checks the fields of an existing cluster as the target:
// they mean nothing to another target, so they are refused there.
func (c *checker) kubeconfigTarget(s *Scenario) {
	a := s.AWS
	set := map[string]bool{"aws.stack_host": a.StackHost != "", "aws.endpoint": a.Endpoint != "", "aws.service_type": a.ServiceType != ""}
	if s.Target != "kubeconfig" {
		for _, field := range []string{"aws.stack_host", "aws.endpoint", "aws.service_type"} {
			if set[field] {
				c.add(field, "only with target kubeconfig (this scenario's target is %s)", s.Target)
			}
		}
		return
	}
	if a.StackHost == "" {
		c.add("aws.stack_host", "required with target kubeconfig: an address of this host the cluster's pods reach (the stack listens on loopback and is relayed from it)")
	} else if net.ParseIP(a.StackHost) == nil {
		c.add("aws.stack_host", "%q is not an IP address", a.StackHost)
	}
	if a.Endpoint != "" {
		if _, port, err := net.SplitHostPort(a.Endpoint); err != nil || port == "" {
			c.add("aws.endpoint", "%q is not host:port", a.Endpoint)
		}
	}
	if a.ServiceType != "" {
		c.enum("aws.service_type", a.ServiceType, ServiceTypes)
	}
	if a.ServiceType == "NodePort" && a.Endpoint == "" {
		c.add("aws.endpoint", "required with service_type NodePort: where this host reaches the node port")
	}
}

// ShardsProblem checks traffic.shards and traffic.workers against the
// target (the scenario's, or the --shards/--workers/--target flags): it
// returns the field at fault and the problem, or "" when they fit.
func ShardsProblem(shards int, workers, target string) (field, problem string) {
	switch {
	case shards < 0 || shards > 64:
		return "traffic.shards", fmt.Sprintf("%d is out of range 0..64", shards)
	case shards <= 1 && workers != "":
		return "traffic.workers", "only with traffic.shards above 1"
	case shards <= 1:
		return "", ""
	case workers == "":
		workers = DefaultShardWorkers(target)
	}
	switch {
	case !slices.Contains(ShardWorkers, workers):
		return "traffic.workers", fmt.Sprintf("%q is not one of %v", workers, ShardWorkers)
	case workers == "job" && target != "kind" && target != "kubeconfig":
		return "traffic.workers", fmt.Sprintf("job runs the shards as a Kubernetes Indexed Job on the target cluster: target %s has none (use in-process, or target kind or kubeconfig)", target)
	}
	return "", ""
}
