package scenario

import "time"

// TotalHold is the replay time of the whole plan.
func (s *Scenario) TotalHold() time.Duration {
	var d time.Duration
	for _, st := range s.Steps {
		if st.Hold != nil {
			d += st.Hold.Duration.D()
		}
	}
	return d
}

// QuickFactor is how much --quick divides the scenario's times by: the
// file's quick.factor, or by default what brings the holds to about 20 s.
func (s *Scenario) QuickFactor() float64 {
	if s.Quick.Factor > 0 {
		return s.Quick.Factor
	}
	total := s.TotalHold()
	if total <= DefaultQuickTarget {
		return 1
	}
	return float64(total) / float64(DefaultQuickTarget)
}

// Quickened returns a copy for --quick: every hold, fault delay, fault
// duration and gate interval/window divided by QuickFactor, keeping every
// step and fault. Heroku's own clocks keep their time compression.
func (s Scenario) Quickened() Scenario {
	f := s.QuickFactor()
	if f <= 1 {
		return s
	}
	div := func(d Duration) Duration { return Duration(float64(d) / f) }
	steps := make([]Step, len(s.Steps))
	for i, st := range s.Steps {
		if st.Hold != nil {
			h := *st.Hold
			h.Duration = div(h.Duration)
			st.Hold = &h
		}
		if st.Fault != nil {
			fl := *st.Fault
			fl.After = div(fl.After)
			fl.Duration = div(fl.Duration)
			st.Fault = &fl
		}
		steps[i] = st
	}
	s.Steps = steps
	s.Gate.Interval = div(s.Gate.Interval)
	s.Gate.Window = div(s.Gate.Window)
	return s
}
