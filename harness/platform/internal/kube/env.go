package kube

import (
	"net"
	"net/url"
	"strings"
)

// RewriteLoopback returns value with a loopback host (127.x.y.z, ::1,
// localhost) replaced by host, keeping the port, user and path. It knows
// URLs (postgres://u:p@127.0.0.1:5432/db, redis://127.0.0.1:6379/0) and
// bare host:port pairs; any other value is returned unchanged.
//
// Pods cannot reach the harness host's loopback: the stack's endpoints
// have to be rewritten to an address the pods can reach (the kind network's
// gateway, where Docker publishes the stack containers' ports).
func RewriteLoopback(value, host string) string {
	if host == "" {
		return value
	}
	if strings.Contains(value, "://") {
		u, err := url.Parse(value)
		if err != nil || u.Host == "" || u.Opaque != "" {
			return value
		}
		if !isLoopback(u.Hostname()) {
			return value
		}
		if p := u.Port(); p != "" {
			u.Host = net.JoinHostPort(host, p)
		} else {
			u.Host = bracket(host)
		}
		return u.String()
	}
	h, p, err := net.SplitHostPort(value)
	if err != nil || p == "" || !isLoopback(h) {
		return value
	}
	return net.JoinHostPort(host, p)
}

// RewriteEnv applies RewriteLoopback to every value of env and returns a
// new map.
func RewriteEnv(env map[string]string, host string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		out[k] = RewriteLoopback(v, host)
	}
	return out
}

func isLoopback(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func bracket(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}
