package importer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/harness/traffic/trace"
)

// ReadVegeta imports a vegeta target file, in the JSON format (one target
// object a line, body base64) or the HTTP format ("METHOD URL", header
// lines, an optional "@file" body, blank line between targets), detected
// from the first target. Targets carry no time: they are spaced evenly at
// Options.Rate. "@file" bodies are read relative to the target file's folder.
func ReadVegeta(r io.Reader, name string, opt Options) ([]trace.Request, error) {
	opt = opt.withDefaults()
	br := bufio.NewReader(r)
	first, err := firstNonSpace(br)
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	var rs []raw
	if first == '{' {
		rs, err = readVegetaJSON(br, name)
	} else {
		rs, err = readVegetaHTTP(br, name)
	}
	if err != nil {
		return nil, err
	}
	step := time.Duration(float64(time.Second) / opt.Rate)
	for i := range rs {
		rs[i].at = time.Duration(i) * step
	}
	return finish(name, rs, opt)
}

func firstNonSpace(br *bufio.Reader) (byte, error) {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			if errors.Is(err, io.EOF) {
				return 0, nil
			}
			return 0, err
		}
		c := b[n-1]
		if c == '#' { // a comment starts the HTTP format
			return c, nil
		}
		if !bytes.ContainsRune([]byte(" \t\r\n"), rune(c)) {
			return c, nil
		}
	}
}

func readVegetaJSON(r io.Reader, name string) ([]raw, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), trace.MaxLine)
	var rs []raw
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var t vegeta.Target
		if err := json.Unmarshal(text, &t); err != nil {
			return nil, fmt.Errorf("%s:%d: vegeta json target: %w", name, line, err)
		}
		if t.Method == "" {
			return nil, fmt.Errorf("%s:%d: vegeta json target: method: missing", name, line)
		}
		if t.URL == "" {
			return nil, fmt.Errorf("%s:%d: vegeta json target: url: missing", name, line)
		}
		if _, err := url.ParseRequestURI(t.URL); err != nil {
			return nil, fmt.Errorf("%s:%d: vegeta json target: url: %w", name, line, err)
		}
		rs = append(rs, raw{line: line, method: t.Method, target: t.URL, header: t.Header, body: t.Body})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: read: %w", name, line+1, err)
	}
	return rs, nil
}

var targetLine = regexp.MustCompile(`^([A-Z]+)\s+(\S+)$`)

func readVegetaHTTP(r io.Reader, name string) ([]raw, error) {
	dir := filepath.Dir(name)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), trace.MaxLine)
	var (
		rs   []raw
		cur  *raw
		line int
	)
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(text, "#"):
			continue
		case text == "":
			cur = nil
			continue
		}
		if m := targetLine.FindStringSubmatch(text); m != nil {
			if _, err := url.ParseRequestURI(m[2]); err != nil {
				return nil, fmt.Errorf("%s:%d: vegeta target: url: %w", name, line, err)
			}
			rs = append(rs, raw{line: line, method: m[1], target: m[2], header: http.Header{}})
			cur = &rs[len(rs)-1]
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: vegeta target: want \"METHOD URL\", got %q", name, line, text)
		}
		if strings.HasPrefix(text, "@") {
			p := text[1:]
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: vegeta target: body: %w", name, line, err)
			}
			cur.body = b
			continue
		}
		k, v, ok := strings.Cut(text, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: vegeta target: bad header %q (want \"Name: value\")", name, line, text)
		}
		cur.header.Add(k, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: read: %w", name, line+1, err)
	}
	return rs, nil
}
