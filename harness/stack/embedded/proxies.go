package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/platform/proc"
	"github.com/cutover/cutover/harness/stack"
)

// ToxiproxyServerEnv names the Toxiproxy server binary to run, overriding
// the search (next to the running executable, then PATH).
const ToxiproxyServerEnv = "CUTOVER_TOXIPROXY_SERVER"

// toxiproxyServer is the name of Toxiproxy's own server binary
// (github.com/Shopify/toxiproxy/v2/cmd/server), which `make build` puts in
// bin/.
const toxiproxyServer = "toxiproxy-server"

// findToxiproxy returns the Toxiproxy server binary, or "" when there is
// none (Toxiproxy then runs inside the harness).
func findToxiproxy() string {
	if p := os.Getenv(ToxiproxyServerEnv); p != "" {
		return p
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), toxiproxyServer)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(toxiproxyServer); err == nil {
		return p
	}
	return ""
}

// proxies is the stack's Toxiproxy: one TCP proxy per link, created and
// faulted through Toxiproxy's own HTTP API, as with the docker driver's
// container.
//
// It runs as its own process (Toxiproxy's server binary) when one is found:
// every database and cache round trip of every service process crosses it,
// and inside the harness its goroutines would share one Go scheduler with
// the replayer's, so a burst of requests would slow every proxied query and
// the slowdown would feed on itself. Measured here: the default rehearsal
// at 6x fails with an in-process Toxiproxy on a loaded 2-core machine and
// passes with a separate one. Without the binary it runs in-process.
type proxies struct {
	url    string
	client *toxiclient.Client

	srv *server // the toxiproxy-server process, or nil

	api  *toxiproxy.ApiServer // in-process server, or nil
	http *http.Server
	done chan struct{}
}

func startProxies(ctx context.Context, bin, dir, host string, logOut io.Writer) (*proxies, error) {
	if bin == "" {
		return startProxiesInProcess(host)
	}
	port, err := stack.FreePort(host)
	if err != nil {
		return nil, err
	}
	p := &proxies{url: "http://" + netJoin(host, port)}
	p.client = toxiclient.NewClient(p.url)
	p.srv = &server{
		name:   "toxiproxy",
		addr:   netJoin(host, port),
		runner: proc.Runner{Dir: dir},
		logOut: logOut,
		ready: func(context.Context) error {
			_, err := p.client.Version()
			return err
		},
		spec: platform.ServiceSpec{
			Name:    "toxiproxy",
			Command: []string{bin, "-host", host, "-port", strconv.Itoa(port)},
			Env:     map[string]string{"LOG_LEVEL": "warn"},
		},
	}
	if err := p.srv.start(ctx); err != nil {
		return nil, fmt.Errorf("start toxiproxy: %w", err)
	}
	return p, nil
}

func startProxiesInProcess(host string) (*proxies, error) {
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	l, err := net.Listen("tcp", netJoin(host, 0))
	if err != nil {
		return nil, fmt.Errorf("listen for toxiproxy api: %w", err)
	}
	p := &proxies{
		api:  api,
		http: &http.Server{Handler: api.Routes(), ReadHeaderTimeout: 10 * time.Second},
		url:  "http://" + l.Addr().String(),
		done: make(chan struct{}),
	}
	p.client = toxiclient.NewClient(p.url)
	go func() {
		defer close(p.done)
		if err := p.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed underneath us; close() reports nothing more useful
		}
	}()
	return p, nil
}

// add creates and starts a proxy named name listening on a free loopback port.
func (p *proxies) add(name, host, upstream string) (stack.Link, error) {
	px, err := p.client.CreateProxy(name, netJoin(host, 0), upstream)
	if err != nil {
		return stack.Link{}, fmt.Errorf("start proxy %s: %w", name, err)
	}
	return stack.Link{Name: name, Listen: px.Listen, Upstream: upstream}, nil
}

func (p *proxies) pid() int {
	if p.srv == nil {
		return 0
	}
	return p.srv.pid()
}

func (p *proxies) close() {
	if p.srv != nil {
		_ = p.srv.stop(syscall.SIGTERM, 5*time.Second)
		return
	}
	_ = p.api.Collection.Clear()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.http.Shutdown(ctx)
	<-p.done
}
