// Package platform defines where service replicas run: the simulated Heroku
// app (the source of a cutover) and the target platforms (local replicas,
// kind, an existing cluster). Each implementation lives in its own
// sub-package and never imports another.
package platform

import (
	"context"
	"time"

	"github.com/cutover/cutover/internal/proc"
)

// Names of the platforms, as used by scenarios, links and the history.
const (
	Heroku = "heroku"
	// Target is the role of the destination platform ("aws") whatever
	// implementation provides it.
	Target = "aws"
)

// ServiceSpec is what to deploy: a binary (embedded driver) or an image
// (docker driver, kind). The service reads PORT like a Heroku app.
type ServiceSpec = proc.Spec

// ReplicaState is the lifecycle state of a replica (a dyno or a pod).
type ReplicaState string

const (
	Starting ReplicaState = "starting"
	Up       ReplicaState = "up"
	Stopping ReplicaState = "stopping"
	Crashed  ReplicaState = "crashed"
	Down     ReplicaState = "down"
)

// Replica is one running copy of the service.
type Replica struct {
	Name  string       `json:"name"` // web.1, coupon-7f9c-x2 ...
	State ReplicaState `json:"state"`
	// Addr is where the replica itself listens (host:port).
	Addr string `json:"addr"`
	PID  int    `json:"pid,omitempty"`
	// Egress is the source address of the replica's outbound connections.
	Egress   string    `json:"egress,omitempty"`
	Started  time.Time `json:"started"`
	Restarts int       `json:"restarts"`
}

// Platform is a place where the service runs behind one endpoint.
type Platform interface {
	// Name is the platform's implementation name (heroku, local, kind, kubeconfig).
	Name() string
	// Deploy starts replicas of spec and returns once the platform serves
	// (or ctx ends).
	Deploy(ctx context.Context, spec ServiceSpec, replicas int) error
	// Endpoint is the host:port clients send requests to. Platforms listen on
	// their own loopback address and the same port, so a DNS answer (an
	// address) is enough to reach them.
	Endpoint() string
	Scale(ctx context.Context, replicas int) error
	Replicas() []Replica
	// Close stops every replica and listener; safe to call twice.
	Close(ctx context.Context) error
}

// Optional capabilities, discovered by type assertion (as Toxiproxy does for
// toxics). Faults use them.

// ReplicaKiller kills one replica abruptly (SIGKILL / pod delete with grace 0).
type ReplicaKiller interface {
	KillReplica(ctx context.Context, name string) error
}

// Restarter restarts replicas gracefully: one (name != "") or all ("").
type Restarter interface {
	Restart(ctx context.Context, name string) error
}

// Resources are a container's CPU and memory requests and limits as
// Kubernetes quantities ("250m", "256Mi"). An empty field takes the
// platform's default.
type Resources struct {
	CPURequest, CPULimit       string
	MemoryRequest, MemoryLimit string
}

// IndexedJob describes worker processes run as a Kubernetes Indexed Job:
// Count pods, indexes 0..Count-1, all started at once. Each reads its index
// from the environment variable JOB_COMPLETION_INDEX, which Kubernetes sets.
// A worker that fails is not restarted: the caller decides what its index's
// work counts as.
type IndexedJob struct {
	// Name is the Job's name, a DNS-1123 label ("cutover-shards").
	Name string
	// Image holds the worker binary as its entrypoint.
	Image string
	// Args are the container's arguments. A loopback endpoint among them
	// (an argument, or the value of a --flag=value) is made reachable from
	// the pods, as the service's environment is.
	Args []string
	// Count is the number of workers (completions = parallelism).
	Count int
	// Env is the workers' environment (JOB_COMPLETION_INDEX is set by
	// Kubernetes and may not be given).
	Env       map[string]string
	Resources Resources
	// Labels go on the Job and its pods, beside cutover's own.
	Labels map[string]string
	// ActiveDeadline, when set, is the Job's activeDeadlineSeconds: the
	// workers still running then are stopped and fail.
	ActiveDeadline time.Duration
}

// WorkerFailure is a worker of an IndexedJob that failed: its pod failed,
// was evicted, OOM-killed, deleted before it succeeded, or could not start.
type WorkerFailure struct {
	Index int
	Pod   string
	// Reason is short: "OOMKilled", "Evicted", "deleted", "exit code 2",
	// "ImagePullBackOff" ...
	Reason string
	// Message is Kubernetes' explanation, when it gives one.
	Message string
	// At is when the failure was seen.
	At time.Time
}

// IndexOutcome is how one index of an IndexedJob ended.
type IndexOutcome struct {
	Index     int
	Pod       string
	Succeeded bool
	// Reason and Message say why it failed (see WorkerFailure).
	Reason, Message string
	At              time.Time
}

// JobRunner is a target platform that can run a Kubernetes Indexed Job
// (kind, kubeconfig).
type JobRunner interface {
	StartIndexedJob(ctx context.Context, j IndexedJob) (Job, error)
}

// Job is a running IndexedJob.
type Job interface {
	// Failures delivers one WorkerFailure per failed index as soon as it
	// is seen; it is closed by Stop.
	Failures() <-chan WorkerFailure
	// Wait returns once every index has succeeded or failed (or ctx ends),
	// with each index's outcome.
	Wait(ctx context.Context) ([]IndexOutcome, error)
	// Kill deletes the pod of one index with a grace period of zero.
	Kill(ctx context.Context, index int) error
	// Stop deletes the Job and its pods and waits for them to go.
	Stop(ctx context.Context) error
}
