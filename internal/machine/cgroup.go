package machine

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupOf is where a process's CPU and memory are accounted: the paths of
// its cgroups under the CPU accounting and memory controllers (v1), or its
// one cgroup (v2, cpu and memory the same path).
type cgroupOf struct {
	v2          bool
	cpu, memory string
}

// readCgroup reads /proc/<pid>/cgroup. A v1 cpuacct (and memory) line wins
// over the v2 line of a hybrid hierarchy: the controllers live on v1 there.
func readCgroup(procRoot string, pid int) (cgroupOf, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return cgroupOf{}, fmt.Errorf("read cgroup of %d: %w", pid, err)
	}
	var out cgroupOf
	var unified string
	hasUnified := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unified, hasUnified = parts[2], true
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			switch c {
			case "cpuacct":
				out.cpu = parts[2]
			case "memory":
				out.memory = parts[2]
			}
		}
	}
	if out.cpu == "" && hasUnified {
		return cgroupOf{v2: true, cpu: unified, memory: unified}, nil
	}
	if out.cpu == "" {
		return cgroupOf{}, fmt.Errorf("cgroup of %d: no cpuacct controller and no unified hierarchy", pid)
	}
	return out, nil
}

// cgroupUsage is what a cgroup used: CPU in clock ticks since it was made,
// and its working set now.
type cgroupUsage struct {
	user, system uint64
	memory       int64
}

// readCgroupUsage reads a cgroup's CPU (user and system) and its memory
// working set — usage minus the inactive file cache, as `docker stats`
// and the kubelet count it — under root (/sys/fs/cgroup).
func readCgroupUsage(root string, cg cgroupOf) (cgroupUsage, error) {
	if cg.v2 {
		return readCgroupV2(filepath.Join(root, cg.cpu))
	}
	var u cgroupUsage
	cpuDir, err := controllerDir(root, "cpuacct", "cpu,cpuacct")
	if err != nil {
		return u, err
	}
	st, err := readKeyed(filepath.Join(cpuDir, cg.cpu, "cpuacct.stat"))
	if err != nil {
		return u, err
	}
	u.user, u.system = uint64(st["user"]), uint64(st["system"])
	memDir, err := controllerDir(root, "memory")
	if err != nil {
		return u, err
	}
	usage, err := readInt(filepath.Join(memDir, cg.memory, "memory.usage_in_bytes"))
	if err != nil {
		return u, err
	}
	ms, err := readKeyed(filepath.Join(memDir, cg.memory, "memory.stat"))
	if err != nil {
		return u, err
	}
	u.memory = max(usage-ms["total_inactive_file"], 0)
	return u, nil
}

func readCgroupV2(dir string) (cgroupUsage, error) {
	var u cgroupUsage
	st, err := readKeyed(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return u, err
	}
	// Microseconds to clock ticks, the unit of every other CPU figure here.
	u.user = uint64(st["user_usec"]) * clockTick / 1e6
	u.system = uint64(st["system_usec"]) * clockTick / 1e6
	usage, err := readInt(filepath.Join(dir, "memory.current"))
	if err != nil {
		return u, err
	}
	ms, err := readKeyed(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return u, err
	}
	u.memory = max(usage-ms["inactive_file"], 0)
	return u, nil
}

// controllerDir finds the mount of a v1 controller under root: its own
// directory, or a co-mounted one (cpu,cpuacct).
func controllerDir(root string, names ...string) (string, error) {
	for _, n := range names {
		d := filepath.Join(root, n)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d, nil
		}
	}
	return "", fmt.Errorf("no %s cgroup controller under %s", names[0], root)
}

// readKeyed reads a "key value" a line file (cpuacct.stat, memory.stat).
func readKeyed(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return n, nil
}

// CgroupRSS is the anonymous (resident, not file-backed) memory of the
// cgroup process pid belongs to — cgroup v1 memory.stat "total_rss", v2
// "anon", the figure the Docker engine's stats give as rss — read from the
// host's cgroup filesystem, and that cgroup's path (a caller checks it is
// the one it meant: a container's holds the container's id). For a
// container it is the whole container's, without asking the engine: its
// stats API costs the engine, containerd and the container's shim several
// milliseconds of CPU a call.
func CgroupRSS(pid int) (rss int64, cgroup string, err error) {
	return readCgroupRSS("/proc", "/sys/fs/cgroup", pid)
}

func readCgroupRSS(procRoot, cgroupRoot string, pid int) (int64, string, error) {
	cg, err := readCgroup(procRoot, pid)
	if err != nil {
		return 0, "", err
	}
	dir, key := filepath.Join(cgroupRoot, cg.memory), "anon"
	if !cg.v2 {
		if cg.memory == "" {
			return 0, "", fmt.Errorf("cgroup of %d: no memory controller", pid)
		}
		memDir, err := controllerDir(cgroupRoot, "memory")
		if err != nil {
			return 0, "", err
		}
		dir, key = filepath.Join(memDir, cg.memory), "total_rss"
	}
	ms, err := readKeyed(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return 0, "", err
	}
	v, ok := ms[key]
	if !ok {
		return 0, "", fmt.Errorf("%s: no %s", filepath.Join(dir, "memory.stat"), key)
	}
	return v, cg.memory, nil
}
