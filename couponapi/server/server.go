// Package server is couponapi's HTTP layer: routing, credentials, request
// ids, access logs, rate limits, JSON errors with stable keys, and the
// handlers that turn API calls into store transactions. It decides nothing
// about money itself: the voucher rules live in package voucher and every
// redemption is decided inside a Postgres transaction (package store).
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/couponapi/cache"
	"github.com/cutover/cutover/couponapi/metrics"
	"github.com/cutover/cutover/couponapi/store"
)

// Deps is what the server needs.
type Deps struct {
	Store *store.Store
	Cache *cache.Cache
	Log   *slog.Logger
	// Credentials maps each accepted X-App-Id to its X-App-Token.
	Credentials map[string]string
	Bugs        bugs.Set
	// DBTimeout bounds each request's database work (default 3s).
	DBTimeout time.Duration
	// ValidateCacheTTL is the lifetime of a cached voucher (default 2s).
	ValidateCacheTTL time.Duration
	// RateLimit is requests per second per application; 0 is no limit.
	RateLimit int
	// Migrated reports whether the schema is ready; until it is, /v1 answers
	// 503. Nil means ready.
	Migrated func() bool
	// Draining reports whether the process is shutting down (readyz fails).
	Draining func() bool
	// Committed is called after a transaction that recorded events
	// committed (it wakes the outbox relay). Nil is a no-op.
	Committed func()
	// Metrics, when set, counts every request and is served at GET
	// /metrics (no credentials, like /healthz).
	Metrics *metrics.Service
}

// Server serves the coupon API.
type Server struct {
	d   Deps
	mux *http.ServeMux

	// hot bounds the concurrent writes of one voucher (see keyLimit).
	hot *keyLimit

	// retained holds uploads kept by the planted bug import_buffer.
	mu       sync.Mutex
	retained [][]byte
}

// jsonBodyLimit bounds the body of every call but import.
const jsonBodyLimit = 1 << 20

// New builds the server.
func New(d Deps) *Server {
	if d.DBTimeout <= 0 {
		d.DBTimeout = 3 * time.Second
	}
	if d.ValidateCacheTTL <= 0 {
		d.ValidateCacheTTL = 2 * time.Second
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Committed == nil {
		d.Committed = func() {}
	}
	s := &Server{d: d, mux: http.NewServeMux(), hot: newKeyLimit(perVoucherWrites)}
	s.routes()
	return s
}

func (s *Server) routes() {
	route := func(path string, byMethod map[string]http.HandlerFunc) {
		allowed := make([]string, 0, len(byMethod))
		for m, h := range byMethod {
			s.mux.HandleFunc(m+" "+path, h)
			allowed = append(allowed, m)
		}
		sort.Strings(allowed)
		allow := strings.Join(allowed, ", ")
		notAllowed := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, r, http.StatusMethodNotAllowed, api.KeyMethodNotAllowed, "method not allowed",
				r.Method+" is not supported here; use "+allow)
		}
		// One pattern per other method: a method-less pattern would
		// conflict with the wildcard routes (/v1/vouchers/{code}).
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if byMethod[m] == nil {
				s.mux.HandleFunc(m+" "+path, notAllowed)
			}
		}
	}
	route(api.PathHealth, map[string]http.HandlerFunc{"GET": s.healthz})
	route(api.PathReady, map[string]http.HandlerFunc{"GET": s.readyz})
	if s.d.Metrics != nil {
		route(api.PathMetrics, map[string]http.HandlerFunc{"GET": s.d.Metrics.Handler().ServeHTTP})
	}
	route(api.PathVouchers, map[string]http.HandlerFunc{"POST": s.createVoucher})
	route(api.PathImport, map[string]http.HandlerFunc{"POST": s.importVouchers})
	route(api.PathExport, map[string]http.HandlerFunc{"GET": s.exportVouchers})
	route(api.PathVouchers+"/{code}", map[string]http.HandlerFunc{"GET": s.getVoucher})
	route(api.PathVouchers+"/{code}/validate", map[string]http.HandlerFunc{"POST": s.validate})
	route(api.PathVouchers+"/{code}/redemption", map[string]http.HandlerFunc{"POST": s.redeem})
	route(api.PathRedemptions, map[string]http.HandlerFunc{"GET": s.listRedemptions})
	route(api.PathRedemptions+"/{id}", map[string]http.HandlerFunc{"GET": s.getRedemption})
	route(api.PathRedemptions+"/{id}/rollback", map[string]http.HandlerFunc{"POST": s.rollback})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, api.KeyNotFound, "resource not found", "no route "+r.URL.Path)
	})
}

