package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// scripts/ceiling.sh finds the highest multiplier a scenario passes at by
// bisection over full runs of `cutover run --multiplier`; here the binary
// is a stand-in that passes up to a given multiplier and answers code
// otherwise, so the search itself is checked: which runs it makes, what it
// concludes, and that an infrastructure error stops it.
func TestCeilingScriptBisects(t *testing.T) {
	script, err := filepath.Abs("../../scripts/ceiling.sh")
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		passUpTo float64
		code     int // above passUpTo
		want     string
		runs     []string
		exit     int
	}{
		{"a ceiling inside the range", 3.5, 4, "passes up to 3.5x, not at 4x", []string{"3", "4.5", "3.5", "4"}, 0},
		{"failing counts as not passing", 1, 1, "passes up to 1x, not at 1.5x", []string{"3", "1.5", "0.5", "1"}, 0},
		{"passing everywhere", 100, 1, "passes up to 6x (step", []string{"3", "4.5", "5.5", "6"}, 0},
		{"passing nowhere", 0, 4, "passes at no multiplier from 0.5x", []string{"3", "1.5", "0.5"}, 1},
		{"an infrastructure that cannot start", 0, 3, "could not start (exit 3)", []string{"3"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fake := filepath.Join(dir, "cutover")
			require.NoError(t, os.WriteFile(fake, []byte(fmt.Sprintf(`#!/bin/bash
m=; while [ $# -gt 0 ]; do [ "$1" = --multiplier ] && m=$2; shift; done
echo "$m" >>%q
awk -v m="$m" 'BEGIN { exit !(m <= %g) }' && exit 0 || exit %d
`, filepath.Join(dir, "runs"), tc.passUpTo, tc.code)), 0o755))
			cmd := exec.Command(script, "s.yaml", "embedded")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "CUTOVER="+fake)
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.exit, code, "%s", out)
			require.Contains(t, string(out), tc.want)
			runs, err := os.ReadFile(filepath.Join(dir, "runs"))
			require.NoError(t, err)
			require.Equal(t, tc.runs, strings.Fields(string(runs)))
		})
	}
}
