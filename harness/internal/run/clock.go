package run

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/cutover/cutover/harness/internal/dnsmodel"
)

// virtualEpoch is where the DNS model's clock starts.
var virtualEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// stageClock drives the client DNS model on the plan's own time: stage k
// starts at the sum of the planned holds before it, whatever the wall-clock
// gaps between stages (weight changes, INSYNC waits) were. Resolver caches
// then expire at the same requests in every run of a scenario, so the same
// seed gives the same routing decisions.
type stageClock struct {
	model *dnsmodel.Model

	mu        sync.Mutex
	wallStart time.Time
	virtStart time.Time
}

func newStageClock(m *dnsmodel.Model) *stageClock {
	return &stageClock{model: m, wallStart: time.Now(), virtStart: virtualEpoch}
}

// begin starts a stage that begins at plan offset at (the planned holds
// before it), now, and returns the wall-clock start: the replayer's stage
// must start at that same instant, so a request's intended time maps to
// the same virtual time in every run.
func (c *stageClock) begin(at time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wallStart, c.virtStart = time.Now(), virtualEpoch.Add(at)
	return c.wallStart
}

// now is the current virtual time.
func (c *stageClock) now() time.Time { return c.virtual(time.Now()) }

func (c *stageClock) virtual(wall time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.virtStart.Add(wall.Sub(c.wallStart))
}

// Address implements the replayer's Resolver on virtual time.
func (c *stageClock) Address(ctx context.Context, client string, now time.Time) (netip.Addr, error) {
	return c.model.Address(ctx, client, c.virtual(now))
}
