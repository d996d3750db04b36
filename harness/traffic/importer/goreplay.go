package importer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cutover/cutover/harness/traffic/trace"
)

// goreplaySeparator ends each payload of a .gor file (after a newline).
const goreplaySeparator = "🐵🙈🙉"

// ReadGoReplay imports a GoReplay file: payloads of a header line
// ("TYPE ID TIMESTAMP_NS [LATENCY]"), a raw HTTP message, and a line with
// the 🐵🙈🙉 separator. Only requests (type 1) are kept; responses (2, 3)
// are skipped.
func ReadGoReplay(r io.Reader, name string, opt Options) ([]trace.Request, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var (
		rs      []raw
		payload bytes.Buffer
		start   int // line of the payload's header
		line    int
	)
	flush := func() error {
		defer payload.Reset()
		if payload.Len() == 0 {
			return nil
		}
		// The newline before the separator belongs to the separator.
		data := bytes.TrimSuffix(payload.Bytes(), []byte("\n"))
		rq, ok, err := parseGoReplay(data)
		if err != nil {
			return fmt.Errorf("%s:%d: goreplay: %w", name, start, err)
		}
		if ok {
			rq.line = start
			rs = append(rs, rq)
		}
		return nil
	}
	for {
		text, err := br.ReadBytes('\n')
		if len(text) > 0 {
			line++
			if string(bytes.TrimRight(text, "\r\n")) == goreplaySeparator {
				if ferr := flush(); ferr != nil {
					return nil, ferr
				}
			} else if payload.Len() > 0 || len(bytes.TrimSpace(text)) > 0 {
				if payload.Len() == 0 {
					start = line
				}
				payload.Write(text)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: read: %w", name, line, err)
		}
	}
	// A last payload without its separator is still a payload.
	if strings.TrimSpace(payload.String()) != "" {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return finish(name, rs, opt)
}

// parseGoReplay reads one payload; ok is false for a response.
func parseGoReplay(data []byte) (raw, bool, error) {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return raw{}, false, errors.New("payload has no header line")
	}
	meta := strings.Fields(string(data[:nl]))
	if len(meta) < 3 {
		return raw{}, false, fmt.Errorf("header %q: want TYPE ID TIMESTAMP", string(data[:nl]))
	}
	switch meta[0] {
	case "1":
	case "2", "3":
		return raw{}, false, nil
	default:
		return raw{}, false, fmt.Errorf("header: type %q is not 1 (request), 2 or 3 (responses)", meta[0])
	}
	ts, err := strconv.ParseInt(meta[2], 10, 64)
	if err != nil || ts < 0 {
		return raw{}, false, fmt.Errorf("header: timestamp %q is not nanoseconds since the epoch", meta[2])
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data[nl+1:])))
	if err != nil {
		return raw{}, false, fmt.Errorf("request %s: %w", meta[1], err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return raw{}, false, fmt.Errorf("request %s: body: %w", meta[1], err)
	}
	return raw{
		at: time.Duration(ts), method: req.Method, target: req.RequestURI,
		header: req.Header, body: body,
	}, true, nil
}
