// Package dockertest holds what the docker driver's tests share: skipping
// with a clear reason when no Docker engine answers, when -short is given or
// when the local images of `make images` are missing, and building the
// probe image (a tiny service) that replica tests run.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/cutover/cutover/harness/stack/docker/engine"
)

// Engine returns a client of the Docker engine, or skips the test: under
// -short (these tests start containers) or when no engine answers.
func Engine(t testing.TB) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("docker driver tests start containers; skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := engine.Connect(ctx)
	if err != nil {
		t.Skipf("docker driver tests need a Docker engine: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// RequireImages skips the test unless every image in refs is present
// locally, telling the user to run `make images`.
func RequireImages(t testing.TB, cli *client.Client, refs ...string) {
	t.Helper()
	var missing []string
	for _, ref := range refs {
		_, ok, err := engine.LocalImage(context.Background(), cli, ref)
		if err != nil {
			t.Fatalf("inspect image %s: %v", ref, err)
		}
		if !ok {
			missing = append(missing, ref)
		}
	}
	if len(missing) > 0 {
		t.Skipf("local images missing (%v): run `make images` to build them", missing)
	}
}

const probeRepo = "cutover-test/probe"

// ProbeImage builds (once per content) the image of the probe service in
// ./probe and returns its reference.
func ProbeImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", bin,
		"github.com/cutover/cutover/harness/stack/docker/dockertest/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build probe: %v\n%s", err, out)
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := []byte("FROM scratch\nCOPY probe /probe\nENTRYPOINT [\"/probe\"]\n")
	sum := sha256.Sum256(append(append([]byte{}, dockerfile...), binary...))
	ref := probeRepo + ":" + hex.EncodeToString(sum[:])[:12]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, ok, err := engine.LocalImage(ctx, cli, ref); err != nil {
		t.Fatal(err)
	} else if ok {
		removeOtherProbes(ctx, cli, ref)
		return ref
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"probe", 0o755, binary}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags:   []string{ref},
		Remove: true,
		Labels: map[string]string{engine.LabelImage: "probe"},
	})
	if err != nil {
		t.Fatalf("build probe image: %v", err)
	}
	defer res.Body.Close()
	if err := buildError(res.Body); err != nil {
		t.Fatalf("build probe image: %v", err)
	}
	removeOtherProbes(ctx, cli, ref)
	return ref
}

// removeOtherProbes removes the probe images of earlier contents, so they
// do not pile up.
func removeOtherProbes(ctx context.Context, cli *client.Client, keep string) {
	list, err := cli.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", probeRepo+":*")})
	if err != nil {
		return
	}
	for _, img := range list.Items {
		for _, tag := range img.RepoTags {
			if tag != keep {
				_, _ = cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{})
			}
		}
	}
}

// buildError reads a build's JSON message stream and returns its error.
func buildError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read build output: %w", err)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
