package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/cutover/cutover/harness/platform"
)

// ProbeReplicas opens a port-forward to the container port of each pod
// that is up, as `kubectl port-forward` does (a stream through the API
// server, so it works wherever the API server is reachable), listening on
// 127.0.0.1. A pod's own IP is on the cluster's network, which the harness
// host does not reach, yet the final-state probes must ask each replica
// itself: every replica has a validate cache of its own. It returns the
// local address of each forward; stop closes them all.
func (p *Platform) ProbeReplicas(ctx context.Context) (addrs []string, stop func(), err error) {
	if p.opts.REST == nil {
		return nil, func() {}, errors.New("port-forward: no REST configuration for this cluster")
	}
	transport, upgrader, err := spdy.RoundTripperFor(p.opts.REST)
	if err != nil {
		return nil, func() {}, fmt.Errorf("port-forward: %w", err)
	}
	var stops []chan struct{}
	stop = func() {
		for _, c := range stops {
			close(c)
		}
		stops = nil
	}
	port := strconv.Itoa(int(p.opts.Manifest.ContainerPort))
	for _, r := range p.Replicas() {
		if r.State != platform.Up {
			continue
		}
		req := p.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(p.Namespace()).Name(r.Name).SubResource("portforward")
		dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, req.URL())
		stopCh, readyCh := make(chan struct{}), make(chan struct{})
		fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + port}, stopCh, readyCh, io.Discard, io.Discard)
		if err != nil {
			stop()
			return nil, func() {}, fmt.Errorf("port-forward to pod %s: %w", r.Name, err)
		}
		failed := make(chan error, 1)
		go func() { failed <- fw.ForwardPorts() }() // ends when stopCh closes
		select {
		case <-readyCh:
		case err := <-failed:
			stop()
			return nil, func() {}, fmt.Errorf("port-forward to pod %s: %w", r.Name, err)
		case <-ctx.Done():
			close(stopCh)
			stop()
			return nil, func() {}, fmt.Errorf("port-forward to pod %s: %w", r.Name, ctx.Err())
		}
		stops = append(stops, stopCh)
		ports, err := fw.GetPorts()
		if err == nil && len(ports) == 0 {
			err = errors.New("none forwarded")
		}
		if err != nil {
			stop()
			return nil, func() {}, fmt.Errorf("port-forward to pod %s: local port: %w", r.Name, err)
		}
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(int(ports[0].Local)))
	}
	return addrs, stop, nil
}
