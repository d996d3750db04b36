// Package testsupport is what cutover's tests share, and only tests import
// it: the one test service (./testservice) built as a binary or as an
// image, a buffer that goroutines write while a test reads it, and the
// docker tests' skips with a clear reason when no Docker engine answers,
// when -short is given or when the local images of `make images` are
// missing, and the latency benchmarks' side-by-side timing.
package testsupport

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
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/cutover/cutover/internal/dockerengine"
	"github.com/cutover/cutover/internal/gobuild"
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
	cli, err := dockerengine.Connect(ctx)
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
		_, ok, err := dockerengine.LocalImage(context.Background(), cli, ref)
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

// ServicePackage is the import path of the test service.
const ServicePackage = "github.com/cutover/cutover/internal/testsupport/testservice"

// BuildService builds the test service (a static binary, cached by
// internal/gobuild) and returns its path, for a TestMain.
func BuildService() (string, error) {
	bin, err := build(ServicePackage)
	if err != nil {
		return "", fmt.Errorf("build the test service: %w", err)
	}
	return bin, nil
}

// ServiceBinary is BuildService for a test; it stops the test on failure.
func ServiceBinary(t testing.TB) string {
	t.Helper()
	bin, err := BuildService()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// Binary builds the main package pkg (an import path of this module, e.g.
// "github.com/cutover/cutover/cmd/cutover") as a static binary, cached by
// internal/gobuild, and returns its path; it stops the test on failure.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	bin, err := build(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// build builds the main package pkg with internal/gobuild, allowing it
// five minutes (a cold build cache).
func build(pkg string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return gobuild.Binary(ctx, pkg, "")
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers: a
// platform's log stream written by its goroutines while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const serviceRepo = "cutover-test/testservice"

// ServiceImage builds (once per content) a scratch image of the test
// service, entrypoint /testservice, and returns its reference.
func ServiceImage(t testing.TB, cli *client.Client) string {
	t.Helper()
	binary, err := os.ReadFile(ServiceBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := []byte("FROM scratch\nCOPY testservice /testservice\nENTRYPOINT [\"/testservice\"]\n")
	sum := sha256.Sum256(append(append([]byte{}, dockerfile...), binary...))
	ref := serviceRepo + ":" + hex.EncodeToString(sum[:])[:12]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, ok, err := dockerengine.LocalImage(ctx, cli, ref); err != nil {
		t.Fatal(err)
	} else if ok {
		removeOtherImages(ctx, cli, ref)
		return ref
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"testservice", 0o755, binary}} {
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
		Labels: map[string]string{dockerengine.LabelImage: "testservice"},
	})
	if err != nil {
		t.Fatalf("build test service image: %v", err)
	}
	defer res.Body.Close()
	if err := buildError(res.Body); err != nil {
		t.Fatalf("build test service image: %v", err)
	}
	removeOtherImages(ctx, cli, ref)
	return ref
}

// removeOtherImages removes the test service images of earlier contents,
// so they do not pile up.
func removeOtherImages(ctx context.Context, cli *client.Client, keep string) {
	list, err := cli.ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", serviceRepo+":*")})
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

// SideBySide times calls side by side for a latency benchmark: warm
// rounds first (connections and pools), then at least floor rounds
// whatever b.N, so that `make bench` (-benchtime 1x) gets percentiles too.
// Each round makes every call once, rotating the order, so every call
// shares the machine's noise. It returns each call's durations, sorted,
// in the order of calls; the benchmark's timer covers the measured rounds.
func SideBySide(b *testing.B, warm, floor int, calls ...func() time.Duration) [][]time.Duration {
	b.Helper()
	for range warm {
		for _, call := range calls {
			call()
		}
	}
	n := max(b.N, floor)
	took := make([][]time.Duration, len(calls))
	for k := range took {
		took[k] = make([]time.Duration, 0, n)
	}
	b.ResetTimer()
	for i := range n {
		for j := range calls {
			k := (i + j) % len(calls)
			took[k] = append(took[k], calls[k]())
		}
	}
	b.StopTimer()
	for _, s := range took {
		slices.Sort(s)
	}
	return took
}
