package routerlog

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Scanner reads the router lines of a Heroku log: one entry a line, in
// either form (see ParseEntry), as `heroku logs` prints it or a results
// folder keeps it. Blank lines, the lines of other processes (dyno manager,
// app output, platform API) and lines that are no log entry at all are
// skipped; a line that names the router but cannot be read stops the scan
// with an error giving the log's name and the line number.
//
//	sc := routerlog.NewScanner(f, f.Name())
//	for sc.Scan() {
//		l := sc.Line()
//		...
//	}
//	if err := sc.Err(); err != nil { ... }
type Scanner struct {
	sc   *bufio.Scanner
	name string
	n    int // lines read
	line Line
	err  error
}

// NewScanner reads r; name is used in errors.
func NewScanner(r io.Reader, name string) *Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	return &Scanner{sc: sc, name: name}
}

// Scan advances to the next router line; it returns false at the end of
// the log or on an error (see Err).
func (s *Scanner) Scan() bool {
	if s.err != nil {
		return false
	}
	for s.sc.Scan() {
		s.n++
		text := strings.TrimSpace(s.sc.Text())
		if text == "" {
			continue
		}
		e, err := ParseEntry(text)
		if err != nil {
			if !namesRouter(text) {
				continue
			}
			s.err = fmt.Errorf("%s:%d: %w", s.name, s.n, err)
			return false
		}
		if !e.IsRouter() {
			continue
		}
		l, err := parseFields(e.Message)
		if err != nil {
			s.err = fmt.Errorf("%s:%d: parse router line: %w", s.name, s.n, err)
			return false
		}
		l.Time = e.Time
		s.line = l
		return true
	}
	if err := s.sc.Err(); err != nil {
		s.err = fmt.Errorf("%s:%d: %w", s.name, s.n, err)
	}
	return false
}

// Line is the router line Scan read.
func (s *Scanner) Line() Line { return s.line }

// Err is the first error of the scan, or nil at a clean end.
func (s *Scanner) Err() error { return s.err }

// namesRouter reports whether a line that is no log entry still carries the
// router's tag in either form, so is a broken router line rather than
// something else written into the log.
func namesRouter(text string) bool {
	return strings.Contains(text, " heroku[router]:") || strings.Contains(text, " heroku router ")
}
