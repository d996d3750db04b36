package main_test

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/bugs"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

func TestStaticBinaryAndBadConfig(t *testing.T) {
	bin := couponapitest.Binary(t)
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no program interpreter")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	require.Empty(t, libs)

	cmd := exec.Command(bin)
	cmd.Env = []string{"PORT=0", "COUPONAPI_BUGS=nope", "APP_ID=a", "APP_TOKEN=b", "REDIS_URL=redis://127.0.0.1:1/0",
		"MONGODB_URL=mongodb://127.0.0.1:1/", "DB_TIMEOUT=soon"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 2, exit.ExitCode())
	for _, want := range []string{"DATABASE_URL: is required", `COUPONAPI_BUGS: unknown bug "nope"`, `DB_TIMEOUT: "soon"`} {
		require.Contains(t, stderr.String(), want)
	}
}

func redeemReq(i int) api.RedeemRequest {
	return api.RedeemRequest{Customer: api.Customer{SourceID: fmt.Sprintf("c%d", i)}, Order: api.Order{ID: fmt.Sprintf("o%d", i), Amount: 1000}}
}

// TestSIGTERMDrainsInFlight sends SIGTERM while an import is still being
// uploaded: the listener closes at once, the import completes, the process
// exits 0.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded stack")
	}
	st := stacktest.Embedded(t)
	p := couponapitest.StartProcess(t, couponapitest.Binary(t), st.Endpoints(), nil)
	pr, pw := io.Pipe()
	type result struct {
		res api.ImportResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := p.Client.Import(context.Background(), api.ContentTypeJSON, pr)
		done <- result{res, err}
	}()
	_, err := io.WriteString(pw, `[{"code":"TERM-1","type":"GIFT_VOUCHER","gift":{"amount":5}}`)
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // the request is in flight
	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.True(t, couponapitest.WaitFor(5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", p.Addr(), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	}), "the listener closes after SIGTERM")
	_, err = io.WriteString(pw, `,{"code":"TERM-2","type":"GIFT_VOUCHER","gift":{"amount":5}}]`)
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	r := <-done
	require.NoError(t, r.err)
	require.EqualValues(t, 2, r.res.Created)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit after draining")
	}
	require.Equal(t, 0, p.ExitCode())
	require.Contains(t, p.Log.String(), "shutdown complete")
}

// blackhole accepts connections and never answers: a Redis that hangs.
func blackhole(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// TestKillBetweenCommitAndResponse kills a process after its redemption
// committed and before it answered (it is stuck writing the answer to a
// hanging Redis); the client's retry with the same key on another process
// must get that redemption, not a second one. With idempotency_ignored it
// gets a second one.
func TestKillBetweenCommitAndResponse(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded stack")
	}
	st := stacktest.Embedded(t)
	ep := st.Endpoints()
	bin := couponapitest.Binary(t)
	ctx := context.Background()
	db, err := pgx.Connect(ctx, ep.PostgresURL)
	require.NoError(t, err)
	defer db.Close(ctx)
	hang := blackhole(t)
	for _, tc := range []struct {
		bug           string
		wantViolation bool
	}{{"", false}, {string(bugs.IdempotencyIgnored), true}} {
		t.Run("bug="+tc.bug, func(t *testing.T) {
			code := "KILL-" + tc.bug
			a := couponapitest.StartProcess(t, bin, ep, map[string]string{
				"REDIS_URL": "redis://" + hang + "/0", "REDIS_TIMEOUT": "2s", "COUPONAPI_BUGS": tc.bug})
			_, err := a.Client.CreateVoucher(ctx, couponapitest.Voucher(code, 0, 100))
			require.NoError(t, err)
			answered := make(chan error, 1)
			go func() {
				_, err := a.Client.Redeem(ctx, code, "the-key", redeemReq(1))
				answered <- err
			}()
			var committed string
			require.True(t, couponapitest.WaitFor(10*time.Second, func() bool {
				err := db.QueryRow(ctx, `SELECT id FROM redemptions WHERE voucher_code = $1`, code).Scan(&committed)
				return err == nil
			}), "the redemption commits")
			require.NoError(t, a.Kill())
			require.Error(t, <-answered, "the client never got the answer")

			b := couponapitest.StartProcess(t, bin, ep, map[string]string{"COUPONAPI_BUGS": tc.bug})
			retry, err := b.Client.Redeem(ctx, code, "the-key", redeemReq(1))
			require.NoError(t, err)
			list, err := b.Client.AllRedemptions(ctx, code)
			require.NoError(t, err)
			violated := retry.ID != committed || len(list) != 1
			require.Equal(t, tc.wantViolation, violated, "retry %s, committed %s, %d listed", retry.ID, committed, len(list))
		})
	}
}

// TestKillBetweenCommitAndRelay SIGKILLs a process whose redemptions
// committed but were not relayed yet; another process relays them: exactly
// one audit event per redemption.
func TestKillBetweenCommitAndRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded stack")
	}
	st := stacktest.Embedded(t)
	ep := st.Endpoints()
	bin := couponapitest.Binary(t)
	ctx := context.Background()
	a := couponapitest.StartProcess(t, bin, ep, map[string]string{"OUTBOX_RELAY": "false"})
	_, err := a.Client.CreateVoucher(ctx, couponapitest.Voucher("RELAY", 0, 100))
	require.NoError(t, err)
	ids := map[string]bool{}
	for i := range 30 {
		r, err := a.Client.Redeem(ctx, "RELAY", fmt.Sprintf("k%d", i), redeemReq(i))
		require.NoError(t, err)
		ids[r.ID] = true
	}
	require.NoError(t, a.Kill())
	<-a.Done()
	filter := bson.D{{Key: "voucher", Value: "RELAY"}, {Key: "type", Value: api.EventRedemptionCreated}}
	require.Empty(t, couponapitest.AuditEvents(t, ep.MongoURL, filter))

	couponapitest.StartProcess(t, bin, ep, nil)
	var evs []api.Event
	require.True(t, couponapitest.WaitFor(10*time.Second, func() bool {
		evs = couponapitest.AuditEvents(t, ep.MongoURL, filter)
		return len(evs) >= len(ids)
	}))
	time.Sleep(300 * time.Millisecond) // a duplicate would show by now
	evs = couponapitest.AuditEvents(t, ep.MongoURL, filter)
	require.Len(t, evs, len(ids))
	for _, ev := range evs {
		require.True(t, ids[ev.RedemptionID], "event for unknown redemption %s", ev.RedemptionID)
		delete(ids, ev.RedemptionID)
	}
	require.Empty(t, ids)
}

