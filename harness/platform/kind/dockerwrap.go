package kind

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/cutover/cutover/internal/dockerengine"
)

// UnprivilegedRunArgs replace `--privileged` in the `docker run` of a kind
// node on an engine that refuses privileged containers. A privileged
// container asks for every capability, and an engine that itself lacks one
// (here CAP_SYS_RESOURCE) fails it with "unable to apply caps: operation
// not permitted". These options give the node every capability the engine
// has, no seccomp/AppArmor confinement, unmasked /proc and /sys paths, the
// kernel log, and every device in its device cgroup (without that rule the
// node's privileged pods, kube-proxy's among them, fail: "failed to write
// \"a *:* rwm\" ... devices.allow: operation not permitted"), which is what
// kind's node needs of --privileged; the node
// image's entrypoint (images/kind/node/cutover-entrypoint) mounts the cgroup
// v1 controllers read-write, which --privileged would have done.
var UnprivilegedRunArgs = []string{
	"--cap-add=ALL", "--cap-drop=SYS_RESOURCE",
	"--security-opt=seccomp=unconfined", "--security-opt=apparmor=unconfined",
	"--security-opt=systempaths=unconfined",
	"--device=/dev/kmsg",
	"--device-cgroup-rule=a *:* rwm",
}

// PrivilegedWorks runs image with --privileged (its command: true) and
// reports whether the engine started it. When it did not, reason is the
// engine's error. Any other failure (no such image, engine down) is err.
func PrivilegedWorks(ctx context.Context, cli *client.Client, image string) (ok bool, reason string, err error) {
	name := fmt.Sprintf("cutover-kind-probe-%d-%d", os.Getpid(), time.Now().UnixNano())
	labels := dockerengine.Labels("kind-probe", "probe")
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     &container.Config{Image: image, Entrypoint: []string{"true"}, Labels: labels},
		HostConfig: &container.HostConfig{Privileged: true},
	})
	if err != nil {
		return false, "", fmt.Errorf("probe --privileged with %s: %w", image, err)
	}
	defer func() {
		_, _ = cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, client.ContainerRemoveOptions{Force: true})
	}()
	waited := cli.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		if ctx.Err() != nil {
			return false, "", fmt.Errorf("probe --privileged with %s: %w", image, err)
		}
		return false, err.Error(), nil
	}
	select {
	case res := <-waited.Result:
		if res.StatusCode != 0 {
			return false, fmt.Sprintf("privileged container exited %d", res.StatusCode), nil
		}
		return true, "", nil
	case err := <-waited.Error:
		return false, "", fmt.Errorf("probe --privileged with %s: wait: %w", image, err)
	}
}

// dockerWrapper is the `docker` that kind's provider finds first on PATH
// when the engine refuses --privileged. %[1]s is the real docker CLI, %[2]s
// the options that replace --privileged in `docker run`.
const dockerWrapper = `#!/bin/sh
` + wrapperMark + `: this Docker engine refuses
# --privileged containers, which kind's docker provider always asks for.
# In 'docker run' each --privileged becomes the options below; in
# 'docker exec', where kind passes --privileged first, it is dropped (the
# exec'd process gets the node container's own capabilities). Every other
# command goes to the real docker CLI unchanged.
real=%[1]s
case "${1:-}" in
run)
	shift
	for a in "$@"; do
		shift
		if [ "$a" = --privileged ]; then
			set -- "$@" %[2]s
		else
			set -- "$@" "$a"
		fi
	done
	exec "$real" run "$@"
	;;
exec)
	if [ "${2:-}" = --privileged ]; then
		shift 2
		exec "$real" exec "$@"
	fi
	;;
esac
exec "$real" "$@"
`

// WriteDockerWrapper writes the docker wrapper into dir (as dir/docker)
// for the docker CLI at realDocker.
func WriteDockerWrapper(dir, realDocker string) (string, error) {
	if strings.ContainsAny(realDocker, "'\n") {
		return "", fmt.Errorf("docker wrapper: unusable docker path %q", realDocker)
	}
	quoted := make([]string, len(UnprivilegedRunArgs))
	for i, a := range UnprivilegedRunArgs {
		quoted[i] = "'" + a + "'"
	}
	path := filepath.Join(dir, "docker")
	body := fmt.Sprintf(dockerWrapper, "'"+realDocker+"'", strings.Join(quoted, " "))
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		return "", fmt.Errorf("docker wrapper: %w", err)
	}
	return path, nil
}

// wrapperMark is in every docker wrapper this package writes.
const wrapperMark = "# Written by cutover (harness/platform/kind)"

// useDockerWrapper writes the wrapper into dir and puts dir first on the
// process's PATH: kind's provider runs the docker CLI by name (os/exec, so
// PATH at the time of each call) and offers no other way to change it.
// The wrapper passes everything but --privileged through, so other users
// of PATH in the process see the same docker.
func useDockerWrapper(dir string) error {
	real, err := RealDocker(os.Getenv("PATH"))
	if err != nil {
		return err
	}
	if _, err := WriteDockerWrapper(dir, real); err != nil {
		return err
	}
	return os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// RealDocker is the first docker CLI on path that is not a wrapper of
// ours: another platform's wrapper earlier on PATH may be deleted at its
// Close, so a wrapper never calls another.
func RealDocker(path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		f := filepath.Join(dir, "docker")
		st, err := os.Stat(f)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			continue
		}
		if ours, err := isWrapper(f); err != nil || ours {
			continue
		}
		return filepath.Abs(f)
	}
	return "", fmt.Errorf("docker wrapper: no docker CLI on PATH (kind runs it)")
}

func isWrapper(file string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := f.Read(head)
	return strings.Contains(string(head[:n]), wrapperMark), nil
}
