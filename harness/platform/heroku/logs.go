package heroku

import (
	"io"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
)

// logSink writes the app's log stream: router lines, dyno manager lines and
// the dynos' own output, each one Write of one line, in Heroku's
// `heroku logs` form.
type logSink struct {
	w     io.Writer // nil: discard
	now   func() time.Time
	style routerlog.Style

	mu  sync.Mutex
	buf []byte
}

func (s *logSink) write(source, process, msg string) {
	if s.w == nil {
		return
	}
	t := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = routerlog.AppendEntry(s.buf[:0], t, source, process, msg)
	s.buf = append(s.buf, '\n')
	_, _ = s.w.Write(s.buf)
}

// router writes one router line.
func (s *logSink) router(l *routerlog.Line) {
	if s.w == nil {
		return
	}
	t := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = t.UTC().AppendFormat(s.buf[:0], routerlog.TimeLayout)
	s.buf = append(s.buf, " heroku[router]: "...)
	s.buf = l.Append(s.buf, s.style)
	s.buf = append(s.buf, '\n')
	_, _ = s.w.Write(s.buf)
}

// dyno writes a dyno manager line: heroku[web.1]: ...
func (s *logSink) dyno(name, msg string) { s.write("heroku", name, msg) }

// app writes a line of the dyno's own output: app[web.1]: ...
func (s *logSink) app(name, line string) { s.write("app", name, line) }

// api writes a platform API line: app[api]: ...
func (s *logSink) api(msg string) { s.write("app", "api", msg) }
