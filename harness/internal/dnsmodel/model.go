// Package dnsmodel models how a population of real clients (checkout
// terminals, partner servers) reaches a service behind weighted DNS records.
// Real clients do not resolve per request: each has a resolver cache that
// honours the TTL, or ignores it and keeps its first answer (long-lived JVM
// caches), and HTTP keep-alive connections that keep going to the old
// address after the weights change. The model answers, for each request,
// the address it goes to, and reports per stage and time window the
// configured weights against the split actually observed.
//
// The model runs on virtual time passed in by the caller (the replayer's
// intended send times), never on the wall clock, so runs are reproducible.
package dnsmodel

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Answer is one resolution of the service name: the address a client gets
// and how long it may cache it.
type Answer struct {
	Addr netip.Addr
	TTL  time.Duration
}

// Source resolves the service name for a client whose resolver cache has
// no valid answer. Implementations: DNSSource (the weighted DNS server) and
// Route53Source (record sets read from the Route53 API, weighted choice done
// locally).
//
// pick is a uniform draw that depends only on the seed, the client and how
// many times it resolved before: a source that makes the weighted choice
// itself uses it, so the same client gets the same answers in every run
// whatever order concurrent clients resolve in. A DNS server makes its own
// choice and ignores it.
type Source interface {
	Resolve(ctx context.Context, now time.Time, pick uint64) (Answer, error)
}

// Config shapes the client population.
type Config struct {
	// Clients, when positive, is the number of virtual clients and client
	// ids are spread over them by hash (bounded memory, however many ids a
	// trace holds). Zero gives every distinct client id its own virtual
	// client.
	Clients int
	// TTLIgnoringShare (0–1) is the share of clients that keep their first
	// answer forever.
	TTLIgnoringShare float64
	// KeepAlive is how long a client reuses one connection (and so one
	// address) before opening a new one; zero opens a connection per
	// request.
	KeepAlive time.Duration
	// IdleTimeout closes a connection unused this long; zero never does.
	IdleTimeout time.Duration
	// Targets names the platform behind each address; addresses not listed
	// are reported as "unknown".
	Targets map[netip.Addr]string
	// Window is the reporting interval within a stage; default 10s.
	Window time.Duration
	// SettleTolerance is how many percentage points from the configured
	// weights a window may be and still count as settled; default 5.
	SettleTolerance float64
}

// Unknown is the platform name reported for addresses not in
// Config.Targets.
const Unknown = "unknown"

// Model is a population of virtual clients. It is safe for concurrent use.
type Model struct {
	cfg     Config
	src     Source
	seed    uint64
	ignore  uint64   // a client ignores TTLs when its hash is below ignore (per-id mode)
	clients []client // hash mode

	byIDMu sync.RWMutex
	byID   map[string]*client // per-id mode
	// targets and names index the platforms: names[i] is the platform of
	// targets[i]; names[len(targets)] is Unknown.
	targets []netip.Addr
	names   []string

	resolutions atomic.Int64
	connections atomic.Int64
	errors      atomic.Int64

	mu     sync.Mutex // guards stages
	stages []*stage
}

// client is one virtual client: its resolver cache and its connection.
type client struct {
	mu         sync.Mutex
	ignoresTTL bool
	// key identifies the client in its resolutions' draws; draws counts them.
	key   uint64
	draws uint64

	cached    bool
	addr      netip.Addr
	target    int
	expiresAt time.Time

	connOpen   bool
	connAddr   netip.Addr
	connTarget int
	openedAt   time.Time
	lastUsed   time.Time

	_ [32]byte // keep neighbouring clients' locks off one cache line
}

