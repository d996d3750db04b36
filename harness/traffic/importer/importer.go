// Package importer converts the traffic recordings people already have —
// GoReplay .gor files, HAR 1.2 archives, vegeta target files (HTTP and
// JSON formats) — into traces. Requests are sorted by time, offsets start
// at zero, and long gaps can be capped (a known pain when replaying
// GoReplay captures that span idle periods). Errors name the file and line.
package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cutover/cutover/harness/traffic/trace"
)

// Formats the importers read.
const (
	GoReplay = "goreplay"
	HAR      = "har"
	Vegeta   = "vegeta"
)

// Formats lists them, for flags and errors.
var Formats = []string{GoReplay, HAR, Vegeta}

// Options shape an import.
type Options struct {
	// MaxGap caps the time between two consecutive requests (0: no cap).
	MaxGap time.Duration
	// Rate spaces the requests of a vegeta target file, which carries no
	// timestamps (requests per second, default 50).
	Rate float64
	// Clients is how many virtual clients requests without a client
	// identity are spread over, by customer or by position (default 16).
	Clients int
}

func (o Options) withDefaults() Options {
	if o.Rate <= 0 {
		o.Rate = 50
	}
	if o.Clients <= 0 {
		o.Clients = 16
	}
	return o
}

// File imports the file at path in the given format.
func File(format, path string, opt Options) ([]trace.Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	r, err := maybeGunzip(f, path)
	if err != nil {
		return nil, err
	}
	switch format {
	case GoReplay:
		return ReadGoReplay(r, path, opt)
	case HAR:
		return ReadHAR(r, path, opt)
	case Vegeta:
		return ReadVegeta(r, path, opt)
	default:
		return nil, fmt.Errorf("import: format: unknown %q (want one of %s)", format, strings.Join(Formats, ", "))
	}
}

func maybeGunzip(r io.Reader, name string) (io.Reader, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		return gz, nil
	}
	return br, nil
}

// raw is one imported request before it is placed on the trace's timeline.
type raw struct {
	at     time.Duration // since an arbitrary epoch
	line   int           // where it starts in the source, for errors
	method string
	target string // full URL or request URI
	header http.Header
	body   []byte
	client string // from the source, if it knows
}

// finish sorts, offsets and annotates imported requests.
func finish(name string, rs []raw, opt Options) ([]trace.Request, error) {
	opt = opt.withDefaults()
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].at < rs[j].at })
	out := make([]trace.Request, 0, len(rs))
	var shift time.Duration
	for i, r := range rs {
		if i > 0 && opt.MaxGap > 0 {
			if gap := r.at - rs[i-1].at; gap > opt.MaxGap {
				shift += gap - opt.MaxGap
			}
		}
		off := r.at - rs[0].at - shift
		path, err := requestPath(r.target)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: url: %w", name, r.line, err)
		}
		req := trace.Request{
			At:      off.Round(time.Microsecond).Seconds(),
			Method:  strings.ToUpper(r.method),
			Path:    path,
			Headers: flatten(r.header),
		}
		req.SetBody(r.body)
		trace.Annotate(&req)
		req.Client = r.client
		if req.Client == "" {
			req.Client = clientOf(req, i, opt.Clients)
		}
		if err := req.Validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, r.line, err)
		}
		out = append(out, req)
	}
	return out, nil
}

// requestPath keeps the path and query of a URL or request URI.
func requestPath(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", err
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%q has no absolute path", target)
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p, nil
}

// dropHeaders are not worth keeping in a trace: the replayer sets them.
var dropHeaders = map[string]bool{"Content-Length": true, "Connection": true, "Host": true, "Accept-Encoding": true}

func flatten(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		if dropHeaders[ck] {
			continue
		}
		out[ck] = strings.Join(vs, ", ")
	}
	return out
}

// clientOf picks a virtual client for a request whose source does not
// say: the client header or forwarded address when present, else a bucket
// of the customer (so a customer's flow stays on one client), else a
// bucket of the position.
func clientOf(r trace.Request, i, clients int) string {
	for _, h := range []string{"X-Client-Id", "X-Forwarded-For", "X-Real-Ip"} {
		if v := trace.HeaderValue(r.Headers, h); v != "" {
			return strings.TrimSpace(strings.Split(v, ",")[0])
		}
	}
	bucket := i % clients
	if r.Customer != "" {
		h := fnv.New32a()
		h.Write([]byte(r.Customer))
		bucket = int(h.Sum32() % uint32(clients))
	}
	return fmt.Sprintf("imported-%02d", bucket)
}

// lineAt is the 1-based line of byte offset off in data.
func lineAt(data []byte, off int64) int {
	off = max(0, min(off, int64(len(data))))
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}
