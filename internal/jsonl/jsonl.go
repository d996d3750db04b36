// Package jsonl reads JSON-lines streams — one JSON value a line, blank
// lines skipped — with errors that name the file and the line.
package jsonl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// MaxLine is the longest line Read accepts.
const MaxLine = 16 << 20

// Read decodes every line of r into a T; name is used in errors. check,
// when not nil, validates each value (its error gets the file and line).
func Read[T any](r io.Reader, name string, check func(*T) error) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if check != nil {
			if err := check(&v); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, line, err)
			}
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return out, nil
}
