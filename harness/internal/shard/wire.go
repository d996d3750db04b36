// Package shard splits a run's replay across processes — pods of a
// Kubernetes Indexed Job, or workers in this process — and merges what
// they send back into one history, one stream for the gate and one stage
// result, as if one process had sent everything.
//
// The coordinator (the `cutover run` process) keeps the weights, the
// faults and the gate. It serves each worker the job (the replay
// configuration, how to build the client DNS model, the trace) and, stage
// by stage, the stage to send and the instant it starts on the
// coordinator's clock. A worker plans every stage from the whole trace,
// as the coordinator does, and sends only its shard: the virtual clients
// that dnsmodel.Model.Unit and replay.ShardOf map to it. Per-client order,
// DNS stickiness and idempotency-key retries are then exactly those of a
// single-process run, and every request keeps its id.
//
// Workers stream every history operation (with its vegeta result) back as
// it happens, and a heartbeat each second; the coordinator feeds them to
// the run's history sink, so the gate judges the merged stream while the
// stage runs and a rollback is as fast as in one process. Latency
// statistics are rebuilt from the operations themselves (replay.Tally),
// never averaged from per-worker percentiles.
//
// A worker whose stream breaks or falls silent is lost: the requests of
// its shard that it never sent are counted (Result.Unsent) and the
// coordinator reports it, so the verdict cannot pass on partial traffic.
//
// The wire is HTTP/1.1 with JSON bodies:
//
//	GET  /v1/job                the Job
//	GET  /v1/trace              the trace file
//	GET  /v1/clock              the coordinator's clock (for the offset)
//	GET  /v1/control?seen=N     the Control state, once its version is above N (long poll)
//	POST /v1/stream?shard=I     the worker's frames, one JSON object a line
//
// A worker's log lines travel on its stream too, so the run keeps each
// worker's log in its results folder (Options.WorkerLog) wherever the
// worker ran, a pod deleted since included.
package shard

import (
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/dnsmodel"
	"github.com/cutover/cutover/harness/internal/replay"
)

// Job is what every worker of a run is given.
type Job struct {
	// Shards is how many workers split the replay.
	Shards int `json:"shards"`
	// Replay is the replayer's configuration, but for what each process
	// makes itself (resolver, history).
	Replay Replay `json:"replay"`
	// DNS builds the client DNS model.
	DNS dnsmodel.Spec `json:"dns"`
	// Reach lists the endpoints ("host:port") a worker must reach beside
	// the coordinator: the platforms' addresses and the Route53 API. A
	// worker told how it reaches each (WorkerOptions.Reach, in this order:
	// a pod goes through relays) dials them that way; one told nothing
	// dials them as they are.
	Reach []string `json:"reach,omitempty"`
}

// Replay is the part of replay.Config a worker is given.
type Replay struct {
	RunPrefix string            `json:"run_prefix"`
	Platforms map[string]string `json:"platforms"` // address → platform name
	Port      int               `json:"port"`
	Host      string            `json:"host"`
	AppID     string            `json:"app_id,omitempty"`
	AppToken  string            `json:"app_token,omitempty"`
	Timeout   time.Duration     `json:"timeout_ns"`
	Retries   int               `json:"retries"`
	// Via dials platform "address:port"s through relays (see replay.Config.Via).
	Via map[string]string `json:"via,omitempty"`
}

// Stage is one stage as the coordinator publishes it.
type Stage struct {
	// Index counts the published stages from 1.
	Index      int           `json:"index"`
	Name       string        `json:"name"`
	From       time.Duration `json:"from_ns"`
	To         time.Duration `json:"to_ns"`
	Multiplier float64       `json:"multiplier"`
	Mode       replay.Mode   `json:"mode"`
	Compress   float64       `json:"compress"`
	// Start is when the stage's first instant is due, on the
	// coordinator's clock; Virtual is the DNS model's time at Start.
	Start   time.Time `json:"start"`
	Virtual time.Time `json:"virtual"`
}

// Control is what the coordinator tells every worker: the stages
// published so far, those stopped early, and whether the run is over.
type Control struct {
	Version int     `json:"version"`
	Stages  []Stage `json:"stages"`
	Stopped []int   `json:"stopped,omitempty"`
	Done    bool    `json:"done,omitempty"`
}

// Frame is one line of a worker's stream: exactly one field is set.
type Frame struct {
	Hello *Hello `json:"hello,omitempty"`
	// Op is a history operation; Result its vegeta result, with a
	// completion.
	Op     *history.Op    `json:"op,omitempty"`
	Result *vegeta.Result `json:"result,omitempty"`
	Ready  *Ready         `json:"ready,omitempty"`
	End    *End           `json:"end,omitempty"`
	// Beat is the worker's clock, each second the stream is otherwise idle.
	Beat *time.Time `json:"beat,omitempty"`
	// Progress is sent with a flush when the worker's counts changed.
	Progress *Progress `json:"progress,omitempty"`
	// Log is a line of the worker's own log (WorkerOptions.Logf).
	Log *LogLine `json:"log,omitempty"`
}

// LogLine is one line a worker logged, at a time on the coordinator's
// clock.
type LogLine struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Hello opens a worker's stream.
type Hello struct {
	Shard int `json:"shard"`
	// Offset is the worker's clock minus the coordinator's, and RTT the
	// round trip of the exchange it was measured by: the offset is known
	// within half of it.
	Offset time.Duration `json:"offset_ns"`
	RTT    time.Duration `json:"rtt_ns"`
	Host   string        `json:"host"`
}

// Ready says a worker has planned its shard of a stage, and how many
// requests that is (the coordinator checks it against its own plan).
type Ready struct {
	Stage   int   `json:"stage"`
	Planned int64 `json:"planned"`
}

// Progress is what a worker's replayer counted since the worker started
// that its operations do not carry: attempts sent late and planned
// requests reached late (replay.Counters). It is sent as it changes, at
// most every 100 ms, so the coordinator's Counters — which the machine
// watch reads to tell a saturated machine from a slow platform at every
// gate evaluation — follow the workers while a stage runs, not only at
// its end.
type Progress struct {
	Late   int64 `json:"late"`
	Behind int64 `json:"behind"`
}

// End closes a worker's stage.
type End struct {
	Stage  int                `json:"stage"`
	Counts replay.ShardCounts `json:"counts"`
	Error  string             `json:"error,omitempty"`
	// CPU is the CPU time the worker's process used during the stage and
	// PeakRSS its peak resident memory so far (bytes): what a pod of it
	// needs. Zero when the worker shares its process (in-process workers).
	CPU     time.Duration `json:"cpu_ns,omitempty"`
	PeakRSS int64         `json:"peak_rss,omitempty"`
}
