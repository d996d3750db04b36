package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/cutover/cutover/harness/stack"
)

// proxies is an embedded Toxiproxy server: one TCP proxy per link, and
// Toxiproxy's own HTTP API so faults use the same client as with the docker
// driver's Toxiproxy container.
type proxies struct {
	api  *toxiproxy.ApiServer
	http *http.Server
	url  string
	done chan struct{}
}

func startProxies(host string) (*proxies, error) {
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
	px := toxiproxy.NewProxy(p.api, name, netJoin(host, 0), upstream)
	if err := p.api.Collection.Add(px, true); err != nil {
		return stack.Link{}, fmt.Errorf("start proxy %s: %w", name, err)
	}
	return stack.Link{Name: name, Listen: px.Listen, Upstream: upstream}, nil
}

func (p *proxies) close() {
	_ = p.api.Collection.Clear()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.http.Shutdown(ctx)
	<-p.done
}
