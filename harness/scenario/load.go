package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is a problem in a scenario file, at a line and field.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Errors is every problem found in a file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// File is a parsed scenario with the YAML tree kept to locate fields.
type File struct {
	Scenario
	root *yaml.Node
}

// Load reads, decodes strictly, defaults and validates a scenario file.
// Errors are *Error or Errors and name the file, line and field.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("read scenario: %v", err)}
	}
	return Parse(path, data)
}

// Parse is Load for bytes already read; path is used in errors and to
// resolve relative file names.
func Parse(path string, data []byte) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(path, nil, err)
	}
	if len(root.Content) == 0 {
		return nil, &Error{File: path, Line: 1, Msg: "empty scenario file"}
	}
	f := &File{root: &root}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f.Scenario); err != nil {
		return nil, yamlError(path, &root, err)
	}
	f.File = path
	f.applyDefaults()
	if errs := f.validate(); len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into Errors with file, line and field.
func yamlError(path string, root *yaml.Node, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out Errors
		for _, msg := range te.Errors {
			e := &Error{File: path, Msg: msg}
			if m := lineRE.FindStringSubmatch(msg); m != nil {
				e.Line, _ = strconv.Atoi(m[1])
				e.Msg = m[2]
				if root != nil {
					e.Field = fieldAtLine(root, e.Line)
				}
			}
			out = append(out, e)
		}
		return out
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: path, Msg: msg}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	return e
}

// Errorf makes an error located at the field path (e.g.
// "steps[3].fault.params.latency"), for checks made outside this package
// (fault kinds, invariant names).
func (f *File) Errorf(field, format string, args ...any) *Error {
	return &Error{File: f.File, Line: lineOf(f.root, field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

// lineOf finds the line of the field at a dotted path with [i] indexes;
// when the path is not in the file (a default), the deepest parent's line.
func lineOf(root *yaml.Node, field string) int {
	line, _ := find(root, field)
	return line
}

// find walks a dotted path with [i] indexes and returns the line of the
// deepest node reached and whether the whole path exists in the file.
func find(root *yaml.Node, field string) (line int, found bool) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line = n.Line
	for _, seg := range splitPath(field) {
		if seg.index >= 0 {
			if n.Kind != yaml.SequenceNode || seg.index >= len(n.Content) {
				return line, false
			}
			n = n.Content[seg.index]
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			return line, false
		}
		next := -1
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg.key {
				next = i
				break
			}
		}
		if next < 0 {
			return line, false
		}
		line = n.Content[next].Line
		n = n.Content[next+1]
	}
	return line, true
}

type pathSeg struct {
	key   string
	index int
}

func splitPath(field string) []pathSeg {
	var segs []pathSeg
	for _, part := range strings.Split(field, ".") {
		if part == "" {
			continue
		}
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			segs = append(segs, pathSeg{key: key, index: -1})
		}
		for rest != "" {
			idx, after, ok := strings.Cut(rest, "]")
			if !ok {
				break
			}
			i, err := strconv.Atoi(idx)
			if err == nil {
				segs = append(segs, pathSeg{index: i})
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return segs
}

// fieldAtLine names the deepest field whose key or value starts on line.
func fieldAtLine(root *yaml.Node, line int) string {
	best := ""
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if k.Line == line || v.Line == line {
					best = p
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if c.Line == line && c.Kind == yaml.ScalarNode {
					best = p
				}
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return best
}

// UnmarshalYAML reads "30s", "1m30s" or "0".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	bad := func(msg string) error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
	}
	if n.Kind != yaml.ScalarNode {
		return bad("want a duration like 30s")
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return bad(fmt.Sprintf("%q is not a duration (want e.g. 30s, 1m30s)", n.Value))
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads an absolute latency ("800ms") or a ratio ("1.25x").
func (l *Limit) UnmarshalYAML(n *yaml.Node) error {
	bad := func(msg string) error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
	}
	if n.Kind != yaml.ScalarNode {
		return bad("want a latency like 800ms, or a ratio like 1.25x with compare")
	}
	if r, ok := strings.CutSuffix(n.Value, "x"); ok {
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 {
			return bad(fmt.Sprintf("%q is not a ratio (want e.g. 1.25x)", n.Value))
		}
		*l = Limit{Ratio: v}
		return nil
	}
	var d Duration
	if err := d.UnmarshalYAML(n); err != nil {
		return bad(fmt.Sprintf("%q is not a latency (want e.g. 800ms) or a ratio (e.g. 1.25x)", n.Value))
	}
	*l = Limit{Abs: d}
	return nil
}
