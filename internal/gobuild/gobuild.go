// Package gobuild builds the programs cutover runs beside itself — the
// Toxiproxy server, the reference service, test services — from their Go
// import paths, as static binaries in a cache directory. A rehearsal then
// runs the same programs whether it was started by `cutover run`, by
// `go test` in this repository, or by harness.Run in another module that
// requires cutover: the go command resolves the import path in the module
// of the working directory, as `go build` and `go run` do.
package gobuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// CacheDirEnv overrides where binaries are cached (default: the user's
// cache directory, cutover/bin).
const CacheDirEnv = "CUTOVER_BIN_CACHE"

// Binary builds the main package pkg (an import path, e.g.
// "github.com/Shopify/toxiproxy/v2/cmd/server") from the module of dir
// ("" = the working directory) with CGO_ENABLED=0, and returns the
// binary's path. The go command's build cache makes a second call cheap;
// the binary is written to a fresh name and renamed into place, so
// concurrent builds of one package never see a half-written file.
func Binary(ctx context.Context, pkg, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build %s: the go command is not on PATH: %w", pkg, err)
	}
	modDir, err := moduleOf(ctx, goBin, dir)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	cache, err := cacheDir()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	sum := sha256.Sum256([]byte(modDir + "\x00" + pkg))
	out := filepath.Join(cache, hex.EncodeToString(sum[:8]), name(pkg))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", tmp, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	if err := os.Rename(tmp, out); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return out, nil
}

// moduleOf returns the root of the module dir belongs to.
func moduleOf(ctx context.Context, goBin, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, goBin, "env", "GOMOD")
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("%s is not inside a Go module (go env GOMOD is empty)", orCwd(dir))
	}
	return filepath.Dir(gomod), nil
}

func cacheDir() (string, error) {
	if d := os.Getenv(CacheDirEnv); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache directory (set %s): %w", CacheDirEnv, err)
	}
	return filepath.Join(d, "cutover", "bin"), nil
}

// name is the binary's file name: the package's last element, or the one
// before a major-version or "cmd/server"-like suffix ("toxiproxy-server").
func name(pkg string) string {
	base := path.Base(pkg)
	if base == "server" {
		parent := path.Dir(path.Dir(pkg))
		if b := path.Base(parent); strings.HasPrefix(b, "v") && len(b) > 1 {
			parent = path.Dir(parent)
		}
		return path.Base(parent) + "-server"
	}
	return base
}

func orCwd(dir string) string {
	if dir == "" {
		return "the working directory"
	}
	return dir
}
