package machine

import (
	"bytes"
	"context"
	"fmt"
	"runtime/pprof"

	"github.com/google/pprof/profile"
)

// LabelKey is the pprof label that names the component a goroutine works
// for inside the harness process.
const LabelKey = "cutover.component"

// Names of the components that run inside the harness process. Any other
// label value becomes a component of that name too.
const (
	Harness      = "harness"       // the rest of the harness process (replayer, gate, history, nemesis, ...)
	Router       = "router"        // the simulated Heroku router
	LoadBalancer = "load-balancer" // the local target's load balancer
	DNSModel     = "dns-model"     // the clients' resolvers and caches
)

// Do runs f with the calling goroutine labelled as component name; every
// goroutine started inside f (and theirs) carries the label too, so a
// server started inside Do — its accept loop, its connections, their
// handlers — is accounted to name.
func Do(ctx context.Context, name string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(LabelKey, name), f)
}

// Labels returns ctx labelled as component name. A hot path switches to it
// and back with pprof.SetGoroutineLabels (a pointer store; make the
// context once, outside the loop).
func Labels(ctx context.Context, name string) context.Context {
	return pprof.WithLabels(ctx, pprof.Labels(LabelKey, name))
}

// labelSplit runs a CPU profile of the harness process and, at each cut,
// says which share of the CPU the goroutines of each component label used
// since the previous cut.
type labelSplit struct {
	buf *bytes.Buffer
}

// startSplit starts the CPU profile. It fails when one already runs (go
// test -cpuprofile): the harness is then accounted as one component.
func startSplit() (*labelSplit, error) {
	l := &labelSplit{buf: new(bytes.Buffer)}
	if err := pprof.StartCPUProfile(l.buf); err != nil {
		return nil, fmt.Errorf("split the harness's cpu by component: %w", err)
	}
	return l, nil
}

// cut ends the current profile, starts the next one, and returns the CPU
// time each label used in the ended one, in nanoseconds ("" for goroutines
// without a label).
func (l *labelSplit) cut() (map[string]int64, error) {
	pprof.StopCPUProfile()
	data := l.buf
	l.buf = new(bytes.Buffer)
	if err := pprof.StartCPUProfile(l.buf); err != nil {
		l.buf = nil
		return nil, fmt.Errorf("restart the cpu profile: %w", err)
	}
	return labelTimes(data.Bytes())
}

// stop ends the profile for good.
func (l *labelSplit) stop() {
	if l.buf != nil {
		pprof.StopCPUProfile()
		l.buf = nil
	}
}

// labelTimes sums a CPU profile's samples by component label.
func labelTimes(data []byte) (map[string]int64, error) {
	if len(data) == 0 {
		return map[string]int64{}, nil
	}
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("parse cpu profile: %w", err)
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("cpu profile has no cpu sample type")
	}
	out := map[string]int64{}
	for _, s := range p.Sample {
		name := ""
		if v := s.Label[LabelKey]; len(v) > 0 {
			name = v[0]
		}
		out[name] += s.Value[idx]
	}
	return out, nil
}
