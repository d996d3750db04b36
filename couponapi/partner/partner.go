// Package partner calls the partner webhook (a CRM sync) for each committed
// redemption. Calls leave from a configurable local source address
// (EGRESS_ADDR), which is what a partner's firewall allow-list sees — the
// address that changes when the service moves from Heroku to AWS.
package partner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/store"
)

// Webhook posts events to the partner.
type Webhook struct {
	url    string
	client *http.Client
}

// New posts to webhookURL, from egressAddr when set (an IP address, with
// an optional port that is ignored), each call bounded by timeout.
func New(webhookURL, egressAddr string, timeout time.Duration) (*Webhook, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("PARTNER_WEBHOOK_URL %q: must be an http(s) URL", webhookURL)
	}
	local, err := ParseEgress(egressAddr)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	d := &net.Dialer{Timeout: timeout, LocalAddr: local}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Webhook{url: webhookURL, client: &http.Client{Transport: tr, Timeout: timeout}}, nil
}

// ParseEgress reads EGRESS_ADDR: "" (the kernel picks), an IP, or IP:port
// (the port is ignored; outbound ports are ephemeral).
func ParseEgress(s string) (*net.TCPAddr, error) {
	if s == "" {
		return nil, nil
	}
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("EGRESS_ADDR %q: not an IP address", s)
	}
	return &net.TCPAddr{IP: ip}, nil
}

// Name is the outbox sink name.
func (w *Webhook) Name() string { return store.SinkPartner }

// Deliver posts each event as JSON with the event id as Idempotency-Key;
// any 2xx answer is a delivery, anything else is retried later.
func (w *Webhook) Deliver(ctx context.Context, evs []api.Event) []error {
	errs := make([]error, len(evs))
	for i, ev := range evs {
		errs[i] = w.post(ctx, ev)
	}
	return errs
}

func (w *Webhook) post(ctx context.Context, ev api.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("partner request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.HeaderIdempotencyKey, ev.ID)
	req.Header.Set("User-Agent", "couponapi")
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("partner call: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("partner answered %d: %s", resp.StatusCode, bytes.TrimSpace(snippet))
	}
	return nil
}
