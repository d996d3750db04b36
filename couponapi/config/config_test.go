package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/bugs"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func base() map[string]string {
	return map[string]string{
		"DATABASE_URL": "postgres://u:secret@db:5432/app",
		"REDIS_URL":    "redis://cache:6379/0",
		"MONGODB_URL":  "mongodb://mongo:27017/",
		"APP_ID":       "app",
		"APP_TOKEN":    "tok",
	}
}

func TestDefaults(t *testing.T) {
	c, err := FromEnv(env(base()))
	require.NoError(t, err)
	require.Equal(t, 5000, c.Port)
	require.Equal(t, 25*time.Second, c.ShutdownGrace)
	require.Equal(t, 10, c.DBPoolMax)
	require.Equal(t, 2*time.Second, c.ValidateCacheTTL)
	require.True(t, c.OutboxRelay)
	require.Equal(t, map[string]string{"app": "tok"}, c.Credentials)
	require.Empty(t, c.Bugs.String())
}

func TestSettings(t *testing.T) {
	m := base()
	m["PORT"] = "8080"
	m["APP_CREDENTIALS"] = "heroku:t1, aws:t2"
	m["COUPONAPI_BUGS"] = "check_then_act"
	m["MONGODB_URL"] = ""
	m["MONGODB_URI"] = "mongodb+srv://cluster/"
	m["OUTBOX_RELAY"] = "false"
	m["PARTNER_WEBHOOK_URL"] = "http://partner.example/hook"
	m["EGRESS_ADDR"] = "127.0.0.7"
	m["SHUTDOWN_DELAY"] = "0s"
	c, err := FromEnv(env(m))
	require.NoError(t, err)
	require.Equal(t, 8080, c.Port)
	require.Equal(t, map[string]string{"app": "tok", "heroku": "t1", "aws": "t2"}, c.Credentials)
	require.True(t, c.Bugs.Has(bugs.CheckThenAct))
	require.Equal(t, "mongodb+srv://cluster/", c.MongoURL)
	require.False(t, c.OutboxRelay)
	require.Equal(t, "127.0.0.7", c.EgressAddr)
}

func TestErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"DATABASE_URL": ""}, "DATABASE_URL: is required"},
		{map[string]string{"DATABASE_URL": "mysql://x"}, `DATABASE_URL: scheme "mysql"`},
		{map[string]string{"REDIS_URL": "http://x"}, "REDIS_URL: scheme"},
		{map[string]string{"PORT": "99999"}, "PORT: 99999 is not a TCP port"},
		{map[string]string{"PORT": "x"}, `PORT: "x"`},
		{map[string]string{"SHUTDOWN_GRACE": "0s"}, "SHUTDOWN_GRACE"},
		{map[string]string{"DB_POOL_MAX": "0"}, "DB_POOL_MAX"},
		{map[string]string{"OUTBOX_RELAY": "maybe"}, "OUTBOX_RELAY"},
		{map[string]string{"APP_TOKEN": ""}, "APP_ID, APP_TOKEN: set both or neither"},
		{map[string]string{"APP_CREDENTIALS": "nocolon"}, "APP_CREDENTIALS: pair 1"},
		{map[string]string{"COUPONAPI_BUGS": "x"}, "COUPONAPI_BUGS"},
		{map[string]string{"PARTNER_WEBHOOK_URL": "ftp://x"}, "PARTNER_WEBHOOK_URL"},
		{map[string]string{"EGRESS_ADDR": "not-an-ip"}, "EGRESS_ADDR"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			m := base()
			for k, v := range tc.set {
				m[k] = v
			}
			_, err := FromEnv(env(m))
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "secret", "never print credentials")
		})
	}
}

func TestVarsDocumentEveryVariable(t *testing.T) {
	documented := map[string]bool{}
	for _, v := range Vars {
		for _, name := range strings.Split(v.Name, ", ") {
			documented[name] = true
		}
		require.NotEmpty(t, v.Doc)
	}
	var read []string
	_, _ = FromEnv(func(k string) string { read = append(read, k); return "" })
	for _, k := range read {
		if k == "MONGODB_URI" {
			continue // alias, documented with MONGODB_URL
		}
		require.True(t, documented[k], "%s is read but not in Vars", k)
	}
}
