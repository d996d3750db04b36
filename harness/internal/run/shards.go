package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/internal/chaos"
	"github.com/cutover/cutover/harness/internal/replay"
	"github.com/cutover/cutover/harness/internal/shard"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/report"
	"github.com/cutover/cutover/harness/traffic/trace"
)

// stageSender sends one stage: the run's replayer itself, or the
// coordinator of a sharded replay (traffic.shards).
type stageSender interface {
	Replay(ctx context.Context, st replay.Stage) (replay.Result, error)
	Counters() replay.Counters
}

// WorkerImage is the image a sharded run's Indexed Job runs (`make
// images` builds it; kind loads it into the cluster's nodes).
const WorkerImage = "cutover-local/cutover:latest"

// startShards starts the coordinator of a sharded replay and its workers,
// and waits for every worker to join; without traffic.shards the run's
// replayer sends everything.
func (r *rehearsal) startShards(ctx context.Context, tr *traffic) error {
	t := r.p.scn.Traffic
	r.sender = r.replay
	if t.Shards <= 1 {
		return nil
	}
	e := r.stack.Endpoints()
	job := shard.Job{
		Shards: t.Shards,
		DNS:    r.dnsSpec,
		Replay: shard.Replay{
			RunPrefix: r.prefix, Port: r.port, Host: strings.TrimSuffix(r.p.scn.DNS.Record, "."),
			AppID: appID, AppToken: appToken, Timeout: r.p.scn.Traffic.ClientTimeout.D(), Retries: r.p.scn.Traffic.Retries,
			Platforms: map[string]string{herokuAddr.String(): platform.Heroku, targetAddr.String(): platform.Target},
		},
		Reach: []string{
			net.JoinHostPort(herokuAddr.String(), strconv.Itoa(r.port)),
			net.JoinHostPort(targetAddr.String(), strconv.Itoa(r.port)),
		},
	}
	if u, err := url.Parse(e.Route53URL); err == nil && u.Host != "" {
		job.Reach = append(job.Reach, u.Host)
	}
	if e.DNSAddr != "" {
		job.Reach = append(job.Reach, e.DNSAddr)
	}
	// Each worker's log goes to logs/workers/shard-N.log, put in place
	// by finish once the workers are done (and by the closers, which run
	// last first, after the coordinator's, on a run that ends early).
	workerLogs := newLogFiles(r.folder, func(line []byte) string {
		name := "shard"
		if _, rest, ok := bytes.Cut(line, []byte(" shard/")); ok {
			if n, _, ok := bytes.Cut(rest, []byte(":")); ok {
				name = "shard-" + string(n)
			}
		}
		return path.Join(report.WorkerLogsDir, name+".log")
	})
	r.workerLogs = workerLogs
	r.onClose(workerLogs.Close)
	c, err := shard.Start(shard.Options{
		Job: job, Replayer: r.replay, Unit: r.model.Unit, Trace: tr.path,
		Listen: "127.0.0.1:0", Virtual: r.clock.virtual, Event: r.event, Unreported: r.sink.unobserved,
		WorkerLog: workerLogs,
	})
	if err != nil {
		return err
	}
	var kill func(ctx context.Context, shard int) error
	switch t.Workers {
	case "in-process":
		kill, err = r.workInProcess(c, t.Shards)
	case "job":
		kill, err = r.workAsJob(ctx, c, job, tr.path)
	default:
		err = fmt.Errorf("traffic.workers: %q is not a place shard workers can run", t.Workers)
	}
	// Closers run last first: the coordinator tells the workers the run
	// is over before they are stopped.
	r.onClose(c.Close)
	if err != nil {
		return err
	}
	if err := c.WaitReady(ctx); err != nil {
		return err
	}
	r.shards, r.sender = c, c
	r.chaos.Workers = workers{n: t.Shards, kill: kill}
	r.event("replay split into %d shards, workers %s", t.Shards, t.Workers)
	return nil
}

// workers are the shard workers as the worker-kill fault sees them.
type workers struct {
	n    int
	kill func(ctx context.Context, shard int) error
}

func (w workers) Shards() int { return w.n }

func (w workers) KillWorker(ctx context.Context, shard int) error { return w.kill(ctx, shard) }

// workInProcess runs the workers as goroutines of this process, talking
// to the coordinator over HTTP as pods would; it returns how to kill one
// (its context is cancelled: its stream breaks, as a killed pod's does).
func (r *rehearsal) workInProcess(c *shard.Coordinator, n int) (func(context.Context, int) error, error) {
	var wg sync.WaitGroup
	cancels := make([]context.CancelFunc, n)
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := shard.Work(ctx, shard.WorkerOptions{Coordinator: c.URL(), Shard: i, Dir: r.tmp})
			if err != nil && !errors.Is(err, context.Canceled) {
				r.event("shard worker %d: %v", i, err)
			}
		}()
	}
	r.onClose(func(context.Context) error {
		for _, cancel := range cancels {
			cancel()
		}
		wg.Wait()
		return nil
	})
	return func(_ context.Context, i int) error {
		cancels[i]()
		return nil
	}, nil
}

