package kube

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// MapLoopback finds the loopback endpoint (127.x.y.z, ::1, localhost) in
// value and replaces it by what to returns for it. It knows URLs
// (postgres://u:p@127.0.0.1:5432/db, redis://127.0.0.1:6379/0), keeping
// their user, path and query, and bare host:port pairs; any other value,
// and a value whose host is not loopback, is returned unchanged. port is
// empty for a URL without one; to returns the new host and port (an empty
// port leaves the URL without one).
func MapLoopback(value string, to func(host, port string) (string, string, error)) (string, error) {
	if strings.Contains(value, "://") {
		u, err := url.Parse(value)
		if err != nil || u.Host == "" || u.Opaque != "" || !isLoopback(u.Hostname()) {
			return value, nil
		}
		h, p, err := to(u.Hostname(), u.Port())
		if err != nil {
			return "", err
		}
		if p != "" {
			u.Host = net.JoinHostPort(h, p)
		} else {
			u.Host = bracket(h)
		}
		return u.String(), nil
	}
	h, p, err := net.SplitHostPort(value)
	if err != nil || p == "" || !isLoopback(h) {
		return value, nil
	}
	nh, np, err := to(h, p)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(nh, np), nil
}

// RewriteLoopback returns value with a loopback host replaced by host,
// keeping the port (see MapLoopback for the forms it knows). An empty host
// changes nothing. (Endpoints pods must reach are relayed: ExposeEnv.)
func RewriteLoopback(value, host string) string {
	if host == "" {
		return value
	}
	out, _ := MapLoopback(value, func(_, port string) (string, string, error) { return host, port, nil })
	return out
}

// Exposer makes a loopback endpoint (host:port) reachable from the
// cluster and returns the address pods use for it (a relay.Relay).
type Exposer interface {
	Expose(upstream string) (string, error)
}

// ExposeEnv returns env with every loopback endpoint replaced by the
// address e exposes it at. An endpoint without a port cannot be exposed
// and is an error naming the variable.
func ExposeEnv(env map[string]string, e Exposer) (map[string]string, error) {
	out := make(map[string]string, len(env))
	for k, v := range env {
		nv, err := expose(k, v, e)
		if err != nil {
			return nil, err
		}
		out[k] = nv
	}
	return out, nil
}

// ExposeArgs is ExposeEnv for command-line arguments: an argument that is
// a loopback endpoint, or the value of a --flag=value that is one, is
// replaced by the address e exposes it at.
func ExposeArgs(args []string, e Exposer) ([]string, error) {
	out := make([]string, len(args))
	for i, a := range args {
		name, value := fmt.Sprintf("argument %d", i+1), a
		flag, v, isFlag := strings.Cut(a, "=")
		if isFlag && strings.HasPrefix(flag, "-") {
			name, value = flag, v
		}
		nv, err := expose(name, value, e)
		if err != nil {
			return nil, err
		}
		if value != a {
			nv = flag + "=" + nv
		}
		out[i] = nv
	}
	return out, nil
}

// LoopbackArgs lists the arguments ExposeArgs would change (as
// "argument N" or the flag's name).
func LoopbackArgs(args []string) []string {
	var out []string
	for i, a := range args {
		name, value := fmt.Sprintf("argument %d", i+1), a
		if flag, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(flag, "-") {
			name, value = flag, v
		}
		if RewriteLoopback(value, "192.0.2.1") != value {
			out = append(out, name)
		}
	}
	return out
}

// expose replaces a loopback endpoint in value (named name in errors) by
// the address e exposes it at.
func expose(name, value string, e Exposer) (string, error) {
	return MapLoopback(value, func(host, port string) (string, string, error) {
		if port == "" {
			return "", "", fmt.Errorf("%s=%s: a loopback endpoint without a port cannot be relayed to the cluster", name, value)
		}
		addr, err := e.Expose(net.JoinHostPort(host, port))
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", name, err)
		}
		return net.SplitHostPort(addr)
	})
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
