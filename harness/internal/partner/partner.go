// Package partner is the partner endpoint of a rehearsal: a CRM webhook the
// service calls on every committed redemption, behind a firewall that
// accepts only an allow-list of source addresses — as enterprise partners
// do, and as a cutover learns the hard way when the service's egress
// address changes from Heroku's (which changes on every dyno restart) to
// the target's fixed NAT address.
package partner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Call is one call the partner received.
type Call struct {
	Time         time.Time `json:"time"`
	Source       string    `json:"source"`
	Accepted     bool      `json:"accepted"`
	EventID      string    `json:"event_id,omitempty"`
	RedemptionID string    `json:"redemption_id,omitempty"`
}

// Server is the partner webhook.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}

	mu       sync.Mutex
	allow    map[netip.Addr]bool // nil: accept every source
	calls    []Call
	accepted map[string]time.Time // redemption id → first accepted call
}

// Start listens on host (a loopback address) on a free port.
func Start(host string) (*Server, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("start partner endpoint: %w", err)
	}
	s := &Server{addr: l.Addr().String(), done: make(chan struct{}), accepted: map[string]time.Time{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // Close reports shutdown problems
		}
	}()
	return s, nil
}

// URL is the webhook URL to give the service.
func (s *Server) URL() string { return "http://" + s.addr + "/webhooks/redemptions" }

// Allow sets the firewall's allow-list; no addresses means accept all.
func (s *Server) Allow(addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(addrs) == 0 {
		s.allow = nil
		return
	}
	s.allow = map[netip.Addr]bool{}
	for _, a := range addrs {
		s.allow[a] = true
	}
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	src := ap.Addr().Unmap()
	var ev struct {
		ID           string `json:"id"`
		RedemptionID string `json:"redemption_id"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	_ = json.Unmarshal(body, &ev)

	s.mu.Lock()
	ok := err == nil && (s.allow == nil || s.allow[src])
	now := time.Now()
	s.calls = append(s.calls, Call{Time: now, Source: src.String(), Accepted: ok, EventID: ev.ID, RedemptionID: ev.RedemptionID})
	if ok && ev.RedemptionID != "" {
		if _, seen := s.accepted[ev.RedemptionID]; !seen {
			s.accepted[ev.RedemptionID] = now
		}
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "forbidden: source address not on the allow-list", http.StatusForbidden)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Calls returns every call received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Accepted returns when the first accepted call for each redemption came.
func (s *Server) Accepted() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]time.Time, len(s.accepted))
	for k, v := range s.accepted {
		out[k] = v
	}
	return out
}

// SourceStats counts calls per source address.
type SourceStats struct {
	Source   string `json:"source"`
	Accepted int    `json:"accepted"`
	Rejected int    `json:"rejected"`
}

// Sources summarizes calls by source address, sorted by address.
func (s *Server) Sources() []SourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := map[string]*SourceStats{}
	for _, c := range s.calls {
		st := by[c.Source]
		if st == nil {
			st = &SourceStats{Source: c.Source}
			by[c.Source] = st
		}
		if c.Accepted {
			st.Accepted++
		} else {
			st.Rejected++
		}
	}
	out := make([]SourceStats, 0, len(by))
	for _, st := range by {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

// Close stops the endpoint.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
