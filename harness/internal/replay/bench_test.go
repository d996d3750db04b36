package replay

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// side is one contestant: it sends requests for about `each` (or n
// requests) and says how many it sent, how long it took and the CPU time
// the process used meanwhile (the server's included: it is the same for
// both sides).
type side struct {
	n        int
	wall     time.Duration
	cpu      time.Duration
	sendMany func(n int) (int, time.Duration, time.Duration)
}

func (s *side) run(n int) (int, time.Duration) {
	got, d, cpu := s.sendMany(n)
	s.n, s.wall, s.cpu = s.n+got, s.wall+d, s.cpu+cpu
	return got, d
}

func (s *side) rate() float64 { return float64(s.n) / s.wall.Seconds() }

func (s *side) cpuPerReq() float64 { return float64(s.cpu.Microseconds()) / float64(s.n) }

// timer times one side's section. Before it starts, the server closes
// its idle keep-alive connections (vegeta's attacker never closes its
// own: left open, their goroutines would be scanned by every later GC,
// and closing them lazily would charge whichever side ran next) and the
// heap is collected, so neither side pays for the other's leftovers.
type timer struct{ srv *http.Server }

func (t timer) timed(f func()) (wall, cpu time.Duration) {
	t.srv.SetKeepAlivesEnabled(false) // closes the idle connections
	t.srv.SetKeepAlivesEnabled(true)
	time.Sleep(50 * time.Millisecond) // the clients see them closed
	runtime.GC()
	c0, w0 := cpuTime(), time.Now()
	f()
	return time.Since(w0), cpuTime() - c0
}

// BenchmarkReplayerVsVegeta measures, side by side against one trivial
// loopback endpoint, the maximum sustained rate of
//   - a bare vegeta attack (infinite-rate pacer, results gob-encoded to a file),
//   - the replayer with everything a rehearsal writes (every request due at
//     once, planned from an in-memory trace before its section starts, as
//     a rehearsal plans a stage before its clock starts; history JSON lines
//     and vegeta results written to files),
//   - the replayer without a history (results only),
//
// all with the same worker and connection caps. Short runs alternate
// bare, replay, replay-without-history, replay-without-history, replay,
// bare over several rounds (the two replays swapping places every other
// round), so every side shares the machine's noise.
// Target: replay/vegeta ≥ 1.0 — the replayer knows its whole plan in
// advance, so it sends with less work per request than vegeta's attacker,
// which builds each request from a target as it goes. CPU per request
// (client and server, this process) is reported too: when the machine is
// the limit, the rate ratio follows it; so is the planning's cost per
// request (plan_µs/req, outside the timed sections). Each timed section
// starts with no idle connection and a collected heap (see timer).
func BenchmarkReplayerVsVegeta(b *testing.B) {
	const (
		workers = 64
		each    = 400 * time.Millisecond
		rounds  = 5
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	timed := timer{srv}.timed
	dir := b.TempDir()

	bare := &side{sendMany: func(int) (int, time.Duration, time.Duration) {
		f, err := os.Create(filepath.Join(dir, "bare.bin"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		bw := bufio.NewWriterSize(f, 256<<10)
		enc := vegeta.NewEncoder(bw)
		atk := vegeta.NewAttacker(vegeta.Workers(workers), vegeta.MaxWorkers(workers),
			vegeta.Connections(workers), vegeta.MaxConnections(workers))
		tr := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: "http://127.0.0.1:" + strconv.Itoa(port) + "/v1/vouchers/SAVE-1"})
		n := 0
		elapsed, cpu := timed(func() {
			for res := range atk.Attack(tr, vegeta.ConstantPacer{}, each, "bare") {
				if err := enc.Encode(res); err != nil {
					b.Fatal(err)
				}
				n++
			}
		})
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		return n, elapsed, cpu
	}}

	var planning time.Duration
	planned := 0
	replayer := func(withHistory bool) *side {
		return &side{sendMany: func(n int) (int, time.Duration, time.Duration) {
			reqs := make([]trace.Request, n)
			for i := range reqs {
				reqs[i] = getReq(0, "client-"+strconv.Itoa(i%48))
			}
			tr := memTrace(b, reqs)
			cfg := Config{Port: port, Resolver: FixedAddress(loopback), RunPrefix: "bench-",
				MaxWorkers: workers, MaxConnections: workers}
			var hist *history.Writer
			if withHistory {
				hf, err := os.Create(filepath.Join(dir, "history.jsonl"))
				if err != nil {
					b.Fatal(err)
				}
				defer hf.Close()
				hist = history.NewWriter(hf)
				cfg.History = hist
			}
			rf, err := os.Create(filepath.Join(dir, "replay.bin"))
			if err != nil {
				b.Fatal(err)
			}
			defer rf.Close()
			rp, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer rp.Close()
			stage := Stage{Name: "ours", Trace: tr, Multiplier: 1, Results: rf}
			p0 := time.Now()
			if stage.Plan, err = rp.Plan(stage); err != nil {
				b.Fatal(err)
			}
			planning += time.Since(p0)
			planned += n
			var res Result
			elapsed, cpu := timed(func() {
				if res, err = rp.Replay(context.Background(), stage); err != nil {
					b.Fatal(err)
				}
			})
			if hist != nil {
				if err := hist.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			if res.OK != int64(n) {
				b.Fatalf("replay: %d ok of %d", res.OK, n)
			}
			return n, elapsed, cpu
		}}
	}
	full, noHistory := replayer(true), replayer(false)

	for b.Loop() {
		for i := range rounds {
			n, d := bare.run(0)
			// Size the replays to last about as long as the vegeta attack.
			size := int(float64(n) * each.Seconds() / d.Seconds())
			first, second := full, noHistory
			if i%2 == 1 {
				first, second = noHistory, full
			}
			first.run(size)
			second.run(size)
			second.run(size)
			first.run(size)
			bare.run(0)
		}
	}
	b.ReportMetric(bare.rate(), "vegeta_req/s")
	b.ReportMetric(full.rate(), "replay_req/s")
	b.ReportMetric(full.rate()/bare.rate(), "replay/vegeta")
	b.ReportMetric(noHistory.rate()/bare.rate(), "replay_nohistory/vegeta")
	b.ReportMetric(bare.cpuPerReq(), "vegeta_cpu_µs/req")
	b.ReportMetric(full.cpuPerReq(), "replay_cpu_µs/req")
	b.ReportMetric(noHistory.cpuPerReq(), "replay_nohistory_cpu_µs/req")
	b.ReportMetric(float64(planning.Microseconds())/float64(planned), "plan_µs/req")
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
