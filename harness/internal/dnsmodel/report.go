package dnsmodel

import (
	"math"
	"time"
)

// stage is one weight setting and the requests counted while it held.
type stage struct {
	name       string
	start      time.Time
	configured map[string]float64 // nil for requests before any stage
	stride     int                // platforms + Unknown
	counts     []int64            // per platform
	windows    []int64            // per window, stride counts each
}

// Split is configured against observed traffic for one stretch of time.
type Split struct {
	// Configured is each platform's share in percent from the Route53
	// weights (empty before the first stage).
	Configured map[string]float64 `json:"configured"`
	// Requests counts the requests that went to each platform.
	Requests map[string]int64 `json:"requests"`
	// Observed is each platform's share of Requests in percent.
	Observed map[string]float64 `json:"observed"`
	// Total is the number of requests.
	Total int64 `json:"total"`
}

// Window is one reporting interval of a stage.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Split
}

// Stage is one weight setting: its split over the whole stage and per
// window, and how long the observed split took to settle within
// Config.SettleTolerance points of the configured one.
type Stage struct {
	Name    string    `json:"name"`
	Start   time.Time `json:"start"`
	Windows []Window  `json:"windows"`
	Split
	// Settled says whether every window from some point to the end of the
	// stage was within tolerance; SettleTime is that point, from the start
	// of the stage (a multiple of the window).
	Settled    bool          `json:"settled"`
	SettleTime time.Duration `json:"settle_time"`
}

// Report is everything the model observed.
type Report struct {
	Stages []Stage `json:"stages"`
	// Resolutions counts answers fetched from the source (cache misses);
	// Connections counts keep-alive connections opened; Errors counts
	// requests that could not be routed because the source failed.
	Resolutions int64 `json:"resolutions"`
	Connections int64 `json:"connections"`
	Errors      int64 `json:"errors"`
}

// Report returns the observations so far.
func (m *Model) Report() Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := Report{
		Resolutions: m.resolutions.Load(),
		Connections: m.connections.Load(),
		Errors:      m.errors.Load(),
	}
	for _, st := range m.stages {
		out := Stage{Name: st.name, Start: st.start, Split: m.split(st.configured, st.counts)}
		for i := 0; i*st.stride < len(st.windows); i++ {
			start := st.start.Add(time.Duration(i) * m.cfg.Window)
			out.Windows = append(out.Windows, Window{
				Start: start,
				End:   start.Add(m.cfg.Window),
				Split: m.split(st.configured, st.windows[i*st.stride:(i+1)*st.stride]),
			})
		}
		out.Settled, out.SettleTime = m.settle(out)
		r.Stages = append(r.Stages, out)
	}
	return r
}

func (m *Model) split(configured map[string]float64, counts []int64) Split {
	s := Split{Configured: map[string]float64{}, Requests: map[string]int64{}, Observed: map[string]float64{}}
	for name, pct := range configured {
		s.Configured[name] = pct
	}
	for i, n := range counts {
		s.Total += n
		if n > 0 || i < len(counts)-1 { // list every platform, and Unknown only when seen
			s.Requests[m.names[i]] += n
		}
	}
	for name, n := range s.Requests {
		if s.Total > 0 {
			s.Observed[name] = 100 * float64(n) / float64(s.Total)
		} else {
			s.Observed[name] = 0
		}
	}
	return s
}

// settle finds the first window from which every window with requests is
// within tolerance of the configured split.
func (m *Model) settle(st Stage) (bool, time.Duration) {
	if len(st.Configured) == 0 {
		return false, 0
	}
	settledFrom := -1
	for i, w := range st.Windows {
		if w.Total == 0 {
			continue
		}
		if m.within(w.Split) {
			if settledFrom < 0 {
				settledFrom = i
			}
		} else {
			settledFrom = -1
		}
	}
	if settledFrom < 0 {
		return false, 0
	}
	return true, time.Duration(settledFrom) * m.cfg.Window
}

func (m *Model) within(s Split) bool {
	for name, obs := range s.Observed {
		if math.Abs(obs-s.Configured[name]) > m.cfg.SettleTolerance {
			return false
		}
	}
	for name, cfg := range s.Configured {
		if _, seen := s.Observed[name]; !seen && cfg > m.cfg.SettleTolerance {
			return false
		}
	}
	return true
}
