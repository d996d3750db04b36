package run

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/harness/internal/chaos"
	"github.com/cutover/cutover/harness/internal/oracle"
	"github.com/cutover/cutover/harness/internal/partner"
	"github.com/cutover/cutover/harness/route53"
	"github.com/cutover/cutover/harness/scenario"
	"github.com/cutover/cutover/harness/traffic/synth"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// plan is a checked scenario, ready to run: every fault built, every
// invariant known, the traffic source resolved.
type plan struct {
	file *scenario.File
	// orig is the scenario as written (after flag overrides); scn is what
	// runs (quickened with --quick).
	orig, scn scenario.Scenario
	quick     float64 // 1 without --quick
	faults    map[int]chaos.Fault
	checkers  []oracle.Checker
	partner   bool // partner-sync is checked
	// route53 are the credentials the Route53 emulator requires (the
	// flag's, else the scenario's); empty: any.
	route53 route53.Credentials
	// tracePath and seedPath are the trace and seed data to replay; empty
	// when the synthesizer makes them at run time (synth is then set).
	tracePath, seedPath string
	synth               *synth.Config
	traceSpan           time.Duration
}

// prepare loads and checks everything that can be checked before anything
// starts; every error names the file, line and field.
func prepare(path string, opts Options) (*plan, error) {
	f, err := scenario.Load(path)
	if err != nil {
		return nil, err
	}
	s := f.Scenario
	var errs []error
	if opts.Infra != "" {
		if !oneOf(opts.Infra, scenario.Infras) {
			errs = append(errs, fmt.Errorf("--infra: %q is not one of %v", opts.Infra, scenario.Infras))
		}
		s.Infra = opts.Infra
	}
	if opts.Target != "" {
		if !oneOf(opts.Target, scenario.Targets) {
			errs = append(errs, fmt.Errorf("--target: %q is not one of %v", opts.Target, scenario.Targets))
		}
		s.Target = opts.Target
	}
	if opts.Seed != 0 {
		s.Seed = opts.Seed
	}
	switch {
	case opts.Multiplier < 0:
		errs = append(errs, fmt.Errorf("--multiplier: %g is not a positive factor", opts.Multiplier))
	case opts.Multiplier > 0:
		s.Traffic.Multiplier = opts.Multiplier
	}
	if opts.StackHost != "" {
		s.AWS.StackHost = opts.StackHost
	}
	if opts.Endpoint != "" {
		s.AWS.Endpoint = opts.Endpoint
	}
	if opts.Shards != 0 {
		s.Traffic.Shards = opts.Shards
	}
	if opts.Workers != "" {
		s.Traffic.Workers = opts.Workers
	}
	if s.Traffic.Shards > 1 && s.Traffic.Workers == "" {
		// Where the file does not say, the workers run on the target
		// this run has.
		s.Traffic.Workers = scenario.DefaultShardWorkers(s.Target)
	}
	if opts.Target != "" || opts.StackHost != "" || opts.Endpoint != "" || opts.Shards != 0 || opts.Workers != "" {
		// The flags change what the file was checked against: check the
		// target's and the shards' fields again, as the file's own.
		if err := f.CheckOverrides(&s); err != nil {
			errs = append(errs, fmt.Errorf("with the command line's flags: %w", err))
		}
	}
	p := &plan{file: f, orig: s, scn: s, quick: 1, faults: map[int]chaos.Fault{}}
	switch cr := s.DNS.Route53Credentials; {
	case opts.Route53Credentials.Required():
		p.route53 = opts.Route53Credentials
	case cr != nil:
		p.route53 = route53.Credentials{AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey}
	}
	if p.route53.Required() && s.Infra != "embedded" {
		const why = "the %s driver's Route53 accepts any credentials; requiring some needs the embedded driver"
		if opts.Route53Credentials.Required() {
			errs = append(errs, fmt.Errorf("--route53-credentials: "+why, s.Infra))
		} else {
			errs = append(errs, f.Errorf("dns.route53_credentials", why, s.Infra))
		}
	}
	if opts.Quick {
		p.quick = s.QuickFactor()
		p.scn = s.Quickened()
		// DNS caching keeps its proportion to the shortened stages.
		p.scn.DNS.TTL = scaleDur(s.DNS.TTL, p.quick, time.Second)
		p.scn.DNS.KeepAlive = scaleDur(s.DNS.KeepAlive, p.quick, 0)
	}

	for i, st := range p.scn.Steps {
		if st.Fault == nil {
			continue
		}
		fl := st.Fault
		fault, err := chaos.New(chaos.Spec{Name: fl.Name, Kind: fl.Kind, Target: fl.Target, Params: fl.Params, Duration: fl.Duration.D()})
		if err != nil {
			field := fmt.Sprintf("steps[%d].fault.kind", i)
			var pe *chaos.ParamError
			if errors.As(err, &pe) && pe.Param == "target" {
				field = fmt.Sprintf("steps[%d].fault.target", i)
			} else if errors.As(err, &pe) && pe.Param != "" {
				field = fmt.Sprintf("steps[%d].fault.params.%s", i, pe.Param)
			}
			errs = append(errs, f.Errorf(field, "%v", err))
			continue
		}
		if fl.Kind == "worker-kill" && s.Traffic.Shards <= 1 {
			errs = append(errs, f.Errorf(fmt.Sprintf("steps[%d].fault.kind", i), "worker-kill kills a shard worker: it needs traffic.shards above 1 (or --shards)"))
			continue
		}
		p.faults[i] = fault
	}

	names := s.Invariants
	if len(names) == 0 {
		names = oracle.Names()
	}
	for i, n := range names {
		if n == partner.SyncName {
			p.partner = true
			continue
		}
		c, err := oracle.ByName(n)
		if err != nil {
			errs = append(errs, f.Errorf(fmt.Sprintf("invariants[%d]", i), "%q is not an invariant (known: %s, %s)", n, strings.Join(oracle.Names(), ", "), partner.SyncName))
			continue
		}
		p.checkers = append(p.checkers, c...)
	}
	if _, err := bugs.Parse(strings.Join(s.Service.Bugs, ",")); err != nil {
		errs = append(errs, f.Errorf("service.bugs", "%v", err))
	}

	if err := p.traffic(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// traffic resolves the trace and checks that it is long enough for the
// plan: the holds replay hold × multiplier of trace time (compress mode) or
// the hold itself (amplify).
func (p *plan) traffic() error {
	t := p.orig.Traffic
	if t.Synth != nil {
		cfg := synth.Default()
		cfg.Seed = p.orig.Seed
		cfg.Duration = t.Synth.Duration.D()
		cfg.Rate = t.Synth.Rate
		if t.Synth.Vouchers > 0 {
			cfg.Vouchers = t.Synth.Vouchers
		}
		if t.Synth.GiftCards > 0 {
			cfg.GiftCards = t.Synth.GiftCards
		}
		if t.Synth.Customers > 0 {
			cfg.Customers = t.Synth.Customers
		}
		if p.orig.DNS.Clients > 0 {
			cfg.Clients = p.orig.DNS.Clients
		}
		if err := cfg.Validate(); err != nil {
			return p.file.Errorf("traffic.synth", "%v", err)
		}
		p.synth = &cfg
		p.traceSpan = cfg.Duration
	} else {
		p.tracePath = p.file.Resolve(t.Trace)
		p.seedPath = p.file.Resolve(t.SeedData)
		meta, _, err := trace.ReadMeta(p.tracePath)
		if err != nil {
			return p.file.Errorf("traffic.trace", "%v", err)
		}
		p.traceSpan = time.Duration(meta.Duration * float64(time.Second))
	}
	need := p.orig.TotalHold()
	if t.Mode == "compress" {
		need = time.Duration(float64(need) * t.Multiplier)
	}
	if p.traceSpan > 0 && need > p.traceSpan+time.Second {
		return p.file.Errorf("steps", "the holds replay %s of trace at %g× but the trace lasts %s: shorten the holds or use a longer trace", need, t.Multiplier, p.traceSpan.Round(time.Second))
	}
	return nil
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}

// scaleDur divides d by f, keeping at least floor.
func scaleDur(d scenario.Duration, f float64, floor time.Duration) scenario.Duration {
	v := time.Duration(float64(d) / f)
	if v < floor {
		v = floor
	}
	return scenario.Duration(v)
}
