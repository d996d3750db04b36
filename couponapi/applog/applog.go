// Package applog writes couponapi's log the way a Heroku app does: one
// logfmt line per event on stdout, starting with at=<level>, no timestamp
// (the platform's log router adds it), e.g.
//
//	at=info method=POST path=/v1/vouchers/SPRING/redemption status=200 duration_ms=4.1 request_id=...
package applog

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-logfmt/logfmt"
)

// Handler is a slog.Handler writing logfmt lines.
type Handler struct {
	w     io.Writer
	mu    *sync.Mutex
	level slog.Leveler
	attrs []slog.Attr // already qualified by their groups
	group string      // prefix for attributes added later
}

var _ slog.Handler = (*Handler)(nil)

// New writes lines at level and above to w.
func New(w io.Writer, level slog.Leveler) *Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &Handler{w: w, mu: &sync.Mutex{}, level: level}
}

// Logger is slog.New(New(w, level)).
func Logger(w io.Writer, level slog.Leveler) *slog.Logger { return slog.New(New(w, level)) }

// Enabled reports whether level is logged.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool { return level >= h.level.Level() }

// Handle writes one line.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var buf bytes.Buffer
	enc := logfmt.NewEncoder(&buf)
	_ = enc.EncodeKeyval("at", levelName(r.Level))
	if r.Message != "" {
		_ = enc.EncodeKeyval("msg", r.Message)
	}
	for _, a := range h.attrs {
		encodeAttr(enc, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		encodeAttr(enc, h.group, a)
		return true
	})
	_ = enc.EndRecord()
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf.Bytes())
	return err
}

func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warn"
	case l >= slog.LevelInfo:
		return "info"
	default:
		return "debug"
	}
}

func encodeAttr(enc *logfmt.Encoder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	key := a.Key
	if prefix != "" {
		key = prefix + "." + key
	}
	switch a.Value.Kind() {
	case slog.KindGroup:
		p := key
		if a.Key == "" {
			p = prefix
		}
		for _, g := range a.Value.Group() {
			encodeAttr(enc, p, g)
		}
		return
	case slog.KindDuration:
		_ = enc.EncodeKeyval(key, a.Value.Duration().String())
		return
	case slog.KindTime:
		_ = enc.EncodeKeyval(key, a.Value.Time().UTC().Format(time.RFC3339Nano))
		return
	}
	v := a.Value.Any()
	if err, ok := v.(error); ok {
		v = err.Error()
	}
	if err := enc.EncodeKeyval(key, v); err != nil {
		_ = enc.EncodeKeyval(key, a.Value.String())
	}
}

// WithAttrs returns a handler that adds attrs to every line.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]slog.Attr{}, h.attrs...)
	for _, a := range attrs {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		h2.attrs = append(h2.attrs, a)
	}
	return &h2
}

// WithGroup returns a handler that qualifies later keys with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group = strings.TrimPrefix(h.group+"."+name, ".")
	return &h2
}
