package kube

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWaitServing(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	require.NoError(t, WaitServing(context.Background(), srv.URL+"/readyz", 10*time.Second))
	require.Equal(t, int64(3), calls.Load(), "polled until the first 200")

	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer never.Close()
	err := WaitServing(context.Background(), never.URL+"/readyz", 600*time.Millisecond)
	require.ErrorContains(t, err, "status 503")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
