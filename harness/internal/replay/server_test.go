package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
)

// seen is one request as the test server received it.
type seen struct {
	at       time.Time
	method   string
	path     string
	host     string
	header   http.Header
	body     []byte
	customer string
}

// couponServer is a small coupon API for the replayer's tests: redeems are
// idempotent by key, limited vouchers run out, rollbacks need a real
// redemption id and a second rollback of one redemption is refused
// (already_rolled_back). Stall, when set, delays the answer to a request;
// lost, when it says so, makes the server do the work and commit but
// answer 503 as the Heroku router does on an H12.
type couponServer struct {
	mu          sync.Mutex
	reqs        []seen
	quantity    map[string]int // voucher → remaining (absent: unlimited)
	redemptions map[string]api.Redemption
	byKey       map[string]string // idempotency key → redemption id
	rolledBack  map[string]int    // redemption id → rollbacks committed
	next        int
	stall       func(n int, r *http.Request) time.Duration
	lost        func(n int, r *http.Request) bool
}

func newCouponServer() *couponServer {
	return &couponServer{quantity: map[string]int{}, redemptions: map[string]api.Redemption{},
		byKey: map[string]string{}, rolledBack: map[string]int{}}
}

// routerTimeout commits what the handler did but answers what the Heroku
// router answers on an H12: a 503 with its HTML error page.
type routerTimeout struct{ h http.Header }

func (w *routerTimeout) Header() http.Header         { return w.h }
func (w *routerTimeout) Write(b []byte) (int, error) { return len(b), nil }
func (w *routerTimeout) WriteHeader(int)             {}

func (s *couponServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req api.RedeemRequest
	_ = json.Unmarshal(body, &req)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, seen{at: time.Now(), method: r.Method, path: r.URL.Path, host: r.Host,
		header: r.Header.Clone(), body: body, customer: req.Customer.SourceID})
	stall, lost := s.stall, s.lost
	s.mu.Unlock()
	if stall != nil {
		if d := stall(n, r); d > 0 {
			time.Sleep(d)
		}
	}
	if lost != nil && lost(n, r) {
		s.handle(&routerTimeout{h: http.Header{}}, r, body, req)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("<html><body>Application error</body></html>"))
		return
	}
	s.handle(w, r, body, req)
}

func (s *couponServer) handle(w http.ResponseWriter, r *http.Request, _ []byte, req api.RedeemRequest) {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(seg) == 4 && seg[3] == "redemption":
		s.redeem(w, seg[2], r.Header.Get(api.HeaderIdempotencyKey), req)
	case len(seg) == 4 && seg[3] == "rollback":
		s.mu.Lock()
		red, ok := s.redemptions[seg[2]]
		again := s.rolledBack[red.ID] > 0
		if ok && !again {
			s.rolledBack[red.ID]++
		}
		s.mu.Unlock()
		if !ok {
			writeJSON(w, 404, api.Error{Code: 404, Key: api.KeyNotFound})
			return
		}
		if again {
			writeJSON(w, 400, api.Error{Code: 400, Key: api.KeyAlreadyRolledBack})
			return
		}
		writeJSON(w, 200, api.RollbackResponse{ID: "rb_" + red.ID, Redemption: red.ID, Voucher: red.Voucher, Amount: red.Amount, Result: api.ResultSuccess})
	case len(seg) == 4 && seg[3] == "validate":
		s.mu.Lock()
		q, limited := s.quantity[seg[2]]
		s.mu.Unlock()
		if limited && q <= 0 {
			writeJSON(w, 200, api.ValidateResponse{Code: seg[2], Valid: false, Key: api.KeyQuantityExceeded, Reason: "quantity exceeded"})
			return
		}
		writeJSON(w, 200, api.ValidateResponse{Code: seg[2], Valid: true})
	default:
		writeJSON(w, 200, map[string]string{"ok": "yes"})
	}
}

func (s *couponServer) redeem(w http.ResponseWriter, code, key string, req api.RedeemRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.byKey[key]; ok && key != "" {
		writeJSON(w, 200, s.redemptions[id])
		return
	}
	if q, limited := s.quantity[code]; limited {
		if q <= 0 {
			writeJSON(w, 400, api.Error{Code: 400, Key: api.KeyQuantityExceeded})
			return
		}
		s.quantity[code] = q - 1
	}
	s.next++
	red := api.Redemption{ID: fmt.Sprintf("r_%d", s.next), Voucher: code, CustomerID: req.Customer.SourceID,
		Amount: 100, Result: api.ResultSuccess, IdempotencyKey: key}
	s.redemptions[red.ID] = red
	s.byKey[key] = red.ID
	writeJSON(w, 200, red)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *couponServer) received() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// serve starts h on addr (host:port, port 0 for any) and returns the bound port.
func serve(t testing.TB, addr string, h http.Handler) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// servePair starts two servers on one port at two loopback addresses.
func servePair(t testing.TB, a, b netip.Addr, ha, hb http.Handler) int {
	t.Helper()
	for try := 0; try < 20; try++ {
		ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
		require.NoError(t, err)
		port := ln.Addr().(*net.TCPAddr).Port
		ln2, err := net.Listen("tcp", netip.AddrPortFrom(b, uint16(port)).String())
		if err != nil {
			ln.Close()
			continue
		}
		for _, p := range []struct {
			ln net.Listener
			h  http.Handler
		}{{ln, ha}, {ln2, hb}} {
			srv := &http.Server{Handler: p.h, ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = srv.Serve(p.ln) }()
			t.Cleanup(func() { _ = srv.Close() })
		}
		return port
	}
	t.Fatal("no common free port on two loopback addresses")
	return 0
}