// reqInfo is what a handler adds to its access-log line.
type reqInfo struct {
	requestID string
	appID     string
	replayed  bool
	err       error
	fields    []any
}

type ctxKey struct{}

func info(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(ctxKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// ServeHTTP runs the middleware (request id, recovery, access log,
// readiness gate, credentials, rate limit) and the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ri := &reqInfo{requestID: requestID(r.Header.Get(api.HeaderRequestID))}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
	w.Header().Set(api.HeaderRequestID, ri.requestID)
	rec := &recorder{ResponseWriter: w}
	if s.d.Metrics != nil {
		s.d.Metrics.Start()
	}
	defer func() {
		if s.d.Metrics != nil {
			s.d.Metrics.Done(routeOf(r), r.Method, rec.statusOrOK(), time.Since(start))
		}
		if p := recover(); p != nil {
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				ri.err = errors.New("response aborted")
				s.logRequest(r, rec, ri, start)
				panic(p)
			}
			ri.err = fmt.Errorf("panic: %v", p)
			s.d.Log.Error("panic serving request", "request_id", ri.requestID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rec.wrote {
				writeError(rec, r, http.StatusInternalServerError, api.KeyInternal, "internal error", "")
			}
		}
		s.logRequest(r, rec, ri, start)
	}()
	if strings.HasPrefix(r.URL.Path, "/v1/") && !s.admit(rec, r, ri) {
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// admit applies the readiness gate, the credentials and the rate limit.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, ri *reqInfo) bool {
	id, token := r.Header.Get(api.HeaderAppID), r.Header.Get(api.HeaderAppToken)
	if id == "" || token == "" {
		writeError(w, r, http.StatusUnauthorized, api.KeyUnauthorized, "unauthorized",
			"missing "+api.HeaderAppID+" or "+api.HeaderAppToken+" header")
		return false
	}
	want, ok := s.d.Credentials[id]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(token)) != 1 {
		writeError(w, r, http.StatusUnauthorized, api.KeyUnauthorized, "unauthorized", "unknown application or wrong token")
		return false
	}
	ri.appID = id
	if s.d.Migrated != nil && !s.d.Migrated() {
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusServiceUnavailable, api.KeyUnavailable, "service starting",
			"the database is not reachable or not migrated yet")
		return false
	}
	if s.d.RateLimit > 0 && !s.d.Cache.Allow(r.Context(), id, s.d.RateLimit) {
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusTooManyRequests, api.KeyRateLimited, "too many requests",
			fmt.Sprintf("over %d requests per second for application %s", s.d.RateLimit, id))
		return false
	}
	return true
}

// routeOf is the route pattern that served r, without its method, or
// metrics.Unrouted when the request was refused before routing.
func routeOf(r *http.Request) string {
	if r.Pattern == "" {
		return metrics.Unrouted
	}
	if _, path, ok := strings.Cut(r.Pattern, " "); ok {
		return path
	}
	return r.Pattern
}

func (s *Server) logRequest(r *http.Request, rec *recorder, ri *reqInfo, start time.Time) {
	status := rec.statusOrOK()
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	attrs := []any{
		"method", r.Method, "path", path, "status", status,
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
		"bytes", rec.bytes, "request_id", ri.requestID,
	}
	if ri.appID != "" {
		attrs = append(attrs, "app_id", ri.appID)
	}
	if ri.replayed {
		attrs = append(attrs, "idempotent_replay", true)
	}
	attrs = append(attrs, ri.fields...)
	level := slog.LevelInfo
	if ri.err != nil {
		attrs = append(attrs, "err", ri.err.Error())
	}
	// A failing readiness probe is the probe doing its job, not an error.
	if status >= 500 && r.URL.Path != api.PathReady {
		level = slog.LevelError
	}
	s.d.Log.Log(r.Context(), level, "", attrs...)
}

