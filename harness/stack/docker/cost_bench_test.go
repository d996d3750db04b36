package docker_test

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/harness/stack/docker"
	"github.com/cutover/cutover/internal/dockerengine"
	"github.com/cutover/cutover/internal/proc"
	"github.com/cutover/cutover/internal/testsupport"
)

// BenchmarkContainerCost measures what a process costs more in a container
// than on the host, by itself: one binary — the Toxiproxy image's own,
// copied out of it — relays Redis PINGs (16 clients, 50,000 PINGs a round)
// once as a host process and once as a container of that image in the
// host's network namespace, as the stack runs it; the two alternate, the
// order rotating, for at least three rounds each. It reports each one's
// CPU per relayed request (the process's user and system time) and the
// ratio container/process.
//
// Why: in a 3x rehearsal every component the docker driver containerizes
// (Toxiproxy, Postgres, each dyno) used 25–50 % more CPU than its embedded
// twin under the same requests (README, "Drivers"). Measured here
// (2026-12-06, six rounds a run): 1.05–1.17, unchanged with the default
// seccomp profile off, with the container's tasks moved to the root of
// every cgroup controller, and with the binary bind-mounted from the
// host's disk instead of read from the image's fuse-overlayfs layers.
func BenchmarkContainerCost(b *testing.B) {
	cli := testsupport.Engine(b)
	image := docker.LocalImages().Toxiproxy
	testsupport.RequireImages(b, cli, image)
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		b.Skip("redis-server is not installed (make deps installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := imageBinary(ctx, b, cli, image, "/toxiproxy")

	redisAddr, _ := startProcess(b, redisBin, func(port int) []string {
		return []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no"}
	})
	hostAPI, hostPID := startProcess(b, bin, func(port int) []string { return []string{"-host", "127.0.0.1", "-port", strconv.Itoa(port)} })
	ctrAPI, ctrPID := startToxiproxyContainer(ctx, b, cli, image, "cost")

	relays := []struct {
		name string
		pid  int
		addr string
	}{
		{"process", hostPID, createRelay(b, hostAPI, redisAddr)},
		{"container", ctrPID, createRelay(b, ctrAPI, redisAddr)},
	}
	const clients, perRound = 16, 50_000
	cpu := make([]time.Duration, len(relays))
	var requests int64
	rounds := max(b.N, 3)
	b.ResetTimer()
	for r := range rounds {
		for k := range relays {
			i := (k + r) % len(relays) // the order rotates each round
			before := processCPU(b, relays[i].pid)
			ping(ctx, b, relays[i].addr, clients, perRound)
			cpu[i] += processCPU(b, relays[i].pid) - before
		}
		requests += perRound
	}
	b.StopTimer()
	perReq := func(i int) float64 { return float64(cpu[i].Microseconds()) / float64(requests) }
	for i, r := range relays {
		b.ReportMetric(perReq(i), r.name+"_cpu_us/req")
	}
	b.ReportMetric(perReq(1)/perReq(0), "container/process")
}

// imageBinary copies the file at path out of image (from a container
// created, never started) into a temporary directory and returns its path.
func imageBinary(ctx context.Context, b *testing.B, cli *client.Client, image, path string) string {
	b.Helper()
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: image, Labels: dockerengine.Labels(runID("cost"), stack.Proxy)},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = dockerengine.NewContainer(cli, created.ID, "copy").Remove(context.Background()) }()
	res, err := cli.CopyFromContainer(ctx, created.ID, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		b.Fatalf("copy %s out of %s: %v", path, image, err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	hdr, err := tr.Next()
	if err != nil {
		b.Fatalf("copy %s out of %s: %v", path, image, err)
	}
	out := filepath.Join(b.TempDir(), filepath.Base(hdr.Name))
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, tr); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return out
}

// startProcess starts bin with args(port) on a free loopback port, stopped
// at the benchmark's end, and returns its address once it accepts
// connections, and its pid.
func startProcess(b *testing.B, bin string, args func(port int) []string) (string, int) {
	b.Helper()
	port, release, err := proc.FreePort("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	release()
	cmd := exec.Command(bin, args(port)...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitAccepting(b, addr)
	return addr, cmd.Process.Pid
}

func waitAccepting(b testing.TB, addr string) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s does not accept connections: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startToxiproxyContainer runs image in the host's network namespace with
// its API on a free loopback port, labelled as a run's (prefix names the
// run), removed at the test's end, and returns the API's address and the
// container's pid on the host.
func startToxiproxyContainer(ctx context.Context, b testing.TB, cli *client.Client, image, prefix string) (string, int) {
	b.Helper()
	port, release, err := proc.FreePort("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	release()
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: image, Cmd: []string{"-host=127.0.0.1", "-port=" + strconv.Itoa(port)}, Labels: dockerengine.Labels(runID(prefix), stack.Proxy)},
		HostConfig: &container.HostConfig{NetworkMode: "host"},
	})
	if err != nil {
		b.Fatal(err)
	}
	c := dockerengine.NewContainer(cli, created.ID, prefix)
	b.Cleanup(func() { _ = c.Remove(context.Background()) })
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitAccepting(b, addr)
	st, err := c.State(ctx)
	if err != nil || st.Pid == 0 {
		b.Fatalf("toxiproxy container's pid: %v", err)
	}
	return addr, st.Pid
}

// createRelay creates a proxy from a free loopback port to upstream on
// the Toxiproxy whose API is at api, and returns its listen address.
func createRelay(b *testing.B, api, upstream string) string {
	b.Helper()
	port, release, err := proc.FreePort("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	release()
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if _, err := toxiclient.NewClient(api).CreateProxy("redis", listen, upstream); err != nil {
		b.Fatalf("create proxy on %s: %v", api, err)
	}
	return listen
}

// ping sends n PINGs through addr from clients connections at once.
func ping(ctx context.Context, b *testing.B, addr string, clients, n int) {
	b.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: clients, MinIdleConns: clients})
	defer rdb.Close()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			for i := c; i < n; i += clients {
				if err := rdb.Ping(ctx).Err(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("ping through %s: %v", addr, err)
	}
}

// processCPU is the user and system time pid has used, its ended threads'
// included (/proc/PID/stat).
func processCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux.
const clockTicks = 100
