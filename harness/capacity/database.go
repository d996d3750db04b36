package capacity

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Database is what the production database is assumed to have: both
// platforms write the same Postgres, and adding replicas adds none of it.
type Database struct {
	// Cores is the CPU Postgres may use (0: not judged).
	Cores float64 `json:"cores"`
	// MaxConnections is Postgres's max_connections, and PoolPerReplica the
	// connections each replica opens (the service opens its pool in full);
	// either 0: not judged.
	MaxConnections int `json:"max_connections"`
	PoolPerReplica int `json:"pool_per_replica"`
}

func (d Database) check() error {
	if d.Cores < 0 || d.MaxConnections < 0 || d.PoolPerReplica < 0 {
		return errors.New("database: cores, connections and pool must not be negative")
	}
	return nil
}

// MaxReplicas is how many replicas the database's connections admit
// (+Inf when not judged).
func (d Database) MaxReplicas() float64 {
	if d.MaxConnections <= 0 || d.PoolPerReplica <= 0 {
		return math.Inf(1)
	}
	return float64(d.MaxConnections / d.PoolPerReplica)
}

// Ceiling is what the database carries for one platform: the rate at
// which Postgres would use all its cores (with headroom) at the measured
// CPU per request, and the replicas its connections admit.
type Ceiling struct {
	// CPUPerRequestMS is Postgres's CPU per request served, measured.
	CPUPerRequestMS float64 `json:"cpu_ms_per_request"`
	// CoresP95 is the p95 of Postgres's CPU during the measurement, in
	// cores, on the rehearsal machine.
	CoresP95 float64 `json:"cores_p95"`
	// RPS and Multiple are the CPU ceiling (0: not judged).
	RPS      float64 `json:"rps"`
	Multiple float64 `json:"multiple"`
	// MaxReplicas is what the connections admit (0: not judged).
	MaxReplicas int `json:"max_replicas"`
}

// The database's resources, when they bind.
const (
	BindDatabaseCPU   = "database CPU"
	BindDatabaseConns = "database connections"
)

// dbCeiling is the highest demand (req/s) the database's CPU carries for
// platform profile p, with headroom; +Inf when not judged.
func (in Inputs) dbCeiling(p Profile) float64 {
	if in.Database.Cores <= 0 || p.DBCPUPerRequest <= 0 {
		return math.Inf(1)
	}
	return in.Database.Cores / (p.DBCPUPerRequest * (1 + in.Headroom))
}

// dbBinds says whether the database cannot carry demand with replicas
// replicas of platform profile p, and why.
func (in Inputs) dbBinds(p Profile, demand float64, replicas int) (string, bool) {
	if c := in.dbCeiling(p); demand > c {
		return fmt.Sprintf("%s: Postgres at %.2f ms of CPU a request needs more than its %g cores above %.0f req/s", BindDatabaseCPU, p.DBCPUPerRequest*1000, in.Database.Cores, c), true
	}
	if m := in.Database.MaxReplicas(); float64(replicas) > m {
		return fmt.Sprintf("%s: %d replicas × %d connections exceed max_connections %d", BindDatabaseConns, replicas, in.Database.PoolPerReplica, in.Database.MaxConnections), true
	}
	return "", false
}

// ceiling is the database's ceiling for platform profile p.
func (in Inputs) ceiling(p Profile) Ceiling {
	c := Ceiling{CPUPerRequestMS: p.DBCPUPerRequest * 1000, CoresP95: p.DBCoresP95}
	if r := in.dbCeiling(p); !math.IsInf(r, 1) {
		c.RPS, c.Multiple = r, r/in.PeakRate
	}
	if m := in.Database.MaxReplicas(); !math.IsInf(m, 1) {
		c.MaxReplicas = int(m)
	}
	return c
}

// dbSentence says where the database binds for one platform: first, when
// a row of the plan is out of reach because of it; otherwise how far it
// would carry.
func dbSentence(rows []Row, binds func(Row) (string, bool), c Ceiling) string {
	for _, r := range rows {
		if b, out := binds(r); out && (strings.HasPrefix(b, BindDatabaseCPU) || strings.HasPrefix(b, BindDatabaseConns)) {
			return fmt.Sprintf("the database binds first, at %.1f× (%s)", r.Multiple, b)
		}
	}
	var parts []string
	if c.RPS > 0 {
		parts = append(parts, fmt.Sprintf("its CPU carries %.0f req/s (%.1f×) at %.2f ms a request", c.RPS, c.Multiple, c.CPUPerRequestMS))
	}
	if c.MaxReplicas > 0 {
		parts = append(parts, fmt.Sprintf("its connections admit %d replicas", c.MaxReplicas))
	}
	if len(parts) == 0 {
		return "the database was not judged"
	}
	return "the database does not bind in this range: " + strings.Join(parts, "; ")
}
