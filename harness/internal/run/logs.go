package run

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"sync"

	"github.com/cutover/cutover/harness/platform/heroku/routerlog"
	"github.com/cutover/cutover/harness/report"
)

// logFiles writes a platform's log stream into the results folder, one file
// per source (the Heroku router, each dyno, each replica), each written
// atomically: it appears when the run closes it.
type logFiles struct {
	folder *report.Folder
	// route names the file a line belongs in.
	route func(line []byte) string

	mu    sync.Mutex
	files map[string]*logFile
	err   error
}

type logFile struct {
	af *report.AtomicFile
	bw *bufio.Writer
}

func newLogFiles(folder *report.Folder, route func([]byte) string) *logFiles {
	return &logFiles{folder: folder, route: route, files: map[string]*logFile{}}
}

// Write takes one or more whole lines.
func (l *logFiles) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rest := p
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			rest = nil
		}
		name := l.route(line)
		f := l.files[name]
		if f == nil {
			af, err := l.folder.Create(name)
			if err != nil {
				l.err = errors.Join(l.err, err)
				continue
			}
			f = &logFile{af: af, bw: bufio.NewWriterSize(af, 32<<10)}
			l.files[name] = f
		}
		_, _ = f.bw.Write(line)
		if line[len(line)-1] != '\n' {
			_ = f.bw.WriteByte('\n')
		}
	}
	return len(p), nil
}

// Close puts every file in place.
func (l *logFiles) Close(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.err
	for _, f := range l.files {
		err = errors.Join(err, f.bw.Flush(), f.af.Close())
	}
	l.files = map[string]*logFile{}
	return err
}

var _ io.Writer = (*logFiles)(nil)

// routerCodes remembers the Heroku error code of every request the router
// failed, by request id, so the history can say which H-code a client got
// (the code is in the router log, not in the response).
type routerCodes struct {
	mu    sync.Mutex
	codes map[string]string
}

// Write takes router log lines (one per call, as the Heroku app writes).
func (c *routerCodes) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte("code=")) {
		return len(p), nil
	}
	l, err := routerlog.ParseRouter(string(bytes.TrimSpace(p)))
	if err != nil || l.Code == "" || l.RequestID == "" {
		return len(p), nil
	}
	c.mu.Lock()
	if c.codes == nil {
		c.codes = map[string]string{}
	}
	c.codes[l.RequestID] = l.Code
	c.mu.Unlock()
	return len(p), nil
}

func (c *routerCodes) snapshot() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.codes))
	for k, v := range c.codes {
		out[k] = v
	}
	return out
}
