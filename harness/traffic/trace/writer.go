package trace

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Writer appends requests to a trace, checking each and keeping them in
// order. Its output depends only on what is written: the gzip header carries
// no name or time, so the same requests give the same bytes.
type Writer struct {
	name    string
	bw      *bufio.Writer
	enc     *json.Encoder
	gz      *gzip.Writer
	file    *os.File
	sidecar string
	meta    Meta
	last    float64
}

// Create writes a trace to path, gzip-compressed when path ends in ".gz".
// Close writes the final metadata to SidecarPath(path) as well.
func Create(path string, meta Meta) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create trace: %w", err)
	}
	w, err := newWriter(f, path, meta, strings.HasSuffix(path, ".gz"))
	if err != nil {
		f.Close()
		return nil, err
	}
	w.file, w.sidecar = f, SidecarPath(path)
	return w, nil
}

// NewWriter writes a trace to out; name is used in errors.
func NewWriter(out io.Writer, name string, meta Meta, compress bool) (*Writer, error) {
	return newWriter(out, name, meta, compress)
}

func newWriter(out io.Writer, name string, meta Meta, compress bool) (*Writer, error) {
	w := &Writer{name: name}
	if compress {
		gz, err := gzip.NewWriterLevel(out, gzip.BestCompression)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		w.gz, out = gz, gz
	}
	w.bw = bufio.NewWriterSize(out, 256<<10)
	w.enc = json.NewEncoder(w.bw)
	w.enc.SetEscapeHTML(false)
	meta.Format = Format
	meta.Requests, meta.Duration = 0, 0
	w.meta = meta
	if err := w.enc.Encode(metaLine{Meta: &meta}); err != nil {
		return nil, fmt.Errorf("%s: write meta: %w", name, err)
	}
	return w, nil
}

// Write appends one request.
func (w *Writer) Write(r Request) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("%s: request %d: %w", w.name, w.meta.Requests+1, err)
	}
	if r.At < w.last {
		return fmt.Errorf("%s: request %d: at: %v comes before the previous %v", w.name, w.meta.Requests+1, r.At, w.last)
	}
	if err := w.enc.Encode(&r); err != nil {
		return fmt.Errorf("%s: write request %d: %w", w.name, w.meta.Requests+1, err)
	}
	w.last = r.At
	w.meta.Requests++
	w.meta.Duration = r.At
	return nil
}

// Flush pushes buffered lines to the output (a gzip stream stays open).
func (w *Writer) Flush() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("%s: flush: %w", w.name, err)
	}
	if w.gz != nil {
		if err := w.gz.Flush(); err != nil {
			return fmt.Errorf("%s: flush: %w", w.name, err)
		}
	}
	return nil
}

// Meta is the metadata so far: what was given, plus the count and duration.
func (w *Writer) Meta() Meta { return w.meta }

// Close flushes the trace and, for a file, closes it and writes its sidecar.
func (w *Writer) Close() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("%s: flush: %w", w.name, err)
	}
	if w.gz != nil {
		if err := w.gz.Close(); err != nil {
			return fmt.Errorf("%s: gzip: %w", w.name, err)
		}
	}
	if w.file == nil {
		return nil
	}
	if err := w.file.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", w.name, err)
	}
	return WriteSidecar(w.sidecar, w.meta)
}

// WriteSidecar writes meta as indented JSON, atomically.
func WriteSidecar(path string, meta Meta) error {
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".meta-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
