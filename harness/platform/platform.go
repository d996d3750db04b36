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
