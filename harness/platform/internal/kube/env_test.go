package kube

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/harness/platform/internal/relay"
)

func TestRewriteLoopback(t *testing.T) {
	const gw = "172.18.0.1"
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:p@127.0.0.1:5432/db?sslmode=disable", "postgres://u:p@172.18.0.1:5432/db?sslmode=disable"},
		{"redis://localhost:6379/0", "redis://172.18.0.1:6379/0"},
		{"mongodb://127.0.0.5:27017/audit", "mongodb://172.18.0.1:27017/audit"},
		{"http://[::1]:8080/x", "http://172.18.0.1:8080/x"},
		{"http://127.0.0.1/x", "http://172.18.0.1/x"},
		{"127.0.0.1:53", "172.18.0.1:53"},
		{"postgres://u@db.internal:5432/db", "postgres://u@db.internal:5432/db"},
		{"10.0.0.1:5432", "10.0.0.1:5432"},
		{"plain value", "plain value"},
		{"true", "true"},
		{"", ""},
	} {
		require.Equal(t, tc.want, RewriteLoopback(tc.in, gw), "in %q", tc.in)
	}
	require.Equal(t, "http://[fd00::1]:80/", RewriteLoopback("http://127.0.0.1:80/", "fd00::1"))
	require.Equal(t, "127.0.0.1:1", RewriteLoopback("127.0.0.1:1", ""), "no host, no change")
}

func FuzzRewriteLoopback(f *testing.F) {
	for _, s := range []string{"postgres://u:p@127.0.0.1:5432/db", "localhost:1", "http://[::1]/", "x", "redis://127.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := RewriteLoopback(s, "192.0.2.1")
		if out == s {
			return
		}
		if !strings.Contains(out, "192.0.2.1") {
			t.Fatalf("rewrote %q to %q without the new host", s, out)
		}
		if again := RewriteLoopback(out, "192.0.2.1"); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, again)
		}
		if strings.Contains(s, "://") {
			a, errA := url.Parse(s)
			b, errB := url.Parse(out)
			if errA != nil || errB != nil || a.Scheme != b.Scheme || a.Path != b.Path || a.Port() != b.Port() {
				t.Fatalf("rewrite of %q changed more than the host: %q", s, out)
			}
		}
	})
}

func TestExposeEnvRelaysEveryLoopbackEndpoint(t *testing.T) {
	r, err := relay.New(relay.Options{Host: "127.0.0.40"})
	require.NoError(t, err)
	defer r.Close()
	env, err := ExposeEnv(map[string]string{
		"DATABASE_URL":        "postgres://u:p@127.101.7.5:20000/coupons?sslmode=disable",
		"REDIS_URL":           "redis://127.101.7.5:20001/0",
		"PARTNER_WEBHOOK_URL": "http://127.0.0.1:41000/hook",
		"DNS":                 "127.101.7.4:53",
		"REMOTE":              "postgres://u@db.internal:5432/x",
		"APP_ID":              "cutover",
	}, r)
	require.NoError(t, err)
	exposed := r.Exposed()
	require.Len(t, exposed, 4, "the four loopback endpoints, no other")
	for k, up := range map[string]string{
		"DATABASE_URL": "127.101.7.5:20000", "REDIS_URL": "127.101.7.5:20001",
		"PARTNER_WEBHOOK_URL": "127.0.0.1:41000", "DNS": "127.101.7.4:53",
	} {
		require.Contains(t, env[k], exposed[up], k)
		require.NotContains(t, env[k], up, k)
	}
	require.Equal(t, "postgres://u:p@"+exposed["127.101.7.5:20000"]+"/coupons?sslmode=disable", env["DATABASE_URL"])
	require.Equal(t, "postgres://u@db.internal:5432/x", env["REMOTE"])
	require.Equal(t, "cutover", env["APP_ID"])

	_, err = ExposeEnv(map[string]string{"X": "http://localhost/x"}, r)
	require.ErrorContains(t, err, "X=http://localhost/x: a loopback endpoint without a port")
}

func TestExposeArgs(t *testing.T) {
	r, err := relay.New(relay.Options{Host: "127.0.0.40"})
	require.NoError(t, err)
	defer r.Close()
	for _, tc := range []struct {
		name     string
		args     []string
		want     func(exposed map[string]string) []string
		loopback []string
	}{
		{
			name: "an argument",
			args: []string{"worker", "--coordinator", "http://127.0.0.9:7000/v1"},
			want: func(e map[string]string) []string {
				return []string{"worker", "--coordinator", "http://" + e["127.0.0.9:7000"] + "/v1"}
			},
			loopback: []string{"argument 3"},
		},
		{
			name: "a flag's value",
			args: []string{"worker", "--coordinator=http://127.0.0.9:7000", "--dns=127.0.0.8:53"},
			want: func(e map[string]string) []string {
				return []string{"worker", "--coordinator=http://" + e["127.0.0.9:7000"], "--dns=" + e["127.0.0.8:53"]}
			},
			loopback: []string{"--coordinator", "--dns"},
		},
		{
			name: "nothing on loopback",
			args: []string{"worker", "--coordinator", "http://10.0.0.1:7000", "a=127.0.0.1:1"},
			want: func(map[string]string) []string {
				return []string{"worker", "--coordinator", "http://10.0.0.1:7000", "a=127.0.0.1:1"}
			},
			loopback: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.loopback, LoopbackArgs(tc.args))
			got, err := ExposeArgs(tc.args, r)
			require.NoError(t, err)
			require.Equal(t, tc.want(r.Exposed()), got)
		})
	}
	_, err = ExposeArgs([]string{"--coordinator=http://localhost/x"}, r)
	require.ErrorContains(t, err, "--coordinator=http://localhost/x: a loopback endpoint without a port")
}
