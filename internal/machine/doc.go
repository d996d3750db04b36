// Package machine accounts for the rehearsal machine: how much CPU (user and
// system) and memory each component of a run used — the harness and the
// parts that run inside it (router, load balancer, DNS model), the stack's
// servers (Postgres, Redis, Mongo, Toxiproxy, Route53), each dyno and
// replica — and how busy the machine was as a whole (CPU, run queue, load),
// so a run can tell a slow platform from a saturated machine.
//
// A Sampler reads /proc and the cgroup filesystem (v1 or v2) on an interval
// from one goroutine it owns; Stop ends it. Components are processes
// (followed with their descendants: Postgres forks a backend per
// connection), containers (measured by their cgroup, found from any of their
// processes), or parts of the harness process itself, told apart by a pprof
// label on their goroutines (see Do and Labels) while a CPU profile runs.
// Window aggregates the samples of a time span (a stage); Judge decides
// from a window's figures and the replayer's late requests whether the
// machine saturated, with the thresholds documented there.
package machine
