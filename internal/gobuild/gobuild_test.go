package gobuild

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestName(t *testing.T) {
	for _, tc := range []struct{ pkg, want string }{
		{"github.com/Shopify/toxiproxy/v2/cmd/server", "toxiproxy-server"},
		{"github.com/cutover/cutover/cmd/couponapi", "couponapi"},
		{"example.com/tool/cmd/server", "tool-server"},
	} {
		require.Equal(t, tc.want, name(tc.pkg), tc.pkg)
	}
}

// TestBinaryBuildsByImportPath builds the reference service by import path
// twice (the second from the build cache) and runs it: with no
// configuration it must refuse to start, naming the missing variable.
func TestBinaryBuildsByImportPath(t *testing.T) {
	t.Setenv(CacheDirEnv, t.TempDir())
	ctx := context.Background()
	bin, err := Binary(ctx, "github.com/cutover/cutover/cmd/couponapi", "")
	require.NoError(t, err)
	again, err := Binary(ctx, "github.com/cutover/cutover/cmd/couponapi", "")
	require.NoError(t, err)
	require.Equal(t, bin, again)
	st, err := os.Stat(bin)
	require.NoError(t, err)
	require.NotZero(t, st.Mode()&0o111, "executable")

	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 2, exit.ExitCode(), "%s", out)
	require.Contains(t, string(out), "DATABASE_URL")
}

func TestBinaryOutsideAModule(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GOFLAGS", "")
	t.Setenv("GO111MODULE", "on")
	_, err := Binary(context.Background(), "github.com/cutover/cutover/cmd/couponapi", dir)
	require.ErrorContains(t, err, "not inside a Go module")
}
