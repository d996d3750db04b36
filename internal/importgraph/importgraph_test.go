package importgraph

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/cutover/cutover/"

// layers orders the areas of the module from the bottom up: a package may
// import its own layer and those below it, never one above. The first
// prefix that matches a package decides its layer (longest prefixes first
// where they nest).
var layers = []struct {
	name     string
	prefixes []string
}{
	{"leaf libraries", []string{"internal/"}},
	{"reference service", []string{"couponapi/"}},
	{"vocabulary", []string{"harness/stats", "harness/capacity", "harness/history", "harness/scenario", "harness/route53", "harness/traffic", "harness/platform/heroku/routerlog", "harness/report"}},
	{"infrastructure", []string{"harness/stack", "harness/platform"}},
	{"engine", []string{"harness/internal/", "harness/reporttest"}},
	{"facade", []string{"harness"}},
	{"commands", []string{"cmd/", "scenarios", "images/"}},
}

// apart are areas of one layer that must not import each other.
var apart = [][2]string{{"harness/stack", "harness/platform"}}

func layerOf(pkg string) (int, bool) {
	rel := strings.TrimPrefix(pkg, module)
	for i, l := range layers {
		for _, p := range l.prefixes {
			if rel == strings.TrimSuffix(p, "/") || strings.HasPrefix(rel, p) && (strings.HasSuffix(p, "/") || strings.HasPrefix(rel[len(p):], "/")) {
				return i, true
			}
		}
	}
	return 0, false
}

func under(pkg, area string) bool {
	rel := strings.TrimPrefix(pkg, module)
	return rel == area || strings.HasPrefix(rel, area+"/")
}

// graph returns each package of the module with the module's packages it
// imports. Only the packages' own code counts: tests may reach up for real
// dependencies (stack/stacktest starts a Postgres for the service's tests,
// the Heroku tests run the fault witnesses against the real router).
func graph(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", errText(err))
	g := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		g[f[0]] = nil
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module) {
				g[f[0]] = append(g[f[0]], imp)
			}
		}
	}
	require.NoError(t, sc.Err())
	return g
}

func errText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return fmt.Sprint(err)
}

func TestNoUpwardImports(t *testing.T) {
	g := graph(t)
	require.Greater(t, len(g), 40, "the module's packages were listed")
	bad, err := violations(g)
	require.NoError(t, err)
	require.Empty(t, bad, "upward or sideways imports")
}

// violations lists the arrows of g that break the layering.
func violations(g map[string][]string) ([]string, error) {
	var bad []string
	for pkg, imps := range g {
		from, ok := layerOf(pkg)
		if !ok {
			return nil, fmt.Errorf("%s belongs to no layer: add it to layers", pkg)
		}
		for _, imp := range imps {
			to, ok := layerOf(imp)
			if !ok {
				return nil, fmt.Errorf("%s belongs to no layer: add it to layers", imp)
			}
			if to > from {
				bad = append(bad, fmt.Sprintf("%s (%s) imports %s (%s)", pkg, layers[from].name, imp, layers[to].name))
			}
			for _, a := range apart {
				if under(pkg, a[0]) && under(imp, a[1]) || under(pkg, a[1]) && under(imp, a[0]) {
					bad = append(bad, fmt.Sprintf("%s imports %s: %s and %s stay apart", pkg, imp, a[0], a[1]))
				}
			}
		}
	}
	sort.Strings(bad)
	return bad, nil
}

func TestViolations(t *testing.T) {
	m := func(s string) string { return module + s }
	for _, tc := range []struct {
		name string
		g    map[string][]string
		want int
	}{
		{"downward", map[string][]string{m("harness/internal/run"): {m("harness/stack"), m("internal/proc")}}, 0},
		{"upward", map[string][]string{m("harness/platform/local"): {m("harness/internal/chaos")}}, 1},
		{"sideways", map[string][]string{m("harness/platform/kind"): {m("harness/stack/docker")}}, 1},
		{"service up into the harness", map[string][]string{m("couponapi/store"): {m("harness/stack")}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad, err := violations(tc.g)
			require.NoError(t, err)
			require.Len(t, bad, tc.want, "%v", bad)
		})
	}
	_, err := violations(map[string][]string{m("nowhere/pkg"): nil})
	require.Error(t, err)
}

// The check itself must catch an upward arrow and a sideways one.
func TestLayerOf(t *testing.T) {
	for _, tc := range []struct {
		pkg  string
		want string
	}{
		{module + "internal/proc", "leaf libraries"},
		{module + "couponapi/api", "reference service"},
		{module + "harness/report", "vocabulary"},
		{module + "harness/reporttest", "engine"},
		{module + "harness/platform/heroku/routerlog", "vocabulary"},
		{module + "harness/platform/heroku", "infrastructure"},
		{module + "harness/stack/docker/internal/replica", "infrastructure"},
		{module + "harness/internal/run", "engine"},
		{module + "harness", "facade"},
		{module + "harnessx", ""},
		{module + "cmd/cutover", "commands"},
	} {
		i, ok := layerOf(tc.pkg)
		if tc.want == "" {
			require.False(t, ok, tc.pkg)
			continue
		}
		require.True(t, ok, tc.pkg)
		require.Equal(t, tc.want, layers[i].name, tc.pkg)
	}
	require.True(t, under(module+"harness/stack/embedded", "harness/stack"))
	require.False(t, under(module+"harness/stacks", "harness/stack"))
}
