package machine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadCgroupRSS(t *testing.T) {
	const id = "/docker/abc"
	v1 := "12:memory:" + id + "\n4:cpu,cpuacct:" + id + "\n0::/\n"
	for _, tc := range []struct {
		name   string
		cgroup string            // /proc/7/cgroup
		files  map[string]string // under the cgroup root
		want   int64
		path   string
		err    string
	}{
		{"cgroup v1: total_rss of the container's memory cgroup", v1,
			map[string]string{"memory/docker/abc/memory.stat": "cache 4096\nrss 100\ntotal_cache 4096\ntotal_rss 123456\n"}, 123456, id, ""},
		{"cgroup v2: anon", "0::/system.slice/docker-abc.scope\n",
			map[string]string{"system.slice/docker-abc.scope/memory.stat": "anon 98304\nfile 4096\n"}, 98304, "/system.slice/docker-abc.scope", ""},
		{"v1 without a memory controller", "4:cpu,cpuacct:" + id + "\n", nil, 0, "", "no memory controller"},
		{"v1 without the key", v1, map[string]string{"memory/docker/abc/memory.stat": "cache 4096\n"}, 0, "", "no total_rss"},
		{"a process gone", "", nil, 0, "", "read cgroup of 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			procRoot, cgRoot := t.TempDir(), t.TempDir()
			if tc.cgroup != "" {
				require.NoError(t, os.MkdirAll(filepath.Join(procRoot, "7"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(procRoot, "7", "cgroup"), []byte(tc.cgroup), 0o644))
			}
			require.NoError(t, os.MkdirAll(filepath.Join(cgRoot, "memory"), 0o755))
			for p, body := range tc.files {
				require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(cgRoot, p)), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(cgRoot, p), []byte(body), 0o644))
			}
			got, path, err := readCgroupRSS(procRoot, cgRoot, 7)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.path, path)
		})
	}
}
