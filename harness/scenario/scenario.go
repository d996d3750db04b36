// Package scenario reads scenario files: the YAML description of one
// rehearsal (infrastructure, platforms, DNS, traffic, the ordered steps of
// the cutover, budgets, invariants and the expected verdict). Files are
// validated strictly before anything starts; every error names the file,
// the line and the field.
package scenario

import (
	"strconv"
	"time"
)

// Scenario is one rehearsal, as written in a scenario file, with defaults
// applied.
type Scenario struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
	Seed        uint64 `yaml:"seed" json:"seed"`
	// Infra is the stack driver (embedded, docker); Target the destination
	// platform (local, kind, kubeconfig). Flags override both.
	Infra  string `yaml:"infra" json:"infra"`
	Target string `yaml:"target" json:"target"`
	// Images (docker driver) override the image of a service by name:
	// postgres, redis, mongo, localstack, toxiproxy, service.
	Images map[string]string `yaml:"images" json:"images,omitempty"`

	Service    Service    `yaml:"service" json:"service"`
	Heroku     Heroku     `yaml:"heroku" json:"heroku"`
	AWS        AWS        `yaml:"aws" json:"aws"`
	DNS        DNS        `yaml:"dns" json:"dns"`
	Traffic    Traffic    `yaml:"traffic" json:"traffic"`
	Partner    *Partner   `yaml:"partner" json:"partner,omitempty"`
	Steps      []Step     `yaml:"steps" json:"steps"`
	Gate       Gate       `yaml:"gate" json:"gate"`
	Invariants []string   `yaml:"invariants" json:"invariants"`
	Expect     Expect     `yaml:"expect" json:"expect"`
	Quick      QuickScale `yaml:"quick" json:"quick"`

	// File is where the scenario was read from.
	File string `yaml:"-" json:"file"`
}

// Service is what runs on both platforms.
type Service struct {
	// Command runs the service as a process (embedded driver); empty means
	// the reference service, couponapi, built from this module.
	Command []string `yaml:"command" json:"command,omitempty"`
	// Image runs it as a container (docker driver, kind).
	Image string            `yaml:"image" json:"image,omitempty"`
	Env   map[string]string `yaml:"env" json:"env,omitempty"`
	// Bugs switches on planted bugs of the reference service.
	Bugs []string `yaml:"bugs" json:"bugs,omitempty"`
}

// Heroku configures the simulated source app.
type Heroku struct {
	Dynos    int    `yaml:"dynos" json:"dynos"`
	DynoSize string `yaml:"dyno_size" json:"dyno_size"`
	// TimeCompression scales Heroku's clocks (cycling, cool-offs): 1440
	// makes a day last a minute.
	TimeCompression float64 `yaml:"time_compression" json:"time_compression"`
	// RequestTimerScale scales the router's 30 s / 55 s / 75 s timers.
	RequestTimerScale float64 `yaml:"request_timer_scale" json:"request_timer_scale"`
	// Router is "router2" (keep-alive to dynos) or "legacy".
	Router string `yaml:"router" json:"router"`
	// MemoryQuotaMB overrides the dyno size's quota (to make a memory
	// scenario fit a test).
	MemoryQuotaMB int `yaml:"memory_quota_mb" json:"memory_quota_mb,omitempty"`
}

// AWS configures the target platform.
type AWS struct {
	Replicas int `yaml:"replicas" json:"replicas"`
	// KubeContext names the kubeconfig context (required for target kubeconfig).
	KubeContext string `yaml:"kube_context" json:"kube_context,omitempty"`
	Kubeconfig  string `yaml:"kubeconfig" json:"kubeconfig,omitempty"`
	// KindCluster reuses an existing kind cluster by name.
	KindCluster string `yaml:"kind_cluster" json:"kind_cluster,omitempty"`
	KeepCluster bool   `yaml:"keep_cluster" json:"keep_cluster,omitempty"`
	// StackHost (target kubeconfig) is an address of this host that the
	// cluster's pods reach; the stack's loopback endpoints are relayed
	// from ports on it. Required with target kubeconfig.
	StackHost string `yaml:"stack_host" json:"stack_host,omitempty"`
	// Endpoint (target kubeconfig) is the host:port where the Service
	// answers; default the LoadBalancer Service's ingress. The harness
	// forwards the target's address to it.
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`
	// ServiceType (target kubeconfig) is LoadBalancer (the default) or
	// NodePort (port 30080, for a cluster that maps it to Endpoint).
	ServiceType string `yaml:"service_type" json:"service_type,omitempty"`
}

// DNS configures the hosted zone and the client population.
type DNS struct {
	Zone   string   `yaml:"zone" json:"zone"`
	Record string   `yaml:"record" json:"record"`
	TTL    Duration `yaml:"ttl" json:"ttl"`
	// Clients is the number of virtual clients (each with its own resolver cache).
	Clients int `yaml:"clients" json:"clients"`
	// TTLIgnoringShare of clients keep their first answer forever.
	TTLIgnoringShare float64 `yaml:"ttl_ignoring_share" json:"ttl_ignoring_share"`
	// KeepAlive is how long a client reuses a connection (to the address it
	// resolved when it opened it).
	KeepAlive Duration `yaml:"keepalive" json:"keepalive"`
	// Source is where the resolver model reads records: "api" (the
	// default: ListResourceRecordSets, the weighted choice made per client
	// from the seed, so runs are reproducible) or "dns" (the weighted DNS
	// server, whose answers depend on the order concurrent clients ask in).
	Source string `yaml:"source" json:"source"`
	// Route53Credentials, when given, are the only credentials the
	// embedded Route53 emulator accepts (the signature is then verified);
	// by default it accepts any well-formed SigV4 signature, as LocalStack
	// does, and the harness signs with test/test.
	Route53Credentials *Credentials `yaml:"route53_credentials" json:"route53_credentials,omitempty"`
}

// Credentials are static AWS credentials.
type Credentials struct {
	AccessKeyID     string `yaml:"access_key_id" json:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key" json:"secret_access_key"`
}

