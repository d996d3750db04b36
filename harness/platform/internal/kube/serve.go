package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ReadyPath is the path WaitServing polls when the service names none.
const ReadyPath = "/readyz"

// WaitServing waits, within RolloutTimeout, until the deployed service
// answers readyPath (ReadyPath when empty) through addr, the address its
// clients are given. Nothing is waited for without replicas or an address.
func (p *Platform) WaitServing(ctx context.Context, addr, readyPath string, replicas int) error {
	if replicas == 0 || addr == "" {
		return nil
	}
	if readyPath == "" {
		readyPath = ReadyPath
	}
	return WaitServing(ctx, "http://"+addr+readyPath, p.opts.RolloutTimeout)
}

// WaitServing polls url until it answers 200, within timeout. Ready pods
// are not yet a serving endpoint: kube-proxy programs a NodePort a moment
// after the endpoints change (up to its minimum sync period, 1 s by
// default), and a connection in between is refused or reset. Whoever
// hands the Service's address to clients waits here first, through the
// very path the clients take (a port mapping, a front door).
func WaitServing(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to answer: %w (last: %w)", url, ctx.Err(), last)
		case <-t.C:
		}
	}
}
