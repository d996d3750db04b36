package report

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Environment is environment.json: what a run ran on, so that two runs can
// be told apart and a figure can be quoted with its machine.
type Environment struct {
	// Harness is cutover's module version; GitCommit the commit it was
	// built from (with "+dirty" when the tree had changes).
	Harness   string `json:"harness"`
	GitCommit string `json:"git_commit"`
	Go        string `json:"go"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	MemoryMB  int64  `json:"memory_mb,omitempty"`
	// Driver and Target as in the summary; Seed is the scenario's seed.
	Driver   string  `json:"driver"`
	Target   string  `json:"target"`
	Seed     uint64  `json:"seed"`
	Postgres string  `json:"postgres,omitempty"`
	Images   []Image `json:"images"`
	// Modules are the versions of the libraries that shape the results
	// (vegeta, toxiproxy, pgx, ...), from the binary's build information.
	Modules map[string]string `json:"modules"`
}

// Image is a container image a run used.
type Image struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// resultModules are the dependencies worth recording.
var resultModules = []string{
	"github.com/tsenart/vegeta/v12",
	"github.com/Shopify/toxiproxy/v2",
	"github.com/jackc/pgx/v5",
	"github.com/redis/go-redis/v9",
	"github.com/alicebob/miniredis/v2",
	"github.com/FerretDB/FerretDB",
	"go.mongodb.org/mongo-driver/v2",
	"github.com/miekg/dns",
	"github.com/aws/aws-sdk-go-v2/service/route53",
	"github.com/testcontainers/testcontainers-go",
	"sigs.k8s.io/kind",
	"k8s.io/client-go",
}

// NewEnvironment records what can be known from inside the process: the
// build, the Go runtime and the machine. The git commit falls back to `git
// rev-parse HEAD` in the working directory when the binary carries none (go
// test, go run). The engine adds driver, target, seed, Postgres and images.
func NewEnvironment(ctx context.Context) Environment {
	env := Environment{
		Go:      runtime.Version(),
		OS:      runtime.GOOS,
		Arch:    runtime.GOARCH,
		CPUs:    runtime.NumCPU(),
		Images:  []Image{},
		Modules: map[string]string{},
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		env.Harness = info.Main.Version
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				env.GitCommit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if env.GitCommit != "" && dirty {
			env.GitCommit += "+dirty"
		}
		want := map[string]bool{}
		for _, m := range resultModules {
			want[m] = true
		}
		for _, d := range info.Deps {
			if want[d.Path] {
				env.Modules[d.Path] = d.Version
			}
		}
	}
	if env.GitCommit == "" {
		env.GitCommit = gitCommit(ctx)
	}
	env.CPUModel, env.MemoryMB = MachineInfo()
	return env
}

func gitCommit(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		commit += "+dirty"
	}
	return commit
}

// MachineInfo reads the CPU model and memory size on Linux; elsewhere it
// returns zero values.
func MachineInfo() (cpu string, memMB int64) {
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					memMB = kb / 1024
				}
				break
			}
		}
		f.Close()
	}
	return cpu, memMB
}

// PostgresVersion asks the postgres binary in binDir for its version
// ("postgres (PostgreSQL) 15.14 ...").
func PostgresVersion(ctx context.Context, binDir string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("postgres --version: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// WriteEnvironment writes env as the folder's environment.json.
func (f *Folder) WriteEnvironment(env Environment) error {
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return fmt.Errorf("encode environment: %w", err)
	}
	return f.WriteFile(EnvironmentFile, append(b, '\n'))
}

// ReadEnvironment reads the environment.json of the results folder dir.
func ReadEnvironment(dir string) (*Environment, error) {
	path := filepath.Join(dir, EnvironmentFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read environment: %w", err)
	}
	var env Environment
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &env, nil
}