// Traffic is what is replayed.
type Traffic struct {
	// Trace is a trace file (JSON lines, optionally gzip); Seed the seed
	// data fixture for it. When Trace is empty the synthesizer makes one.
	Trace      string  `yaml:"trace" json:"trace,omitempty"`
	SeedData   string  `yaml:"seed_data" json:"seed_data,omitempty"`
	Synth      *Synth  `yaml:"synth" json:"synth,omitempty"`
	Multiplier float64 `yaml:"multiplier" json:"multiplier"`
	// Mode is "compress" (trace time divided by the multiplier) or
	// "amplify" (real time, each request sent Multiplier times).
	Mode string `yaml:"mode" json:"mode"`
	// ClientTimeout is how long a client waits for an answer.
	ClientTimeout Duration `yaml:"client_timeout" json:"client_timeout"`
	// Retries is how many times a client re-sends a redeem (with the same
	// idempotency key and body) or a rollback whose outcome was unknown: a
	// timeout, a connection error, a 5xx such as Heroku's H12.
	Retries int `yaml:"retries" json:"retries"`
	// Shards splits the replay across that many workers, each sending
	// the requests of its share of the virtual clients (0 or 1: one
	// process sends everything). Workers says where they run: "job" (a
	// Kubernetes Indexed Job on the target cluster, kind or kubeconfig)
	// or "in-process" (goroutines of the cutover process, talking to it
	// over HTTP as pods would: it tests the merge, it adds no capacity).
	Shards  int    `yaml:"shards" json:"shards,omitempty"`
	Workers string `yaml:"workers" json:"workers,omitempty"`
}

// Synth configures the trace synthesizer.
type Synth struct {
	Duration  Duration `yaml:"duration" json:"duration"`
	Rate      float64  `yaml:"rate" json:"rate"`
	Vouchers  int      `yaml:"vouchers" json:"vouchers"`
	GiftCards int      `yaml:"gift_cards" json:"gift_cards"`
	Customers int      `yaml:"customers" json:"customers"`
}

// Partner is a partner endpoint (a CRM webhook) that the service calls on
// each redemption and that accepts only the target's fixed egress address.
type Partner struct {
	AllowTargetOnly bool `yaml:"allow_target_only" json:"allow_target_only"`
}

// Step is one entry of the ordered cutover plan. Exactly one of its fields
// is set.
type Step struct {
	// SetWeights changes the Route53 weights (heroku/aws) and waits for INSYNC.
	SetWeights *Weights `yaml:"set_weights" json:"set_weights,omitempty"`
	// Hold replays traffic for this long at the current weights; the gate
	// is evaluated during and at the end of the hold.
	Hold *Hold `yaml:"hold" json:"hold,omitempty"`
	// Fault starts a fault; it runs during the following holds until its
	// duration ends or a heal step names it.
	Fault *Fault `yaml:"fault" json:"fault,omitempty"`
	// Heal ends a running fault by name.
	Heal string `yaml:"heal" json:"heal,omitempty"`
	// Analysis evaluates the gate over the whole preceding stage.
	Analysis *Analysis `yaml:"analysis" json:"analysis,omitempty"`
	// Capacity measures what one fleet of each platform sustains and
	// prices N× the peak on each, as cutover capacity does.
	Capacity *Capacity `yaml:"capacity" json:"capacity,omitempty"`
}

