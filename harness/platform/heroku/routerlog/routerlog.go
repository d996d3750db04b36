// Package routerlog reads and writes Heroku log lines: the router's per-request
// logfmt lines (at=, code=, dyno=, connect=, service=, status= ...) and the
// dyno manager's and app's lines, in both the `heroku logs` form and the
// log-drain form (RFC 5424 with an octet count). The report and the oracle use
// it to count H- and R-codes over time and to join request ids to the history.
package routerlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-logfmt/logfmt"
)

// TimeLayout is the timestamp layout of `heroku logs` (microseconds, numeric
// offset: 2024-04-26T16:58:32.943253+00:00).
const TimeLayout = "2006-01-02T15:04:05.000000-07:00"

// Entry is one log line: who wrote it, when, and the message.
type Entry struct {
	Time time.Time
	// Source is "heroku" (router, dyno manager) or "app" (the dyno's own
	// output, the platform API).
	Source string
	// Process is "router", a dyno name ("web.1") or "api".
	Process string
	Message string
}

// IsRouter reports whether e is a router line.
func (e Entry) IsRouter() bool { return e.Source == "heroku" && e.Process == "router" }

// Code is the Heroku error code the entry reports, or "": the code= field of
// a router line, or the R-code of an "Error R14 (Memory quota exceeded)"
// dyno line.
func (e Entry) Code() string {
	if e.IsRouter() {
		l, err := parseFields(e.Message)
		if err != nil {
			return ""
		}
		return l.Code
	}
	rest, ok := strings.CutPrefix(e.Message, "Error ")
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, " ")
	if len(code) < 2 || (code[0] != 'R' && code[0] != 'H') {
		return ""
	}
	if _, err := strconv.Atoi(code[1:]); err != nil {
		return ""
	}
	return code
}

// String formats e in the `heroku logs` form.
func (e Entry) String() string {
	return string(AppendEntry(nil, e.Time, e.Source, e.Process, e.Message))
}

// AppendEntry appends "TIME SOURCE[PROCESS]: MESSAGE" (no newline) to b.
func AppendEntry(b []byte, t time.Time, source, process, msg string) []byte {
	b = t.UTC().AppendFormat(b, TimeLayout)
	b = append(b, ' ')
	b = append(b, source...)
	b = append(b, '[')
	b = append(b, process...)
	b = append(b, "]: "...)
	return append(b, msg...)
}

// ParseEntry reads one line in either form:
//
//	2012-10-11T03:47:20+00:00 heroku[router]: at=info method=GET ...
//	264 <158>1 2012-10-11T03:47:20+00:00 host heroku router - at=info method=GET ...
//
// The octet count of the drain form is optional here and not checked
// against the line (Heroku's own documented example does not match its
// count); ScanFrames uses it to split a drain body.
func ParseEntry(line string) (Entry, error) {
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return Entry{}, errors.New("parse log line: empty")
	}
	s := line
	// An octet count before a syslog frame.
	if i := strings.IndexByte(s, ' '); i > 0 && allDigits(s[:i]) && strings.HasPrefix(s[i+1:], "<") {
		s = s[i+1:]
	}
	if strings.HasPrefix(s, "<") {
		return parseSyslog(line, s)
	}
	ts, rest, ok := strings.Cut(s, " ")
	if !ok {
		return Entry{}, fmt.Errorf("parse log line %q: no space after the timestamp", clip(line))
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Entry{}, fmt.Errorf("parse log line %q: timestamp: %w", clip(line), err)
	}
	tag, msg, ok := strings.Cut(rest, ": ")
	if !ok {
		// "heroku[router]:" followed by nothing.
		tag, ok = strings.CutSuffix(rest, ":")
		if !ok {
			return Entry{}, fmt.Errorf("parse log line %q: no SOURCE[PROCESS]: tag", clip(line))
		}
	}
	open := strings.IndexByte(tag, '[')
	if open <= 0 || !strings.HasSuffix(tag, "]") || strings.ContainsAny(tag, " ") {
		return Entry{}, fmt.Errorf("parse log line %q: tag %q is not SOURCE[PROCESS]", clip(line), clip(tag))
	}
	return Entry{Time: t, Source: tag[:open], Process: tag[open+1 : len(tag)-1], Message: msg}, nil
}