// vouchersJSON streams a JSON array of n gift cards with codes
// prefix-NNNNNN, written by a goroutine so the test holds none of it.
func vouchersJSON(prefix string, n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 0, 64<<10)
		buf = append(buf, '[')
		for i := range n {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = fmt.Appendf(buf, `{"code":"%s-%06d","type":"GIFT_VOUCHER","gift":{"amount":%d},"min_order_amount":%d}`, prefix, i, 1000+i%500, i%7)
			if len(buf) > 60<<10 {
				if _, err := pw.Write(buf); err != nil {
					return
				}
				buf = buf[:0]
			}
		}
		buf = append(buf, ']')
		_, _ = pw.Write(buf)
		_ = pw.Close()
	}()
	return pr
}

// peakRSS samples the process's RSS every 10ms while fn runs.
func peakRSS(t testing.TB, p *couponapitest.Process, fn func()) (peak int64) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if rss, err := p.RSS(); err == nil && rss > peak {
				peak = rss
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	return peak
}

// TestImportExportMemoryBounded imports 100,000 vouchers three times and
// exports them all: the process's resident memory must not grow with the
// uploads. With import_buffer, every upload stays in memory.
func TestImportExportMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 300,000 vouchers")
	}
	st := stacktest.Embedded(t)
	ep := st.Endpoints()
	bin := couponapitest.Binary(t)
	ctx := context.Background()
	const n = 100_000
	for _, tc := range []struct {
		bug     string
		leaking bool
	}{{"", false}, {string(bugs.ImportBuffer), true}} {
		t.Run("bug="+tc.bug, func(t *testing.T) {
			p := couponapitest.StartProcess(t, bin, ep, map[string]string{"COUPONAPI_BUGS": tc.bug})
			var after []int64
			var peaks []int64
			for i := range 3 {
				prefix := fmt.Sprintf("MEM%s%d", strings.ToUpper(tc.bug[:min(len(tc.bug), 3)]), i)
				start := time.Now()
				peak := peakRSS(t, p, func() {
					res, err := p.Client.Import(ctx, api.ContentTypeJSON, vouchersJSON(prefix, n))
					require.NoError(t, err)
					require.EqualValues(t, n, res.Created)
				})
				rss, err := p.RSS()
				require.NoError(t, err)
				after, peaks = append(after, rss), append(peaks, peak)
				t.Logf("import %d: %d vouchers in %v, peak RSS %d MB, after %d MB", i+1, n, time.Since(start).Round(time.Millisecond), peak>>20, rss>>20)
			}
			growth := after[2] - after[0]
			if tc.leaking {
				require.Greater(t, growth, int64(20<<20), "import_buffer keeps every upload")
				return
			}
			require.Less(t, growth, int64(10<<20), "memory must not grow with the number of imports")
			require.Less(t, peaks[0], int64(120<<20))
			var exported int64
			peak := peakRSS(t, p, func() {
				req, err := http.NewRequest("GET", p.URL+api.PathExport, nil)
				require.NoError(t, err)
				req.Header.Set(api.HeaderAppID, couponapitest.AppID)
				req.Header.Set(api.HeaderAppToken, couponapitest.AppToken)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				exported, err = io.Copy(io.Discard, resp.Body)
				require.NoError(t, err)
			})
			t.Logf("export: %d MB streamed, peak RSS %d MB", exported>>20, peak>>20)
			require.Greater(t, exported, int64(3*n*40))
			require.Less(t, peak, after[2]+(20<<20), "export streams")
		})
	}
}

// BenchmarkImport streams 100,000 vouchers into the real binary per
// iteration and reports the import rate and the process's peak resident
// memory, against its idle memory measured just before (the baseline).
func BenchmarkImport(b *testing.B) {
	st := stacktest.Embedded(b)
	p := couponapitest.StartProcess(b, couponapitest.Binary(b), st.Endpoints(), map[string]string{"LOG_LEVEL": "warn"})
	ctx := context.Background()
	const n = 100_000
	idle, err := p.RSS()
	if err != nil {
		b.Fatal(err)
	}
	var peak int64
	var took time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		pk := peakRSS(b, p, func() {
			res, err := p.Client.Import(ctx, api.ContentTypeJSON, vouchersJSON(fmt.Sprintf("BENCH%d", i), n))
			if err != nil || res.Created != n {
				b.Fatalf("import: %v (%+v)", err, res)
			}
		})
		took += time.Since(start)
		peak = max(peak, pk)
	}
	b.StopTimer()
	b.ReportMetric(float64(n*b.N)/took.Seconds(), "vouchers/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MB")
	b.ReportMetric(float64(idle)/(1<<20), "idle_rss_MB")
	b.ReportMetric(float64(peak)/float64(idle), "peak_vs_idle")
	b.ReportMetric(0, "ns/op")
}
