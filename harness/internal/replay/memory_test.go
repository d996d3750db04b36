package replay

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/synth"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// BenchmarkReplayerMemory replays a synthesized checkout trace at the
// multiplier that makes it about 5,000 requests/s for about 20 s, against a
// trivial loopback coupon endpoint in this process (its redeems return
// redemption ids, so rollbacks follow them), with the history and the
// vegeta results written to files, and reports the peak resident set size
// of the process while it runs (MB-rss; DESIGN target ≤ 300). The peak is
// the larger of VmRSS sampled every 10 ms and VmHWM, reset at the start
// where the kernel allows it (/proc/self/clear_refs).
func BenchmarkReplayerMemory(b *testing.B) {
	if testing.Short() {
		b.Skip("replays 20 s of traffic at 5,000 req/s")
	}
	const rate = 5000.0
	dir := b.TempDir()
	tracePath := filepath.Join(dir, "trace.jsonl")
	w, err := trace.Create(tracePath, trace.Meta{Source: "synth"})
	if err != nil {
		b.Fatal(err)
	}
	cfg := synth.Default()
	// About 100,000 requests: 20 s at 5,000 req/s.
	cfg.Duration = 20 * time.Minute
	if _, err := synth.Generate(cfg, w); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	meta := w.Meta()
	if meta.Requests == 0 || meta.Duration <= 0 {
		b.Fatalf("synthesized trace: %+v", meta)
	}
	// The multiplier that sends the trace's requests at `rate` on average.
	multiplier := meta.Duration / (float64(meta.Requests) / rate)

	var redemptions atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/redemption") {
			fmt.Fprintf(w, `{"id":"r_%d","result":"SUCCESS","amount":100}`, redemptions.Add(1))
			return
		}
		_, _ = w.Write([]byte(`{"valid":true}`))
	})
	port := serve(b, "127.0.0.1:0", h)

	var peak float64
	var achieved float64
	for b.Loop() {
		resetPeakRSS()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sampled float64
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				sampled = max(sampled, procStatusMB("VmRSS"))
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()

		hf, err := os.Create(filepath.Join(dir, "history.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		hist := history.NewWriter(hf)
		rf, err := os.Create(filepath.Join(dir, "results.bin"))
		if err != nil {
			b.Fatal(err)
		}
		tr, err := trace.Open(tracePath)
		if err != nil {
			b.Fatal(err)
		}
		rp, err := New(Config{Port: port, Resolver: FixedAddress(loopback), RunPrefix: "mem-", History: hist})
		if err != nil {
			b.Fatal(err)
		}
		res, err := rp.Replay(context.Background(), Stage{Name: "mem", Trace: tr, Multiplier: multiplier, Results: rf})
		if err != nil {
			b.Fatal(err)
		}
		rp.Close()
		tr.Close()
		if err := hist.Flush(); err != nil {
			b.Fatal(err)
		}
		hf.Close()
		rf.Close()
		close(stop)
		wg.Wait()
		peak = max(peak, sampled, procStatusMB("VmHWM"))
		achieved = res.AchievedRate
		if res.Requests < meta.Requests*9/10 || res.Errors > 0 {
			b.Fatalf("replayed %d of %d requests, %d errors", res.Requests, meta.Requests, res.Errors)
		}
	}
	b.ReportMetric(peak, "MB-rss")
	b.ReportMetric(achieved, "req/s")
	b.ReportMetric(float64(meta.Requests), "requests")
}

// resetPeakRSS resets the kernel's VmHWM of this process (Linux ≥ 4.0);
// where it cannot, VmHWM stays the lifetime peak and the sampled VmRSS
// tells the stage's own peak.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// procStatusMB reads a kB field of /proc/self/status, in MB (0 if absent).
func procStatusMB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0
		}
		return kb / 1024
	}
	return 0
}
