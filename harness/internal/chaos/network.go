package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// toxic adds one Toxiproxy toxic to every link matching a glob; healing
// removes it. latency, bandwidth, timeout and reset-peer are all toxics.
type toxic struct {
	glob     string
	typ      string
	stream   string
	attrs    toxiproxy.Attributes
	toxicity float32
	// probes are the round trips measured through each link before and
	// after the toxic was added.
	probes []linkProbe
}

var _ Healer = (*toxic)(nil)

func (t *toxic) name() string { return "cutover_" + t.typ + "_" + t.stream }

func (t *toxic) Start(ctx context.Context, env *Env) error {
	ls, err := links(env, t.glob)
	if err != nil {
		return err
	}
	t.probes, err = probeLinks(ctx, env, t.glob, func() error {
		for _, l := range ls {
			if _, err := l.AddToxic(t.name(), t.typ, t.stream, t.toxicity, t.attrs); err != nil {
				return fmt.Errorf("add %s toxic to %s: %w", t.typ, l.Name, err)
			}
		}
		return nil
	})
	return err
}

func (t *toxic) Heal(ctx context.Context, env *Env) error {
	ls, err := links(env, t.glob)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range ls {
		if err := l.RemoveToxic(t.name()); err != nil {
			errs = append(errs, fmt.Errorf("remove %s toxic from %s: %w", t.typ, l.Name, err))
		}
	}
	return errors.Join(errs...)
}

func requireLink(target string) error {
	if target == "" {
		return &ParamError{Param: "target", Msg: `network faults need a target link, e.g. "aws->postgres" or "*->redis"`}
	}
	return nil
}

func newToxic(p params, target, typ string, attrs toxiproxy.Attributes) (Fault, error) {
	if err := requireLink(target); err != nil {
		return nil, err
	}
	stream, err := p.oneOf("stream", "downstream", "downstream", "upstream")
	if err != nil {
		return nil, err
	}
	return &toxic{glob: target, typ: typ, stream: stream, attrs: attrs, toxicity: 1}, nil
}

func newLatency(p params, target string, dur time.Duration) (Fault, error) {
	lat, err := p.duration("latency", 0)
	if err != nil {
		return nil, err
	}
	if lat == 0 {
		return nil, &ParamError{Param: "latency", Msg: "latency: required, e.g. 200ms"}
	}
	jit, err := p.duration("jitter", 0)
	if err != nil {
		return nil, err
	}
	return newToxic(p, target, "latency", toxiproxy.Attributes{"latency": lat.Milliseconds(), "jitter": jit.Milliseconds()})
}

func newBandwidth(p params, target string, dur time.Duration) (Fault, error) {
	rate, err := p.int("rate_kbps", 0, 1, 1<<30)
	if err != nil {
		return nil, err
	}
	if rate == 0 {
		return nil, &ParamError{Param: "rate_kbps", Msg: "rate_kbps: required, e.g. 64"}
	}
	return newToxic(p, target, "bandwidth", toxiproxy.Attributes{"rate": rate})
}

func newTimeoutToxic(p params, target string, dur time.Duration) (Fault, error) {
	d, err := p.duration("timeout", 0)
	if err != nil {
		return nil, err
	}
	return newToxic(p, target, "timeout", toxiproxy.Attributes{"timeout": d.Milliseconds()})
}

func newResetPeer(p params, target string, dur time.Duration) (Fault, error) {
	d, err := p.duration("timeout", 0)
	if err != nil {
		return nil, err
	}
	return newToxic(p, target, "reset_peer", toxiproxy.Attributes{"timeout": d.Milliseconds()})
}

// linkDown disables links: new connections are refused and open ones cut.
type linkDown struct {
	glob   string
	probes []linkProbe
}

var _ Healer = (*linkDown)(nil)

func newLinkDown(p params, target string, dur time.Duration) (Fault, error) {
	if err := requireLink(target); err != nil {
		return nil, err
	}
	return &linkDown{glob: target}, nil
}

func (d *linkDown) Start(ctx context.Context, env *Env) error {
	ls, err := links(env, d.glob)
	if err != nil {
		return err
	}
	d.probes, err = probeLinks(ctx, env, d.glob, func() error {
		for _, l := range ls {
			if err := l.Disable(); err != nil {
				return fmt.Errorf("take link %s down: %w", l.Name, err)
			}
		}
		return nil
	})
	return err
}

func (d *linkDown) Heal(ctx context.Context, env *Env) error {
	ls, err := links(env, d.glob)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range ls {
		if err := l.Enable(); err != nil {
			errs = append(errs, fmt.Errorf("bring link %s up: %w", l.Name, err))
		}
	}
	return errors.Join(errs...)
}

// newMongoUnavailable takes every link to Mongo down.
func newMongoUnavailable(p params, target string, dur time.Duration) (Fault, error) {
	return &linkDown{glob: "*->mongo"}, nil
}
