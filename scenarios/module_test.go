package scenarios

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHarnessFromAnotherModule is what a platform team does: a module of
// its own that requires cutover and calls harness.Run from its tests. The
// test writes such a module (a replace directive points it at this
// checkout), and runs the smoke scenario there twice: with the reference
// service built by import path from the user's module, and with a service
// binary of the user's choosing (here the reference service built into the
// user's own bin directory). Nothing of this repository's build is used:
// the Toxiproxy server and the service are built from the user's module.
func TestHarnessFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module and runs two rehearsals; skipped with -short")
	}
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	mod := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(mod, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(mod, name), []byte(body), 0o644))
	}
	goVersion := strings.TrimSpace(strings.TrimPrefix(grepLine(t, filepath.Join(repo, "go.mod"), "go "), "go "))
	write("go.mod", "module example.com/couponteam\n\ngo "+goVersion+"\n\nrequire github.com/cutover/cutover v0.0.0\n\nreplace github.com/cutover/cutover => "+repo+"\n")
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	require.NoError(t, err)
	write("go.sum", string(sum))
	write("cutover_test.go", `package couponteam

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness"
	"github.com/cutover/cutover/harness/report"
)

var scenario = os.Getenv("SCENARIO")

func TestWithTheReferenceService(t *testing.T) {
	out := harness.Run(t, scenario, harness.Quick())
	require.Equal(t, report.Pass, out.Summary.Verdict)
}

func TestWithMyService(t *testing.T) {
	out := harness.Run(t, scenario, harness.Quick(), harness.ServiceBinary(os.Getenv("MY_SERVICE")))
	require.Equal(t, report.Pass, out.Summary.Verdict)
}
`)
	env := []string{"GOFLAGS=-mod=mod", "CUTOVER_TOXIPROXY_SERVER=", "CUTOVER_BIN_CACHE=" + filepath.Join(mod, ".bincache")}
	gocmd := func(args ...string) string {
		cmd := exec.Command("go", args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	// The user's own coupon service: their build of the reference service,
	// started through a wrapper that leaves a mark each time a dyno or a
	// replica starts it.
	built := filepath.Join(mod, "bin", "couponapi")
	gocmd("build", "-o", built, "github.com/cutover/cutover/cmd/couponapi")
	marks := filepath.Join(mod, "started")
	myService := filepath.Join(mod, "bin", "my-coupon-service")
	write("bin/my-coupon-service", "#!/bin/sh\necho started >> "+marks+"\nexec "+built+" \"$@\"\n")
	require.NoError(t, os.Chmod(myService, 0o755))
	env = append(env, "SCENARIO="+filepath.Join(repo, "scenarios", "smoke.yaml"), "MY_SERVICE="+myService)
	out := gocmd("test", "-count=1", "-v", "-timeout", "20m", ".")
	require.Contains(t, out, "--- PASS: TestWithTheReferenceService")
	require.Contains(t, out, "--- PASS: TestWithMyService")
	started, err := os.ReadFile(marks)
	require.NoError(t, err, "the user's service was never started")
	// 2 dynos and 2 replicas at least (a restarted dyno starts it again).
	require.GreaterOrEqual(t, strings.Count(string(started), "started"), 4)
}

func grepLine(t *testing.T, path, prefix string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("%s: no line starting %q", path, prefix)
	return ""
}
