package measure

import (
	"errors"
	"fmt"
	"time"

	"github.com/cutover/cutover/harness/capacity"
	"github.com/cutover/cutover/harness/platform"
	"github.com/cutover/cutover/harness/report"
)

// PlanOptions are the pricing choices of a capacity plan (cutover
// capacity's flags, a capacity step's fields).
type PlanOptions struct {
	// Headroom is the share kept spare (DefaultHeadroom when nil).
	Headroom *float64
	// Budget is the monthly budget compared at (0: today's Heroku fleet).
	Budget float64
	// Linear sizes replicas as λN instead of by the fit.
	Linear bool
	// BulkDeployment also prices bulk work as its own Deployment.
	BulkDeployment bool
	// Database overrides, field by field, what the measurement recorded
	// of the rehearsal's database.
	Database capacity.Database
}

// DefaultHeadroom is the share kept spare unless told otherwise: 20 %.
const DefaultHeadroom = 0.2

func (o PlanOptions) headroom() float64 {
	if o.Headroom == nil {
		return DefaultHeadroom
	}
	return *o.Headroom
}

// databaseOf is what the plan assumes of the database: what the
// measurement recorded (the rehearsal machine's cores, the stack's
// max_connections, the service's pool), overridden where given.
func (o PlanOptions) databaseOf(m *Result) capacity.Database {
	d := capacity.Database{Cores: float64(m.MachineCores), MaxConnections: m.DBMaxConnections, PoolPerReplica: m.DBPoolPerReplica}
	if o.Database.Cores > 0 {
		d.Cores = o.Database.Cores
	}
	if o.Database.MaxConnections > 0 {
		d.MaxConnections = o.Database.MaxConnections
	}
	if o.Database.PoolPerReplica > 0 {
		d.PoolPerReplica = o.Database.PoolPerReplica
	}
	return d
}

// Plan turns a measurement into capacity.json: a profile per platform,
// priced. With an error, what was measured is still in the result.
func Plan(m *Result, prices capacity.Prices, o PlanOptions) (*report.Capacity, error) {
	headroom, linear := o.headroom(), o.Linear
	c := &report.Capacity{Scenario: m.Scenario, Seed: m.Seed, Created: time.Now().UTC(), Prices: prices, Measurement: m,
		Profiles: map[string]capacity.Profile{}}
	var errs []error
	for _, pl := range []string{platform.Heroku, platform.Target} {
		p, err := m.Profile(pl)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.Profiles[pl] = p
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("no plan: %w", errors.Join(errs...))
	}
	in := capacity.Inputs{
		PeakRate: m.PeakRate, Heroku: c.Profiles[platform.Heroku], Target: c.Profiles[platform.Target],
		Prices: prices, Headroom: headroom, Budget: o.Budget,
		CurrentDynos: m.HerokuDynos, CurrentSize: m.HerokuSize, Linear: linear,
		BulkDeployment: o.BulkDeployment, BulkRate: m.BulkRate, Database: o.databaseOf(m),
	}
	var err error
	if c.Plan, err = capacity.Compute(in); err != nil {
		return c, err
	}
	c.Assumptions = []string{
		fmt.Sprintf("Headroom %.0f %%: added to each pod's CPU and memory requests, to the memory a dyno size must have, and to the traffic the Heroku fleet is sized for (a dyno cannot reserve CPU).", headroom*100),
		"A month is 730 hours (8,760 / 12); node prices are on-demand, without reservations or savings plans; the EKS control plane is counted, the databases and the load balancer are not (both platforms need them).",
		"Node allocatable: the kubelet/system reservation of GKE's published tiers (EKS's AMI reserves CPU alike and less memory), plus a 100 MiB eviction threshold, at most 110 pods a node.",
		"A Heroku dyno serves what one replica sustained here, or less when its size's CPU share cannot pay for it (CPU-seconds per request × rate); shared sizes' cores are our reading of Heroku's compute range.",
		scalingAssumption(linear),
		"Peak memory is the most one replica held during the probes' holds (the trace's own bulk imports and exports included when they fell in a hold).",
		databaseAssumption(c.Plan.Database),
	}
	if o.BulkDeployment {
		c.Assumptions = append(c.Assumptions, "Bulk work as its own Deployment (--bulk-deployment): web pods request the most memory a replica held while no import or export was in flight on its platform; bulk pods the most memory and CPU a replica held while one was, or while it was set up (deployment, the seed data's bulk import, the warm-up: an upper bound), plus headroom; as many bulk pods as imports and exports in flight (the trace's bulk rate × their measured time), at least one. Heroku routes HTTP only to web dynos, so there the bulk endpoints stay on every web dyno.")
	}
	return c, nil
}

func databaseAssumption(d capacity.Database) string {
	cores := "Postgres's CPU is not judged (no cores given)"
	if d.Cores > 0 {
		cores = fmt.Sprintf("Postgres may use %g cores (--db-cores; by default the rehearsal machine's, which it shared with everything else): a demand needing more, at the CPU per request it used in the probes plus headroom, is out of reach on either platform", d.Cores)
	}
	conns := "its connections are not judged (the service's pool is unknown: --db-pool)"
	if d.MaxConnections > 0 && d.PoolPerReplica > 0 {
		conns = fmt.Sprintf("its max_connections %d admit %d replicas of %d connections each (--db-max-connections, --db-pool)", d.MaxConnections, d.MaxConnections/d.PoolPerReplica, d.PoolPerReplica)
	}
	return "The database: " + cores + "; " + conns + "."
}

func scalingAssumption(linear bool) string {
	if linear {
		return "Replicas were sized linearly (λN, --scaling linear): each on a host of its own, the contention measured on the shared rehearsal machine left out; the fits are still reported."
	}
	return "Throughput beyond the replicas measured is the USL fit's projection; the replicas were measured on one shared rehearsal machine, so contention there is counted as the platform's (--scaling linear leaves it out)."
}
