package scenario

import (
	"strconv"
	"time"
)

// Defaults, documented in the README's scenario format section.
const (
	DefaultSeed        = 1
	DefaultMultiplier  = 6
	DefaultQuickTarget = 12 * time.Second
)

func (f *File) applyDefaults() {
	s := &f.Scenario
	if s.Seed == 0 {
		s.Seed = DefaultSeed
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&s.Infra, "embedded")
	def(&s.Target, "local")
	if s.Heroku.Dynos == 0 && !f.has("heroku.dynos") {
		s.Heroku.Dynos = 2
	}
	def(&s.Heroku.DynoSize, "standard-1x")
	if s.Heroku.TimeCompression == 0 {
		s.Heroku.TimeCompression = 1
	}
	if s.Heroku.RequestTimerScale == 0 {
		s.Heroku.RequestTimerScale = 1
	}
	def(&s.Heroku.Router, "router2")
	if s.AWS.Replicas == 0 && !f.has("aws.replicas") {
		s.AWS.Replicas = 2
	}
	def(&s.DNS.Zone, "coupons.example.com.")
	if s.DNS.Zone[len(s.DNS.Zone)-1] != '.' {
		s.DNS.Zone += "."
	}
	def(&s.DNS.Record, "api."+s.DNS.Zone)
	if s.DNS.Record[len(s.DNS.Record)-1] != '.' {
		s.DNS.Record += "."
	}
	if !f.has("dns.ttl") {
		s.DNS.TTL = Duration(60 * time.Second)
	}
	if s.DNS.Clients == 0 {
		s.DNS.Clients = 200
	}
	if !f.has("dns.keepalive") {
		s.DNS.KeepAlive = Duration(30 * time.Second)
	}
	def(&s.DNS.Source, "api")
	if s.Traffic.Multiplier == 0 {
		s.Traffic.Multiplier = DefaultMultiplier
	}
	def(&s.Traffic.Mode, "compress")
	if s.Traffic.ClientTimeout == 0 {
		s.Traffic.ClientTimeout = Duration(35 * time.Second)
	}
	if !f.has("traffic.retries") {
		s.Traffic.Retries = 1
	}
	if s.Gate.Interval == 0 {
		s.Gate.Interval = Duration(10 * time.Second)
	}
	if s.Gate.Window == 0 {
		s.Gate.Window = Duration(30 * time.Second)
	}
	if s.Gate.MinSamples == 0 {
		s.Gate.MinSamples = 100
	}
	def(&s.Gate.OnBreach, "rollback")
	def(&s.Expect.Verdict, "pass")
	for i := range s.Steps {
		if fl := s.Steps[i].Fault; fl != nil {
			if fl.Name == "" {
				fl.Name = fl.Kind
			}
			if fl.Effect == "" {
				fl.Effect = "required"
			}
		}
		if h := s.Steps[i].Hold; h != nil && h.Name == "" {
			h.Name = f.stageName(i)
		}
	}
}

// has reports whether the file sets the field.
func (f *File) has(field string) bool {
	_, found := find(f.root, field)
	return found
}

// stageName names a hold after the weights in force: "aws-25".
func (f *File) stageName(step int) string {
	w := Weights{Heroku: 100}
	for i := 0; i < step; i++ {
		if f.Steps[i].SetWeights != nil {
			w = *f.Steps[i].SetWeights
		}
	}
	n := 0
	for i := 0; i < step; i++ {
		if f.Steps[i].Hold != nil {
			n++
		}
	}
	return "stage-" + strconv.Itoa(n+1) + "-aws-" + strconv.Itoa(w.AWS*100/max(1, w.AWS+w.Heroku))
}

// DefaultShardWorkers is where a sharded replay's workers run when the
// scenario does not say: on the target cluster when there is one (a job),
// else in the cutover process. It is decided when the run starts, for the
// target the run has (--target may change it), not when the file loads.
func DefaultShardWorkers(target string) string {
	if target == "kind" || target == "kubeconfig" {
		return "job"
	}
	return "in-process"
}