// Weights are relative Route53 weights, 0–255 each.
type Weights struct {
	Heroku int `yaml:"heroku" json:"heroku"`
	AWS    int `yaml:"aws" json:"aws"`
}

// Hold is a stage: replay for Duration at the current weights.
type Hold struct {
	Name     string   `yaml:"name" json:"name"`
	Duration Duration `yaml:"duration" json:"duration"`
}

// Fault is a scheduled disturbance (a nemesis operation).
type Fault struct {
	// Name identifies the fault on the timeline and in heal steps; default Kind.
	Name string `yaml:"name" json:"name"`
	Kind string `yaml:"kind" json:"kind"`
	// Target is a replica (web.1), a platform (heroku, aws) or a link
	// (heroku->postgres), depending on the kind.
	Target string `yaml:"target" json:"target,omitempty"`
	// After delays the start into the next hold.
	After Duration `yaml:"after" json:"after,omitempty"`
	// Duration, when set, heals the fault after that long; zero means
	// one-shot (crash, kill) or until a heal step.
	Duration Duration `yaml:"duration" json:"duration,omitempty"`
	// Params are the kind's own settings (latency, jitter, rate, share ...).
	Params map[string]string `yaml:"params" json:"params,omitempty"`
	// Effect is "required" (the default: a fault that leaves no evidence
	// makes the run inconclusive, since the rehearsal did not rehearse
	// what it says) or "optional" (the scenario accepts that the fault may
	// have no visible effect).
	Effect string `yaml:"effect" json:"effect,omitempty"`
}

// Analysis evaluates the gate at that point over the last stage.
type Analysis struct {
	Name string `yaml:"name" json:"name"`
}

// Capacity is a capacity step: the measurement of cutover capacity, run
// on this scenario (each probe a short run of a scenario derived from it,
// with its own stack), written into the run's results folder as
// capacity.json and capacity.html. Every field is optional; each is the
// flag of the same name.
type Capacity struct {
	Name string `yaml:"name" json:"name,omitempty"`
	// Platforms to measure (default heroku and aws) and Replicas to
	// measure each at (default 1, 2, 3; at least two counts to fit).
	Platforms []string `yaml:"platforms" json:"platforms,omitempty"`
	Replicas  []int    `yaml:"replicas" json:"replicas,omitempty"`
	// Hold is each probe's replay time (default 5s); Start the first
	// multiplier tried (default 1), Max the highest (default: what the
	// trace is long enough for); Bisections the steps after the ramp
	// (default 2).
	Hold       Duration `yaml:"hold" json:"hold,omitempty"`
	Start      float64  `yaml:"start" json:"start,omitempty"`
	Max        float64  `yaml:"max" json:"max,omitempty"`
	Bisections int      `yaml:"bisections" json:"bisections,omitempty"`
	// Prices is a prices file (default the one shipped); Headroom the
	// share kept spare (default 0.2); Budget the monthly budget to compare
	// at (default today's Heroku fleet).
	Prices   string   `yaml:"prices" json:"prices,omitempty"`
	Headroom *float64 `yaml:"headroom" json:"headroom,omitempty"`
	Budget   float64  `yaml:"budget" json:"budget,omitempty"`
	// BulkDeployment also prices bulk work as its own Deployment.
	BulkDeployment bool `yaml:"bulk_deployment" json:"bulk_deployment,omitempty"`
}

