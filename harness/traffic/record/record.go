// Package record is a reverse proxy that forwards every request to a real
// coupon service and writes it to a trace, redacting credentials first
// (Authorization, X-App-Token, cookies, and any header, query parameter or
// JSON field named in a redaction list), so a team can record traffic from
// a staging or production mirror without leaking secrets into fixtures.
// It also links each rollback to the redeem whose redemption it names, so
// the replayer can substitute the redemption id of its own run.
package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// Redacted replaces every redacted value.
const Redacted = "REDACTED"

// DefaultHeaders are always redacted unless Config.NoDefaults is set.
var DefaultHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
	api.HeaderAppToken, "X-Api-Key", "X-Auth-Token", "X-Csrf-Token",
}

// DefaultFields are the JSON fields, form fields and query parameters always
// redacted unless Config.NoDefaults is set.
var DefaultFields = []string{
	"password", "passwd", "secret", "client_secret", "token", "access_token",
	"refresh_token", "id_token", "api_key", "apikey", "app_token", "authorization",
}

// Config says where to forward and what to redact.
type Config struct {
	// Upstream is the real service.
	Upstream *url.URL
	// Redact names more headers, query parameters or JSON/form fields to
	// redact (case-insensitive); each name applies to all of them.
	Redact []string
	// NoDefaults keeps the default credentials in the trace. Only for
	// traffic that carries no real secret.
	NoDefaults bool
	// MaxBody is the largest body recorded (default 16 MiB); a larger
	// request is forwarded but recorded without its body.
	MaxBody int64
	// Remember is how many redemption ids are kept to link rollbacks to
	// their redeems (default 500,000).
	Remember int
}

// Recorder is an http.Handler that records and forwards.
type Recorder struct {
	cfg     Config
	proxy   *httputil.ReverseProxy
	names   map[string]bool // lower-case names to redact
	start   time.Time
	mu      sync.Mutex
	out     *trace.Writer
	err     error
	ids     map[string]string // redemption id → idempotency key of its redeem
	idOrder []string
}

// New records into out (which the caller closes after the last request).
func New(cfg Config, out *trace.Writer) (*Recorder, error) {
	if cfg.Upstream == nil || cfg.Upstream.Host == "" || (cfg.Upstream.Scheme != "http" && cfg.Upstream.Scheme != "https") {
		return nil, errors.New("record: upstream: want an http(s) URL with a host")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 20
	}
	if cfg.Remember <= 0 {
		cfg.Remember = 500_000
	}
	r := &Recorder{cfg: cfg, names: map[string]bool{}, start: time.Now(), out: out, ids: map[string]string{}}
	if !cfg.NoDefaults {
		for _, n := range append(append([]string(nil), DefaultHeaders...), DefaultFields...) {
			r.names[strings.ToLower(n)] = true
		}
	}
	for _, n := range cfg.Redact {
		if n = strings.TrimSpace(n); n != "" {
			r.names[strings.ToLower(n)] = true
		}
	}
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(cfg.Upstream)
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: r.learn,
	}
	return r, nil
}

// Start is the wall-clock time offsets are measured from.
func (r *Recorder) Start() time.Time { return r.start }

// Err returns the first error writing the trace.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// ServeHTTP records the request, then forwards it.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, r.cfg.MaxBody+1))
	if err != nil {
		http.Error(w, "record: read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	tooLarge := int64(len(body)) > r.cfg.MaxBody
	req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), req.Body))
	r.write(req, body, tooLarge)
	r.proxy.ServeHTTP(w, req)
}

func (r *Recorder) write(req *http.Request, body []byte, tooLarge bool) {
	line := trace.Request{
		Client:  clientID(req),
		Method:  req.Method,
		Path:    r.redactQuery(req.URL),
		Headers: r.redactHeaders(req.Header),
	}
	if !tooLarge {
		line.SetBody(r.redactBody(req.Header.Get("Content-Type"), body))
	}
	trace.Annotate(&line)
	if line.Op == history.Rollback {
		_, id := trace.Classify(req.Method, req.URL.Path)
		r.mu.Lock()
		key, ok := r.ids[id]
		r.mu.Unlock()
		if ok {
			line.Undoes = key
			line.Path = strings.Replace(line.Path, "/"+id+"/", "/"+trace.RedemptionPlaceholder+"/", 1)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	line.At = time.Since(r.start).Round(time.Microsecond).Seconds()
	if err := r.out.Write(line); err != nil && r.err == nil {
		r.err = err
	}
}

// learn reads the redemption id of a successful redeem, to link later rollbacks.
func (r *Recorder) learn(resp *http.Response) error {
	req := resp.Request
	if op, _ := trace.Classify(req.Method, req.URL.Path); op != history.Redeem || resp.StatusCode/100 != 2 {
		return nil
	}
	key := req.Header.Get(api.HeaderIdempotencyKey)
	if key == "" {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("record: read redeem answer: %w", err)
	}
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), resp.Body))
	var red api.Redemption
	if json.Unmarshal(b, &red) != nil || red.ID == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, seen := r.ids[red.ID]; !seen {
		r.idOrder = append(r.idOrder, red.ID)
		if len(r.idOrder) > r.cfg.Remember {
			delete(r.ids, r.idOrder[0])
			r.idOrder = r.idOrder[1:]
		}
	}
	r.ids[red.ID] = key
	return nil
}

// clientID names the virtual client: X-Client-Id if the client sends one,
// else the first X-Forwarded-For address, else the remote address.
func clientID(req *http.Request) string {
	if c := req.Header.Get("X-Client-Id"); c != "" {
		return c
	}
	if xff := req.Header.Get("X-Forwarded-For"); xff != "" {
		return "ip-" + strings.TrimSpace(strings.Split(xff, ",")[0])
	}
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	return "ip-" + host
}

func (r *Recorder) redactHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		if r.names[strings.ToLower(k)] {
			out[k] = Redacted
			continue
		}
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

func (r *Recorder) redactQuery(u *url.URL) string {
	path := u.EscapedPath()
	if u.RawQuery == "" {
		return path
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// Unparseable: keep no query rather than a possible secret.
		return path
	}
	for k := range q {
		if r.names[strings.ToLower(k)] {
			q[k] = []string{Redacted}
		}
	}
	return path + "?" + q.Encode()
}

// redactBody redacts JSON and form bodies; other bodies are kept.
func (r *Recorder) redactBody(contentType string, body []byte) []byte {
	if len(body) == 0 {
		return body
	}
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return []byte(Redacted)
		}
		for k := range q {
			if r.names[strings.ToLower(k)] {
				q[k] = []string{Redacted}
			}
		}
		return []byte(q.Encode())
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return body
	}
	if !r.redactJSON(v) {
		return body
	}
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(Redacted)
	}
	return b
}

func (r *Recorder) redactJSON(v any) bool {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if r.names[strings.ToLower(k)] {
				t[k] = Redacted
				changed = true
				continue
			}
			if r.redactJSON(x) {
				changed = true
			}
		}
	case []any:
		for _, x := range t {
			if r.redactJSON(x) {
				changed = true
			}
		}
	}
	return changed
}