// workAsJob runs the workers as a Kubernetes Indexed Job on the target
// cluster: the image holding the cutover CLI (kind loads it into its nodes),
// one pod per shard, each reaching the coordinator and the job's endpoints
// through the platform's relays. A pod that fails loses its worker at once.
func (r *rehearsal) workAsJob(ctx context.Context, c *shard.Coordinator, job shard.Job, tracePath string) (func(context.Context, int) error, error) {
	jr, ok := r.target.(platform.JobRunner)
	if !ok {
		return nil, fmt.Errorf("traffic.workers job: target %s cannot run a Kubernetes Job", r.p.scn.Target)
	}
	args := []string{"worker", "--coordinator", c.URL()}
	for _, ep := range job.Reach {
		args = append(args, "--reach", ep)
	}
	size, err := r.sizeWorkers(tracePath, job.Shards)
	if err != nil {
		return nil, err
	}
	j, err := jr.StartIndexedJob(ctx, platform.IndexedJob{
		Name: "cutover-shards", Image: WorkerImage, Args: args, Count: job.Shards,
		Resources: platform.Resources{
			CPURequest:    fmt.Sprintf("%dm", size.MilliCPU),
			CPULimit:      fmt.Sprintf("%dm", size.MilliCPULimit),
			MemoryRequest: fmt.Sprintf("%dMi", size.Memory>>20),
			MemoryLimit:   fmt.Sprintf("%dMi", size.MemoryLimit>>20),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start the shard workers' job: %w", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case f, ok := <-j.Failures():
				if !ok {
					return
				}
				c.Lose(f.Index, strings.TrimSpace(fmt.Sprintf("pod %s: %s %s", f.Pod, f.Reason, f.Message)))
			case <-wctx.Done():
				return
			}
		}
	}()
	r.onClose(func(ctx context.Context) error {
		cancel()
		<-done
		return j.Stop(ctx)
	})
	return j.Kill, nil
}

// sizeWorkers sizes the worker pods from the measured capacity of a
// worker (shard.Measured) and the peak rate the run sends: the trace's
// busiest second times the multiplier.
func (r *rehearsal) sizeWorkers(tracePath string, shards int) (shard.Sizing, error) {
	rd, err := trace.Open(tracePath)
	if err != nil {
		return shard.Sizing{}, fmt.Errorf("size the shard workers: %w", err)
	}
	defer func() { _ = rd.Close() }()
	st, err := trace.Summarize(rd, 0)
	if err != nil {
		return shard.Sizing{}, fmt.Errorf("size the shard workers: %w", err)
	}
	peak := st.Rate.Max * r.p.scn.Traffic.Multiplier
	size := shard.Measured().Size(peak, shards)
	r.sizing = &size
	r.event("shard worker pods ask for %dm CPU, limit %dm (%.0f requests/s each at the peak, %s of CPU per request as measured), and %d MiB of memory, limit %d MiB",
		size.MilliCPU, size.MilliCPULimit, size.Rate, size.PerRequest, size.Memory>>20, size.MemoryLimit>>20)
	return size, nil
}

// workerLosses are the shard workers the run lost, for the evidence.
func (r *rehearsal) workerLosses() []chaos.WorkerLoss {
	if r.shards == nil {
		return nil
	}
	var out []chaos.WorkerLoss
	for _, w := range r.shards.Workers() {
		if w.Lost != "" {
			out = append(out, chaos.WorkerLoss{Shard: w.Shard, At: w.LostAt, Why: w.Lost})
		}
	}
	return out
}

// shardWorkers is the summary's account of the shard workers.
func (r *rehearsal) shardWorkers() []report.ShardWorker {
	if r.shards == nil {
		return nil
	}
	var out []report.ShardWorker
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, w := range r.shards.Workers() {
		sw := report.ShardWorker{Shard: w.Shard, Host: w.Host, ClockOffsetMS: ms(w.Offset), ClockErrorMS: ms(w.RTT / 2), Lost: w.Lost,
			PeakRSSMB: float64(w.PeakRSS) / (1 << 20)}
		if w.Requests > 0 {
			sw.CPUMSPerRequest = ms(w.CPU) / float64(w.Requests)
		}
		if r.sizing != nil {
			sw.CPURequestMilli, sw.MemoryRequestMB = r.sizing.MilliCPU, float64(r.sizing.Memory)/(1<<20)
			if w.Requests > 0 {
				sw.Undersized = r.sizing.Check(shard.Capacity{CPUPerRequest: w.CPU / time.Duration(w.Requests), PeakRSS: w.PeakRSS})
			}
		}
		out = append(out, sw)
	}
	return out
}
