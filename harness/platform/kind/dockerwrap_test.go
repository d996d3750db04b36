package kind

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDockerWrapper runs the wrapper against a stand-in docker CLI that
// prints its arguments one a line.
func TestDockerWrapper(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real docker")
	require.NoError(t, os.WriteFile(real, []byte("#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n"), 0o755))
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.Mkdir(bin, 0o755))
	wrapper, err := WriteDockerWrapper(bin, real)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(bin, "docker"), wrapper)

	unpriv := strings.Join(UnprivilegedRunArgs, "\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"run: --privileged replaced",
			[]string{"run", "--name", "n", "--privileged", "--security-opt", "seccomp=unconfined", "-e", "A=b c", "img"},
			"run\n--name\nn\n" + unpriv + "\n--security-opt\nseccomp=unconfined\n-e\nA=b c\nimg"},
		{"run without --privileged: unchanged", []string{"run", "--rm", "img", "true"}, "run\n--rm\nimg\ntrue"},
		{"exec: kind's leading --privileged dropped",
			[]string{"exec", "--privileged", "-i", "node", "sh", "-c", "echo 'x y'"},
			"exec\n-i\nnode\nsh\n-c\necho 'x y'"},
		{"exec: a later --privileged belongs to the command", []string{"exec", "node", "ctr", "--privileged"}, "exec\nnode\nctr\n--privileged"},
		{"other commands: unchanged", []string{"ps", "-a", "--filter", "label=io.x-k8s.kind.cluster"}, "ps\n-a\n--filter\nlabel=io.x-k8s.kind.cluster"},
		{"no arguments", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(wrapper, tc.args...).Output()
			require.NoError(t, err)
			require.Equal(t, tc.want, strings.TrimSuffix(string(out), "\n"))
		})
	}
}

func TestWriteDockerWrapperRefusesAnUnquotablePath(t *testing.T) {
	_, err := WriteDockerWrapper(t.TempDir(), "/opt/it's/docker")
	require.ErrorContains(t, err, "unusable docker path")
}

// TestPrivilegedWorks asks this machine's engine. Where privileged
// containers fail, the reason is the engine's error.
func TestPrivilegedWorks(t *testing.T) {
	cli := dockerOrSkip(t)
	image := nodeImageOrSkip(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ok, reason, err := PrivilegedWorks(ctx, cli, image)
	require.NoError(t, err)
	if ok {
		require.Empty(t, reason)
		t.Log("this engine runs --privileged containers: kind runs unchanged")
		return
	}
	require.NotEmpty(t, reason)
	t.Logf("this engine refuses --privileged: %s", reason)

	// The wrapper's options do start a container from the same image.
	bin := t.TempDir()
	real, err := exec.LookPath("docker")
	require.NoError(t, err)
	wrapper, err := WriteDockerWrapper(bin, real)
	require.NoError(t, err)
	out, err := exec.CommandContext(ctx, wrapper, "run", "--rm", "--privileged", "--entrypoint", "true", image).CombinedOutput()
	require.NoError(t, err, "%s", out)
}

func TestPrivilegedWorksNamesAMissingImage(t *testing.T) {
	cli := dockerOrSkip(t)
	_, _, err := PrivilegedWorks(context.Background(), cli, "cutover-test/absent:never")
	require.ErrorContains(t, err, "probe --privileged")
}

// A second platform's wrapper must call the real docker, not the first
// platform's wrapper (deleted at that platform's Close).
func TestRealDockerSkipsOurWrappers(t *testing.T) {
	dir := t.TempDir()
	realDir := filepath.Join(dir, "real")
	first := filepath.Join(dir, "first")
	for _, d := range []string{realDir, first} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	real := filepath.Join(realDir, "docker")
	require.NoError(t, os.WriteFile(real, []byte("#!/bin/sh\necho real \"$@\"\n"), 0o755))
	_, err := WriteDockerWrapper(first, real)
	require.NoError(t, err)
	path := first + string(os.PathListSeparator) + filepath.Join(dir, "missing") + string(os.PathListSeparator) + realDir

	got, err := RealDocker(path)
	require.NoError(t, err)
	require.Equal(t, real, got)

	_, err = RealDocker(first)
	require.ErrorContains(t, err, "no docker CLI on PATH")
}