// Budget is one latency/error limit. A latency limit is absolute ("800ms")
// or, with Compare, relative to another platform measured in the same
// window ("1.25x"), as canary analysis (Kayenta, Argo Rollouts, Flagger)
// judges a canary against its baseline: a slow machine slows both sides,
// and the comparison still bites.
type Budget struct {
	// Platform (heroku, aws) and Endpoint (redeem, validate, ...) narrow
	// the budget; empty means each one separately. A comparative budget
	// judges Platform (default: the target, aws) against Compare.
	Platform string `yaml:"platform" json:"platform,omitempty"`
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`
	// Compare names the reference platform of a comparative budget.
	Compare string `yaml:"compare" json:"compare,omitempty"`
	P50     Limit  `yaml:"p50" json:"p50,omitempty"`
	P95     Limit  `yaml:"p95" json:"p95,omitempty"`
	P99     Limit  `yaml:"p99" json:"p99,omitempty"`
	// MinDelta (comparative budgets): a percentile breaks the budget only
	// when it is also this much above the reference's, so a millisecond of
	// noise on a fast call is not a regression.
	MinDelta Duration `yaml:"min_delta" json:"min_delta,omitempty"`
	// ErrorRate is the largest share of requests that may fail (5xx,
	// router errors, timeouts, failed DNS resolutions); below 1, so that
	// it can fail.
	ErrorRate *float64 `yaml:"error_rate" json:"error_rate,omitempty"`
}

// Limits returns the budget's latency limits by quantile, unset ones left out.
func (b Budget) Limits() []QuantileLimit {
	var out []QuantileLimit
	for _, q := range []QuantileLimit{{"p50", 0.50, b.P50}, {"p95", 0.95, b.P95}, {"p99", 0.99, b.P99}} {
		if q.Limit.Set() {
			out = append(out, q)
		}
	}
	return out
}

// QuantileLimit is one latency limit of a budget.
type QuantileLimit struct {
	Name  string // p50, p95, p99
	Q     float64
	Limit Limit
}

// Limit is a latency limit: an absolute duration ("800ms") or a ratio to
// a reference platform's same percentile ("1.25x").
type Limit struct {
	Abs   Duration
	Ratio float64
}

// Set reports whether the limit was given.
func (l Limit) Set() bool { return l.Abs > 0 || l.Ratio > 0 }

// IsZero lets omitempty leave an unset limit out.
func (l Limit) IsZero() bool { return !l.Set() }

func (l Limit) String() string {
	if l.Ratio > 0 {
		return strconv.FormatFloat(l.Ratio, 'g', -1, 64) + "x"
	}
	return l.Abs.String()
}

// MarshalText writes the limit as it is written in a scenario.
func (l Limit) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// Gate holds the budgets and what to do when one breaks.
type Gate struct {
	// None says the scenario deliberately has no gate (a planted-bug
	// scenario judged by its invariants only). Without it, a scenario must
	// give budgets: a gate that cannot fail is not a gate.
	None bool `yaml:"none" json:"none,omitempty"`
	// Interval is how often the gate is evaluated during a hold (over the
	// last Window); the end of a hold is always evaluated.
	Interval Duration `yaml:"interval" json:"interval"`
	Window   Duration `yaml:"window" json:"window"`
	// MinSamples below which a budget is inconclusive rather than pass/fail.
	MinSamples int `yaml:"min_samples" json:"min_samples"`
	// OnBreach: rollback (to the last good weights, and keep replaying),
	// abort (stop the run), or continue (report only).
	OnBreach string `yaml:"on_breach" json:"on_breach"`
	// Budgets apply to every platform and endpoint unless narrowed.
	Budgets []Budget `yaml:"budgets" json:"budgets"`
}

// Expect is the outcome the scenario is built to produce, and why: a test
// of the scenario passes only when the verdict, the broken gates, the
// failing invariants and the observed fault effects are the ones named, so
// a scenario cannot pass its test by failing for another reason.
type Expect struct {
	// Verdict: pass, fail or inconclusive.
	Verdict string `yaml:"verdict" json:"verdict"`
	// FailingInvariants must fail, and no other invariant may — except
	// MayAlsoFail: invariants a planted bug breaks only on some runs, as a
	// consequence (a counter driven down lets a voucher be over-redeemed
	// later, if the trace happens to redeem it again).
	FailingInvariants []string `yaml:"failing_invariants" json:"failing_invariants,omitempty"`
	MayAlsoFail       []string `yaml:"may_also_fail" json:"may_also_fail,omitempty"`
	// Breaches are the gates that must break; every breach of the run must
	// match one of them (an empty field matches anything) — or one of
	// MayAlsoBreak: gates a fault breaks only on some runs, as a
	// consequence (the source platform, sharing the database, slowed by
	// the target's slowed transactions).
	Breaches     []ExpectedBreach `yaml:"breaches" json:"breaches,omitempty"`
	MayAlsoBreak []ExpectedBreach `yaml:"may_also_break" json:"may_also_break,omitempty"`
	// ObservedFaults name faults whose effect must be observed (every fault
	// whose effect is required must leave evidence anyway).
	ObservedFaults []string `yaml:"observed_faults" json:"observed_faults,omitempty"`
	// Slow marks scenarios that `go test -short` skips.
	Slow bool `yaml:"slow" json:"slow,omitempty"`
}

// ExpectedBreach names a gate that must break.
type ExpectedBreach struct {
	Stage    string `yaml:"stage" json:"stage,omitempty"`
	Platform string `yaml:"platform" json:"platform,omitempty"`
	Endpoint string `yaml:"endpoint" json:"endpoint,omitempty"`
	// Metric: p50, p95, p99 or error_rate.
	Metric string `yaml:"metric" json:"metric,omitempty"`
}

// QuickScale says how --quick shortens the scenario.
type QuickScale struct {
	// Factor divides every hold, fault delay and fault duration.
	Factor float64 `yaml:"factor" json:"factor"`
}

// Duration is a time.Duration written as "30s", "1m30s".
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration as Go does ("1m30s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
