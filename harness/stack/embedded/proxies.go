package embedded

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/cutover/cutover/harness/stack"
	"github.com/cutover/cutover/internal/gobuild"
	"github.com/cutover/cutover/internal/proc"
	"github.com/cutover/cutover/internal/toxiserver"
)

// ToxiproxyServerEnv names the Toxiproxy server binary to run, overriding
// the search (next to the running executable, then PATH).
const ToxiproxyServerEnv = "CUTOVER_TOXIPROXY_SERVER"

// toxiproxyServer is the name of the Toxiproxy server binary
// (cmd/toxiproxy-server, Toxiproxy's server from its library), which `make
// build` puts in bin/.
const toxiproxyServer = "toxiproxy-server"

// findToxiproxy returns the Toxiproxy server binary: $CUTOVER_TOXIPROXY_SERVER,
// next to the running executable, on PATH, or else built from its import
// path with the go command (in the module of the working directory, which
// requires Toxiproxy through cutover). It never falls back to running
// Toxiproxy inside the harness: a rehearsal must measure the same system
// however it was launched (see proxies).
func findToxiproxy(ctx context.Context) (string, error) {
	if p := os.Getenv(ToxiproxyServerEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", ToxiproxyServerEnv, err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), toxiproxyServer)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(toxiproxyServer); err == nil {
		return p, nil
	}
	p, err := gobuild.Binary(ctx, toxiserver.Package, "")
	if err != nil {
		return "", fmt.Errorf("no %s next to cutover, on PATH or in $%s, and building it failed: %w", toxiproxyServer, ToxiproxyServerEnv, err)
	}
	return p, nil
}

// proxies is the stack's Toxiproxy: one TCP proxy per link, created and
// faulted through Toxiproxy's own HTTP API, as with the docker driver's
// container.
//
// It always runs as its own process (Toxiproxy's server binary): every
// database and cache round trip of every service process crosses it, and
// inside the harness its goroutines would share one Go scheduler with the
// replayer's, so a burst of requests would slow every proxied query and
// the slowdown would feed on itself. Measured here: the default rehearsal
// at 6x fails with an in-process Toxiproxy on a loaded 2-core machine and
// passes with a separate one. An earlier version fell back to in-process
// when the binary was not found, which made the verdict depend on how the
// run was launched (`go test` did not find it; `cutover run` did).
type proxies struct {
	url    string
	client *toxiclient.Client
	srv    *server // the toxiproxy-server process
}

func startProxies(ctx context.Context, bin, dir, host string, logOut io.Writer) (*proxies, error) {
	port, release, err := proc.FreePort(host)
	if err != nil {
		return nil, err
	}
	release() // the process binds it next; until here no one else could take it
	p := &proxies{url: "http://" + netJoin(host, port)}
	p.client = toxiclient.NewClient(p.url)
	p.srv = &server{
		name:   "toxiproxy",
		addr:   netJoin(host, port),
		runner: proc.Local{Dir: dir},
		logOut: logOut,
		ready: func(context.Context) error {
			_, err := p.client.Version()
			return err
		},
		spec: proc.Spec{
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

// add creates and starts a proxy named name listening on a free loopback port.
func (p *proxies) add(name, host, upstream string) (stack.Link, error) {
	px, err := p.client.CreateProxy(name, netJoin(host, 0), upstream)
	if err != nil {
		return stack.Link{}, fmt.Errorf("start proxy %s: %w", name, err)
	}
	return stack.Link{Name: name, Listen: px.Listen, Upstream: upstream}, nil
}

func (p *proxies) pid() int { return p.srv.pid() }

func (p *proxies) close() { _ = p.srv.stop(syscall.SIGTERM, 5*time.Second) }