// New builds a model of cfg.Clients clients resolving through src; seed
// picks which clients ignore TTLs.
func New(cfg Config, src Source, seed uint64) (*Model, error) {
	if cfg.Window == 0 {
		cfg.Window = 10 * time.Second
	}
	if cfg.SettleTolerance == 0 {
		cfg.SettleTolerance = 5
	}
	switch {
	case src == nil:
		return nil, errors.New("dns model: no source")
	case cfg.Clients < 0:
		return nil, fmt.Errorf("dns model: clients %d < 0", cfg.Clients)
	case cfg.TTLIgnoringShare < 0 || cfg.TTLIgnoringShare > 1 || math.IsNaN(cfg.TTLIgnoringShare):
		return nil, fmt.Errorf("dns model: ttl-ignoring share %v is not between 0 and 1", cfg.TTLIgnoringShare)
	case cfg.KeepAlive < 0 || cfg.IdleTimeout < 0 || cfg.Window < 0:
		return nil, errors.New("dns model: keep-alive, idle timeout and window must not be negative")
	}
	m := &Model{cfg: cfg, src: src, seed: seed, clients: make([]client, cfg.Clients), byID: map[string]*client{}}
	for i := range m.clients {
		m.clients[i].key = mix(seed ^ uint64(i+1))
	}
	for a, name := range cfg.Targets {
		m.targets = append(m.targets, a)
		m.names = append(m.names, name)
	}
	sortTargets(m.targets, m.names)
	m.names = append(m.names, Unknown)

	// In hash mode exactly round(share × clients) clients ignore TTLs,
	// chosen by seed; in per-id mode each id does with probability share,
	// decided by its seeded hash.
	ignoring := int(math.Round(cfg.TTLIgnoringShare * float64(cfg.Clients)))
	perm := rand.New(rand.NewPCG(seed, 0x74746c69676e6f72)).Perm(cfg.Clients)
	for _, i := range perm[:ignoring] {
		m.clients[i].ignoresTTL = true
	}
	if cfg.TTLIgnoringShare >= 1 {
		m.ignore = math.MaxUint64
	} else {
		m.ignore = uint64(cfg.TTLIgnoringShare * 0x1p64)
	}
	return m, nil
}

