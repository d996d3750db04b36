package applog

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/go-logfmt/logfmt"
	"github.com/stretchr/testify/require"
)

func TestLines(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(&buf, slog.LevelInfo)
	log.Debug("hidden")
	log.Info("", "method", "POST", "path", "/v1/vouchers/A B/redemption", "status", 200, "duration_ms", 4.25)
	log.With("dyno", "web.1").WithGroup("db").Warn("slow query", "took", 1500*time.Millisecond, "err", errors.New(`bad "thing"`))
	log.Error("boom", slog.Group("req", "id", "r1"))
	require.Equal(t, `at=info method=POST path="/v1/vouchers/A B/redemption" status=200 duration_ms=4.25
at=warn msg="slow query" dyno=web.1 db.took=1.5s db.err="bad \"thing\""
at=error msg=boom req.id=r1
`, buf.String())
	dec := logfmt.NewDecoder(&buf)
	n := 0
	for dec.ScanRecord() {
		require.True(t, dec.ScanKeyval())
		require.Equal(t, "at", string(dec.Key()))
		n++
	}
	require.NoError(t, dec.Err())
	require.Equal(t, 3, n)
}