// parseSyslog reads "<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG" as
// Heroku's log drains send it (APP is heroku or app, PROCID the process).
func parseSyslog(line, s string) (Entry, error) {
	end := strings.IndexByte(s, '>')
	if end < 2 || !allDigits(s[1:end]) {
		return Entry{}, fmt.Errorf("parse drain line %q: bad <PRI>", clip(line))
	}
	f := strings.SplitN(s[end+1:], " ", 7)
	// f: version, timestamp, host, app, procid, msgid, rest
	if len(f) < 6 {
		return Entry{}, fmt.Errorf("parse drain line %q: too few header fields", clip(line))
	}
	if f[0] != "1" {
		return Entry{}, fmt.Errorf("parse drain line %q: syslog version %q, want 1", clip(line), f[0])
	}
	t, err := time.Parse(time.RFC3339Nano, f[1])
	if err != nil {
		return Entry{}, fmt.Errorf("parse drain line %q: timestamp: %w", clip(line), err)
	}
	msg := ""
	if len(f) == 7 {
		msg = f[6]
	}
	// Logplex writes no structured data; a "-" placeholder is skipped.
	if m, ok := strings.CutPrefix(msg, "- "); ok {
		msg = m
	}
	return Entry{Time: t, Source: f[3], Process: f[4], Message: msg}, nil
}

// ScanFrames is a bufio.SplitFunc for a log-drain body: frames of
// "LEN SP FRAME" where LEN counts the bytes of FRAME. Newlines between
// frames are skipped.
func ScanFrames(data []byte, atEOF bool) (advance int, token []byte, err error) {
	start := 0
	for start < len(data) && (data[start] == '\n' || data[start] == '\r') {
		start++
	}
	if start == len(data) {
		return start, nil, nil
	}
	sp := bytes.IndexByte(data[start:], ' ')
	if sp < 0 {
		if atEOF {
			return 0, nil, fmt.Errorf("drain frame: no octet count")
		}
		if len(data)-start > 10 {
			return 0, nil, fmt.Errorf("drain frame: octet count too long")
		}
		return start, nil, nil
	}
	countText := data[start : start+sp]
	n, err := strconv.Atoi(string(countText))
	if err != nil || n <= 0 || !allDigits(string(countText)) {
		return 0, nil, fmt.Errorf("drain frame: bad octet count %q", clip(string(countText)))
	}
	body := start + sp + 1
	if len(data)-body < n {
		if atEOF {
			return 0, nil, fmt.Errorf("drain frame: %d bytes announced, %d left", n, len(data)-body)
		}
		return start, nil, nil
	}
	return body + n, data[body : body+n], nil
}

var _ bufio.SplitFunc = ScanFrames

// Line is one router log line: Heroku's fields, typed. Numeric fields that
// are empty in the line (`connect=`, Heroku writes them so when no dyno was
// reached) or missing are -1.
type Line struct {
	Time time.Time
	// Sock is "client" (H27) or "backend" (H18); Heroku writes it first.
	Sock   string
	At     string // info, warning, error
	Code   string // H12 ...; empty on success
	Desc   string // "Request timeout" ...
	Method string
	// Path is the request path and query.
	Path      string
	Host      string
	RequestID string
	// Fwd is the X-Forwarded-For the router saw (the client address).
	Fwd       string
	Dyno      string // web.1; empty when no dyno was reached
	ConnectMS int
	ServiceMS int
	Status    int
	Bytes     int64
	// Protocol is http/https (legacy router) or http1.1/http2.0 (Router 2.0).
	Protocol   string
	TLS        string
	TLSVersion string
	// Keys are the keys of the line in order, as written.
	Keys []string
	// Extra holds the values of keys not listed above.
	Extra map[string]string
}

// ParseRouter reads a router line in either form (see ParseEntry).
func ParseRouter(line string) (Line, error) {
	e, err := ParseEntry(line)
	if err != nil {
		return Line{}, err
	}
	if !e.IsRouter() {
		return Line{}, fmt.Errorf("parse router line %q: written by %s[%s], not heroku[router]", clip(line), e.Source, e.Process)
	}
	l, err := parseFields(e.Message)
	if err != nil {
		return Line{}, fmt.Errorf("parse router line %q: %w", clip(line), err)
	}
	l.Time = e.Time
	return l, nil
}

// ParseFields reads the logfmt part of a router line (everything after
// "heroku[router]: ").
func ParseFields(msg string) (Line, error) { return parseFields(msg) }

func parseFields(msg string) (Line, error) {
	l := Line{ConnectMS: -1, ServiceMS: -1, Status: -1, Bytes: -1}
	dec := logfmt.NewDecoder(strings.NewReader(msg))
	if !dec.ScanRecord() {
		if err := dec.Err(); err != nil {
			return Line{}, err
		}
		return Line{}, errors.New("no fields")
	}
	for dec.ScanKeyval() {
		k, v := string(dec.Key()), string(dec.Value())
		l.Keys = append(l.Keys, k)
		var err error
		switch k {
		case "sock":
			l.Sock = v
		case "at":
			l.At = v
		case "code":
			l.Code = v
		case "desc":
			l.Desc = v
		case "method":
			l.Method = v
		case "path":
			l.Path = v
		case "host":
			l.Host = v
		case "request_id":
			l.RequestID = v
		case "fwd":
			l.Fwd = v
		case "dyno":
			l.Dyno = v
		case "connect":
			l.ConnectMS, err = parseMS(v)
		case "service":
			l.ServiceMS, err = parseMS(v)
		case "status":
			l.Status, err = parseInt(v)
		case "bytes":
			var n int
			n, err = parseInt(v)
			l.Bytes = int64(n)
		case "protocol":
			l.Protocol = v
		case "tls":
			l.TLS = v
		case "tls_version":
			l.TLSVersion = v
		default:
			if l.Extra == nil {
				l.Extra = map[string]string{}
			}
			l.Extra[k] = v
		}
		if err != nil {
			return Line{}, fmt.Errorf("field %s=%q: %w", k, v, err)
		}
	}
	if err := dec.Err(); err != nil {
		return Line{}, err
	}
	if dec.ScanRecord() {
		return Line{}, errors.New("more than one line")
	}
	if l.At == "" {
		return Line{}, errors.New("no at= field")
	}
	return l, nil
}

