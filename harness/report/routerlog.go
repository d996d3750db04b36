package report

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-logfmt/logfmt"
)

// RouterLine is what the report needs from one Heroku router log line.
type RouterLine struct {
	Time      time.Time
	At        string // info, warning, error
	Code      string // H12, ... (empty on success)
	Status    int    // 0 when the field is empty
	Dyno      string
	Path      string
	Method    string
	RequestID string
}

// ParseRouterLine reads one line as Heroku writes it, either as `heroku
// logs` shows it ("<time> heroku[router]: at=... code=H12 ...") or as a log
// drain receives it (RFC 5424 framing: "264 <158>1 <time> host heroku router
// - at=..."). ok is false for lines that are not router lines (dyno and app
// output). It is deliberately small: harness/platform/heroku owns the full
// router log format.
func ParseRouterLine(line string) (rl RouterLine, ok bool, err error) {
	line = strings.TrimSpace(line)
	var stamp, rest string
	if i := strings.Index(line, " heroku[router]: "); i >= 0 {
		stamp, rest = line[:i], line[i+len(" heroku[router]: "):]
	} else if i := strings.Index(line, " heroku router - "); i >= 0 {
		// Drain framing: "<len> <pri>1 <time> <host>": the time is the
		// third field.
		f := strings.Fields(line[:i])
		if len(f) < 3 {
			return rl, false, fmt.Errorf("router line: drain framing %q has no time", line[:i])
		}
		stamp, rest = f[2], line[i+len(" heroku router - "):]
	} else {
		return rl, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(stamp))
	if err != nil {
		return rl, false, fmt.Errorf("router line: time: %w", err)
	}
	rl.Time = t
	dec := logfmt.NewDecoder(strings.NewReader(rest))
	for dec.ScanRecord() {
		for dec.ScanKeyval() {
			v := string(dec.Value())
			switch string(dec.Key()) {
			case "at":
				rl.At = v
			case "code":
				rl.Code = v
			case "dyno":
				rl.Dyno = v
			case "path":
				rl.Path = v
			case "method":
				rl.Method = v
			case "request_id":
				rl.RequestID = v
			case "status":
				if v != "" {
					n, err := strconv.Atoi(v)
					if err != nil {
						return rl, false, fmt.Errorf("router line: status %q: %w", v, err)
					}
					rl.Status = n
				}
			}
		}
	}
	if err := dec.Err(); err != nil {
		return rl, false, fmt.Errorf("router line: %w", err)
	}
	return rl, true, nil
}

// ReadRouterLog reads the router lines of a Heroku log; other lines are
// skipped. name is used in errors, which give the line number.
func ReadRouterLog(r io.Reader, name string) ([]RouterLine, error) {
	var out []RouterLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		rl, ok, err := ParseRouterLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		if ok {
			out = append(out, rl)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n, err)
	}
	return out, nil
}
