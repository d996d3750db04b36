package trace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxLine is the longest line a reader accepts (a bulk import body can be
// large, but not unbounded).
const MaxLine = 64 << 20

// Reader streams the requests of a trace, checking each line.
type Reader struct {
	name    string
	br      *bufio.Reader
	closers []io.Closer
	line    int
	buf     []byte
	meta    Meta
	hasMeta bool
	pending []byte // a first line that was not a meta line
	last    float64
	// back is a request given back with Unread, returned by the next Next.
	back    Request
	hasBack bool
}

// Open opens a trace file (plain or gzip, detected by content).
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open trace: %w", err)
	}
	r, err := newReader(f, path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// NewReader reads a trace from r (plain or gzip); name is used in errors.
func NewReader(r io.Reader, name string) (*Reader, error) {
	return newReader(r, name, nil)
}

func newReader(r io.Reader, name string, c io.Closer) (*Reader, error) {
	rd := &Reader{name: name}
	if c != nil {
		rd.closers = append(rd.closers, c)
	}
	br := bufio.NewReaderSize(r, 256<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		rd.closers = append([]io.Closer{gz}, rd.closers...)
		br = bufio.NewReaderSize(gz, 256<<10)
	}
	rd.br = br
	first, err := rd.readLine()
	switch {
	case errors.Is(err, io.EOF):
		return rd, nil
	case err != nil:
		return nil, err
	}
	if bytes.HasPrefix(bytes.TrimSpace(first), []byte(`{"meta"`)) {
		var ml metaLine
		if err := json.Unmarshal(first, &ml); err != nil || ml.Meta == nil {
			return nil, fmt.Errorf("%s:%d: meta: %v", name, rd.line, errOr(err, "not an object"))
		}
		if ml.Meta.Format != Format {
			return nil, fmt.Errorf("%s:%d: meta.format: %q, this reader knows %q", name, rd.line, ml.Meta.Format, Format)
		}
		rd.meta, rd.hasMeta = *ml.Meta, true
		return rd, nil
	}
	rd.pending = append([]byte(nil), first...)
	return rd, nil
}

func errOr(err error, msg string) any {
	if err != nil {
		return err
	}
	return msg
}

// Name is the file name used in errors.
func (r *Reader) Name() string { return r.name }

// Meta returns the metadata line, if the trace has one.
func (r *Reader) Meta() (Meta, bool) { return r.meta, r.hasMeta }

// Line is the number of the line last read.
func (r *Reader) Line() int { return r.line }

// readLine returns the next non-empty line, without its newline. The slice
// is valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	for {
		r.buf = r.buf[:0]
		for {
			chunk, err := r.br.ReadSlice('\n')
			r.buf = append(r.buf, chunk...)
			if len(r.buf) > MaxLine {
				return nil, fmt.Errorf("%s:%d: line longer than %d bytes", r.name, r.line+1, MaxLine)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s:%d: read: %w", r.name, r.line+1, err)
			}
			if len(r.buf) == 0 && errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			break
		}
		r.line++
		line := bytes.TrimSpace(r.buf)
		if len(line) == 0 {
			continue
		}
		return line, nil
	}
}

// Next returns the next request, or io.EOF at the end. An error names the
// file, the line and the field.
func (r *Reader) Next() (Request, error) {
	if r.hasBack {
		r.hasBack = false
		return r.back, nil
	}
	var line []byte
	if r.pending != nil {
		line, r.pending = r.pending, nil
	} else {
		var err error
		if line, err = r.readLine(); err != nil {
			return Request{}, err
		}
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return Request{}, fmt.Errorf("%s:%d: %w", r.name, r.line, err)
	}
	if err := req.Validate(); err != nil {
		return Request{}, fmt.Errorf("%s:%d: %w", r.name, r.line, err)
	}
	if req.At < r.last {
		return Request{}, fmt.Errorf("%s:%d: at: %v comes before the previous line's %v (a trace is sorted by offset)", r.name, r.line, req.At, r.last)
	}
	r.last = req.At
	return req, nil
}

// Unread gives back req, the request Next last returned, so that the next
// call to Next returns it again: a reader that stops at the first request
// past its slice (a stage's end) leaves it for the next slice. Line still
// names its line.
func (r *Reader) Unread(req Request) {
	r.back, r.hasBack = req, true
}

// Close releases the file.
func (r *Reader) Close() error {
	var first error
	for _, c := range r.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	r.closers = nil
	return first
}

// ReadAll reads every request of a trace file; for tests and small traces.
func ReadAll(path string) (Meta, []Request, error) {
	r, err := Open(path)
	if err != nil {
		return Meta{}, nil, err
	}
	defer func() { _ = r.Close() }()
	var out []Request
	for {
		req, err := r.Next()
		if errors.Is(err, io.EOF) {
			m, _ := r.Meta()
			return m, out, nil
		}
		if err != nil {
			return Meta{}, nil, err
		}
		out = append(out, req)
	}
}

// ReadMeta returns the metadata of a trace file: its sidecar if there is
// one, else its metadata line.
func ReadMeta(path string) (Meta, bool, error) {
	if b, err := os.ReadFile(SidecarPath(path)); err == nil {
		var m Meta
		if err := json.Unmarshal(b, &m); err != nil {
			return Meta{}, false, fmt.Errorf("%s: %w", SidecarPath(path), err)
		}
		return m, true, nil
	}
	r, err := Open(path)
	if err != nil {
		return Meta{}, false, err
	}
	defer func() { _ = r.Close() }()
	m, ok := r.Meta()
	return m, ok, nil
}

// SidecarPath is where a writer leaves the final metadata of the trace at path.
func SidecarPath(path string) string { return path + ".meta.json" }