// parseMS reads "18ms" (or "" → -1).
func parseMS(v string) (int, error) {
	if v == "" {
		return -1, nil
	}
	n, ok := strings.CutSuffix(v, "ms")
	if !ok {
		return 0, errors.New("want a number of ms like 18ms")
	}
	return parseInt(n)
}

func parseInt(v string) (int, error) {
	if v == "" {
		return -1, nil
	}
	if !allDigits(v) || len(v) > 15 {
		return 0, errors.New("want a non-negative integer")
	}
	return strconv.Atoi(v)
}

// Style is how a router writes its lines; the two routers quote differently.
type Style int

const (
	// Router20 quotes path (path="/") and leaves fwd bare, as Router 2.0 does.
	Router20 Style = iota
	// Legacy leaves path bare where it can and quotes fwd (fwd="1.2.3.4").
	Legacy
)

// String formats the fields of l in the Router 2.0 style.
func (l Line) String() string { return string(l.Append(nil, Router20)) }

// Append appends the fields of l (without timestamp and tag) in Heroku's
// order: sock first when set, then at, code and desc for errors, method,
// path, host, request_id, fwd, dyno, connect, service, status, bytes,
// protocol, and tls / tls_version when set (the legacy style puts
// tls_version before protocol, as its example does). -1 numbers are
// written empty.
func (l Line) Append(b []byte, style Style) []byte {
	if l.Sock != "" {
		b = appendKV(b, "sock", l.Sock, false)
		b = append(b, ' ')
	}
	b = appendKV(b, "at", l.At, false)
	if l.Code != "" {
		b = append(b, ' ')
		b = appendKV(b, "code", l.Code, false)
		b = append(b, ' ')
		b = appendKV(b, "desc", l.Desc, true)
	}
	b = append(b, ' ')
	b = appendKV(b, "method", l.Method, false)
	b = append(b, ' ')
	b = appendKV(b, "path", l.Path, style == Router20)
	b = append(b, ' ')
	b = appendKV(b, "host", l.Host, false)
	b = append(b, ' ')
	b = appendKV(b, "request_id", l.RequestID, false)
	b = append(b, ' ')
	b = appendKV(b, "fwd", l.Fwd, style == Legacy)
	b = append(b, ' ')
	b = appendKV(b, "dyno", l.Dyno, false)
	b = append(b, " connect="...)
	b = appendMS(b, l.ConnectMS)
	b = append(b, " service="...)
	b = appendMS(b, l.ServiceMS)
	b = append(b, " status="...)
	if l.Status >= 0 {
		b = strconv.AppendInt(b, int64(l.Status), 10)
	}
	b = append(b, " bytes="...)
	if l.Bytes >= 0 {
		b = strconv.AppendInt(b, l.Bytes, 10)
	}
	if style == Legacy && l.TLSVersion != "" {
		// The legacy router writes tls_version before protocol.
		b = append(b, ' ')
		b = appendKV(b, "tls_version", l.TLSVersion, false)
	}
	b = append(b, ' ')
	b = appendKV(b, "protocol", l.Protocol, false)
	if l.TLS != "" {
		b = append(b, ' ')
		b = appendKV(b, "tls", l.TLS, false)
	}
	if style != Legacy && l.TLSVersion != "" {
		b = append(b, ' ')
		b = appendKV(b, "tls_version", l.TLSVersion, false)
	}
	return b
}

func appendMS(b []byte, ms int) []byte {
	if ms < 0 {
		return b
	}
	b = strconv.AppendInt(b, int64(ms), 10)
	return append(b, "ms"...)
}

// appendKV writes key=value, quoting the value when asked (and it is not
// empty) or when logfmt needs it.
func appendKV(b []byte, k, v string, quote bool) []byte {
	b = append(b, k...)
	b = append(b, '=')
	if v == "" {
		return b
	}
	if !quote && !needsQuote(v) {
		return append(b, v...)
	}
	return appendQuoted(b, v)
}

func needsQuote(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c == '=' || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// appendQuoted writes v as a JSON-style string, which logfmt decoders
// unquote. Invalid UTF-8 becomes U+FFFD.
func appendQuoted(b []byte, v string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, v[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
