package capacity

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The database binds first when the demand needs more of Postgres's CPU,
// or more connections, than it has: the rows from there on are out of
// reach on both platforms, whatever the fleet; otherwise the replica's CPU
// binds, and the plan says how far the database would carry.
func TestComputeDatabaseBinds(t *testing.T) {
	tests := []struct {
		name     string
		dbCPU    float64 // Postgres CPU-seconds per request
		db       Database
		herokuAt []bool // rows 1, 5, 10× in reach on Heroku
		targetAt []bool
		binds    string // of the rows out of reach
		sentence string // in both platforms' binds-first sentence
		ceiling  float64
		multiple float64
		replicas int
	}{
		{
			name:  "database CPU binds first",
			dbCPU: 0.005, db: Database{Cores: 2},
			// 2 cores / (5 ms × 1.2) = 333 req/s: 3.3×.
			herokuAt: []bool{true, false, false}, targetAt: []bool{true, false, false},
			binds:    "database CPU: Postgres at 5.00 ms of CPU a request needs more than its 2 cores above 333 req/s",
			sentence: "the database binds first, at 5.0× (database CPU",
			ceiling:  333.33, multiple: 3.33,
		},
		{
			name:  "database connections bind first",
			dbCPU: 0.0001, db: Database{Cores: 2, MaxConnections: 40, PoolPerReplica: 10},
			// 4 replicas: 5× takes 5 small dynos, so 3 big ones instead;
			// 10× takes 6 big ones, and the target 5 pods.
			herokuAt: []bool{true, true, false}, targetAt: []bool{true, true, false},
			binds:    "database connections: ",
			sentence: "the database binds first",
			ceiling:  16666.67, multiple: 166.67, replicas: 4,
		},
		{
			name:  "the replica's CPU binds: the database carries far more",
			dbCPU: 0.0001, db: Database{Cores: 2, MaxConnections: 400, PoolPerReplica: 10},
			herokuAt: []bool{true, true, true}, targetAt: []bool{true, true, true},
			sentence: "the database does not bind in this range: its CPU carries 16667 req/s (166.7×) at 0.10 ms a request; its connections admit 40 replicas",
			ceiling:  16666.67, multiple: 166.67, replicas: 40,
		},
		{
			name:     "not measured: not judged",
			db:       Database{Cores: 2},
			herokuAt: []bool{true, true, true}, targetAt: []bool{true, true, true},
			sentence: "the database was not judged",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := testInputs()
			in.Heroku.DBCPUPerRequest, in.Target.DBCPUPerRequest = tc.dbCPU, tc.dbCPU
			in.Database = tc.db
			p, err := Compute(in)
			require.NoError(t, err)
			for i, r := range p.Rows {
				require.Equal(t, !tc.herokuAt[i], r.HerokuOutOfReach, "heroku %g×: %s", r.Multiple, r.HerokuBinds)
				require.Equal(t, !tc.targetAt[i], r.TargetOutOfReach, "target %g×: %s", r.Multiple, r.TargetBinds)
				if r.HerokuOutOfReach {
					require.Contains(t, r.HerokuBinds, tc.binds)
					require.Zero(t, r.HerokuUSD)
				} else {
					require.NotContains(t, r.HerokuBinds, "database")
				}
				if r.TargetOutOfReach {
					require.Contains(t, r.TargetBinds, tc.binds)
				} else {
					require.Equal(t, BindCPU, r.TargetBinds)
				}
			}
			require.Contains(t, p.HerokuBinds, tc.sentence)
			require.Contains(t, p.TargetBinds, tc.sentence)
			require.InDelta(t, tc.ceiling, p.TargetDatabase.RPS, 0.01)
			require.InDelta(t, tc.multiple, p.TargetDatabase.Multiple, 0.01)
			require.Equal(t, tc.replicas, p.TargetDatabase.MaxReplicas)
			require.Equal(t, tc.db, p.Database)
		})
	}
}

// A budget buys no more traffic than the database carries.
func TestDatabaseBoundsTheBudget(t *testing.T) {
	in := testInputs()
	in.Budget = 150 // 12× on the target without the database
	in.Target.DBCPUPerRequest, in.Heroku.DBCPUPerRequest = 0.005, 0.005
	in.Database = Database{Cores: 2}
	p, err := Compute(in)
	require.NoError(t, err)
	require.InDelta(t, 3.3, p.TargetAtBudget, 1e-9)
	require.InDelta(t, 3.3, p.HerokuAtBudget, 1e-9)

	in.Database = Database{Cores: -1}
	_, err = Compute(in)
	require.ErrorContains(t, err, "database: cores, connections and pool must not be negative")
}