// requestID honours an incoming X-Request-Id (as Heroku's router sets it:
// up to 200 characters of letters, digits and + = / - _ . :) or makes one.
func requestID(in string) string {
	if in != "" && len(in) <= 200 {
		ok := true
		for _, c := range in {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+=/-_.:", c)) {
				ok = false
				break
			}
		}
		if ok {
			return in
		}
	}
	return strings.TrimPrefix(store.NewID("req"), "req_")
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

// statusOrOK is the status written, 200 when none was.
func (rec *recorder) statusOrOK() int {
	if rec.status == 0 {
		return http.StatusOK
	}
	return rec.status
}

func (rec *recorder) WriteHeader(code int) {
	if !rec.wrote {
		rec.status, rec.wrote = code, true
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if !rec.wrote {
		rec.status, rec.wrote = http.StatusOK, true
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":500,"key":"internal_error","message":"encode response"}`)
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func apiError(r *http.Request, status int, key, msg, details string) *api.Error {
	return &api.Error{Code: status, Key: key, Message: msg, Details: details, RequestID: info(r).requestID}
}

func writeError(w http.ResponseWriter, r *http.Request, status int, key, msg, details string) {
	writeJSON(w, status, apiError(r, status, key, msg, details))
}

// fail answers an unexpected error: 503 service_unavailable when a
// dependency failed or timed out (safe to retry), 500 otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	info(r).err = fmt.Errorf("%s: %w", what, err)
	if store.Unavailable(err) {
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusServiceUnavailable, api.KeyUnavailable, "service unavailable",
			what+": the database did not answer in time; retry with the same Idempotency-Key")
		return
	}
	writeError(w, r, http.StatusInternalServerError, api.KeyInternal, "internal error", what)
}

// decode reads a JSON body of at most jsonBodyLimit bytes into v. It
// answers the error itself and returns false when the body is bad.
func decode(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) bool {
	body := http.MaxBytesReader(w, r.Body, jsonBodyLimit)
	dec := json.NewDecoder(body)
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err == nil {
		return true
	}
	if allowEmpty && errors.Is(err, io.EOF) {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, r, http.StatusRequestEntityTooLarge, api.KeyPayloadTooLarge, "request body too large",
			fmt.Sprintf("the body is limited to %d bytes", jsonBodyLimit))
		return false
	}
	writeError(w, r, http.StatusBadRequest, api.KeyInvalidPayload, "invalid payload", err.Error())
	return false
}

// dbContext bounds a request's database work. Writes continue when the
// client goes away (a transaction half done helps nobody); reads do not.
func (s *Server) dbContext(r *http.Request, write bool) (context.Context, context.CancelFunc) {
	ctx := r.Context()
	if write {
		ctx = context.WithoutCancel(ctx)
	}
	return context.WithTimeout(ctx, s.d.DBTimeout)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when this process should get traffic: not shutting
// down, schema migrated, Postgres answering. Redis is reported but does not
// fail readiness: without it the service is slower, not wrong.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	out := api.Readiness{Status: "ok", Checks: map[string]string{}}
	ok := true
	if s.d.Draining != nil && s.d.Draining() {
		out.Checks["process"] = "draining"
		ok = false
	} else {
		out.Checks["process"] = "ok"
	}
	if s.d.Migrated != nil && !s.d.Migrated() {
		out.Checks["migrations"] = "pending"
		ok = false
	} else {
		out.Checks["migrations"] = "ok"
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.d.Store.Ping(ctx); err != nil {
		out.Checks["postgres"] = err.Error()
		ok = false
	} else {
		out.Checks["postgres"] = "ok"
	}
	if err := s.d.Cache.Ping(ctx); err != nil {
		out.Checks["redis"] = "degraded: " + err.Error()
	} else {
		out.Checks["redis"] = "ok"
	}
	status := http.StatusOK
	if !ok {
		out.Status = "unavailable"
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, out)
}