func sortTargets(addrs []netip.Addr, names []string) {
	for i := 1; i < len(addrs); i++ {
		for j := i; j > 0 && addrs[j].Less(addrs[j-1]); j-- {
			addrs[j], addrs[j-1] = addrs[j-1], addrs[j]
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
}

// clientFor returns the virtual client of a client id.
func (m *Model) clientFor(id string) *client {
	h := m.hash(id)
	if len(m.clients) > 0 {
		return &m.clients[h%uint64(len(m.clients))]
	}
	m.byIDMu.RLock()
	c := m.byID[id]
	m.byIDMu.RUnlock()
	if c != nil {
		return c
	}
	m.byIDMu.Lock()
	defer m.byIDMu.Unlock()
	if c = m.byID[id]; c == nil {
		// Mix the hash again so the TTL decision is independent of any
		// use of the plain hash.
		c = &client{key: h, ignoresTTL: mix(h) < m.ignore || m.ignore == math.MaxUint64}
		m.byID[id] = c
	}
	return c
}

// Unit names the virtual client a client id belongs to: ids that share a
// virtual client (Config.Clients > 0 spreads them over a fixed number)
// share its resolver cache and connection, so a run split into shards must
// keep them in one shard (replay.Plan.Shard). It depends only on the seed,
// the configuration and the id.
func (m *Model) Unit(clientID string) uint64 {
	h := m.hash(clientID)
	if len(m.clients) > 0 {
		return h % uint64(len(m.clients))
	}
	return h
}

// hash is FNV-1a of id, seeded.
func (m *Model) hash(id string) uint64 {
	h := uint64(14695981039346656037) ^ m.seed
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// mix is SplitMix64's finalizer: it spreads FNV's output over all 64 bits.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// PlatformOf returns the platform name Config.Targets gives addr, or
// Unknown.
func (m *Model) PlatformOf(addr netip.Addr) string {
	return m.names[m.targetIndex(addr)]
}

func (m *Model) targetIndex(a netip.Addr) int {
	for i, t := range m.targets {
		if t == a {
			return i
		}
	}
	return len(m.targets)
}

// Address returns the address the next request of clientID, sent at now,
// goes to: the address of its open keep-alive connection if it has one,
// else its resolver's cached answer, else a fresh answer from the source.
// The request is counted in the report.
func (m *Model) Address(ctx context.Context, clientID string, now time.Time) (netip.Addr, error) {
	c := m.clientFor(clientID)
	c.mu.Lock()
	addr, target, err := m.route(ctx, c, now)
	c.mu.Unlock()
	if err != nil {
		m.errors.Add(1)
		return netip.Addr{}, err
	}
	m.observe(now, target)
	return addr, nil
}

// route decides where c's request goes; c.mu is held.
func (m *Model) route(ctx context.Context, c *client, now time.Time) (netip.Addr, int, error) {
	if c.connOpen && m.connAlive(c, now) {
		c.lastUsed = now
		return c.connAddr, c.connTarget, nil
	}
	c.connOpen = false
	if !c.cached || (!c.ignoresTTL && !now.Before(c.expiresAt)) {
		c.draws++
		ans, err := m.src.Resolve(ctx, now, mix(c.key^mix(c.draws)))
		if err != nil {
			return netip.Addr{}, 0, fmt.Errorf("resolve for a virtual client: %w", err)
		}
		m.resolutions.Add(1)
		c.cached, c.addr, c.target, c.expiresAt = true, ans.Addr, m.targetIndex(ans.Addr), now.Add(ans.TTL)
	}
	if m.cfg.KeepAlive > 0 {
		m.connections.Add(1)
		c.connOpen, c.connAddr, c.connTarget, c.openedAt, c.lastUsed = true, c.addr, c.target, now, now
	}
	return c.addr, c.target, nil
}

func (m *Model) connAlive(c *client, now time.Time) bool {
	if now.Sub(c.openedAt) >= m.cfg.KeepAlive {
		return false
	}
	return m.cfg.IdleTimeout == 0 || now.Sub(c.lastUsed) < m.cfg.IdleTimeout
}

// StageStarted tells the model a stage starts, its weights set: a source
// that caches what it read (Route53Source) reads again.
func (m *Model) StageStarted() {
	if inv, ok := m.src.(interface{ Invalidate() }); ok {
		inv.Invalidate()
	}
}

// SetConfigured marks the start of a stage at now: from then on requests
// are reported against weights (platform name → Route53 weight).
func (m *Model) SetConfigured(now time.Time, stageName string, weights map[string]int) {
	st := &stage{name: stageName, start: now, configured: percentages(weights), stride: len(m.names)}
	st.counts = make([]int64, st.stride)
	m.mu.Lock()
	defer m.mu.Unlock()
	i := len(m.stages)
	for i > 0 && now.Before(m.stages[i-1].start) {
		i--
	}
	m.stages = slices.Insert(m.stages, i, st)
}

// percentages turns Route53 weights into shares in percent; when every
// weight is 0 the records are chosen with equal probability, as Route53
// does.
func percentages(weights map[string]int) map[string]float64 {
	out := make(map[string]float64, len(weights))
	total := 0
	for _, w := range weights {
		total += max(w, 0)
	}
	for name, w := range weights {
		if total == 0 {
			out[name] = 100 / float64(len(weights))
			continue
		}
		out[name] = 100 * float64(max(w, 0)) / float64(total)
	}
	return out
}

// observe counts one request to target at now in its stage and window.
func (m *Model) observe(now time.Time, target int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.stageAt(now)
	st.counts[target]++
	w := 0
	if d := now.Sub(st.start); d > 0 {
		w = int(d / m.cfg.Window)
	}
	for len(st.windows) <= w*st.stride {
		st.windows = append(st.windows, make([]int64, st.stride)...)
	}
	st.windows[w*st.stride+target]++
}

// stageAt returns the stage in effect at now; requests before the first
// SetConfigured go to an unnamed stage without configured weights. m.mu is
// held.
func (m *Model) stageAt(now time.Time) *stage {
	for i := len(m.stages) - 1; i >= 0; i-- {
		if !now.Before(m.stages[i].start) {
			return m.stages[i]
		}
	}
	if len(m.stages) == 0 || m.stages[0].name != "" || m.stages[0].configured != nil {
		st := &stage{start: now, stride: len(m.names)}
		st.counts = make([]int64, st.stride)
		m.stages = append([]*stage{st}, m.stages...)
		return st
	}
	return m.stages[0] // a request a little before the unnamed stage began
}
