package partner

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
)

func TestParseEgress(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"", "", ""},
		{"127.0.0.9", "127.0.0.9", ""},
		{"127.0.0.9:0", "127.0.0.9", ""},
		{"::1", "::1", ""},
		{"example.com", "", "not an IP"},
	} {
		a, err := ParseEgress(tc.in)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		if tc.want == "" {
			require.Nil(t, a)
		} else {
			require.Equal(t, tc.want, a.IP.String())
		}
	}
}

func TestDeliverFromEgressAddress(t *testing.T) {
	var from []string
	status := http.StatusForbidden
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		from = append(from, host+" "+r.Header.Get(api.HeaderIdempotencyKey))
		w.WriteHeader(status)
		_, _ = w.Write([]byte("not on the allow-list"))
	}))
	defer srv.Close()
	w, err := New(srv.URL, "127.0.0.5", time.Second)
	require.NoError(t, err)
	errs := w.Deliver(context.Background(), []api.Event{{ID: "evt_1"}})
	require.ErrorContains(t, errs[0], "partner answered 403: not on the allow-list")
	status = http.StatusOK
	errs = w.Deliver(context.Background(), []api.Event{{ID: "evt_1"}, {ID: "evt_2"}})
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, []string{"127.0.0.5 evt_1", "127.0.0.5 evt_1", "127.0.0.5 evt_2"}, from)

	_, err = New("ftp://x", "", 0)
	require.ErrorContains(t, err, "PARTNER_WEBHOOK_URL")
}
