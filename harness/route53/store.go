package route53

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// store holds the hosted zones, their record sets and the submitted
// changes. One lock guards everything: API calls take it to write, the DNS
// server to read.
type store struct {
	now   func() time.Time
	delay time.Duration

	mu         sync.RWMutex
	ids        *rand.Rand // zone, change and name-server ids; seeded
	zones      []*zone    // in creation order
	changes    map[string]changeRecord
	callerRefs map[string]bool
}

// zone is one hosted zone. records maps a name and type to its record sets:
// one simple set, or weighted sets sorted by set identifier. A change batch
// replaces the whole map, so a reader holding the read lock sees either all
// of a batch or none of it.
type zone struct {
	ID          string // without the "/hostedzone/" prefix
	Name        string // canonical
	CallerRef   string
	Comment     string
	NameServers []string
	records     map[nameType][]rrset
}

type nameType struct{ name, typ string }

type changeRecord struct {
	submitted time.Time
	comment   string
}

// changeInfo is the status of a submitted change.
type changeInfo struct {
	ID        string // without the "/change/" prefix
	Status    string // PENDING or INSYNC
	Submitted time.Time
	Comment   string
}

// zoneInfo is a copy of a zone's attributes, safe to use without the lock.
type zoneInfo struct {
	ID, Name, CallerRef, Comment string
	NameServers                  []string
	SetCount                     int64
}

// Route53's defaults for the records it creates with a zone.
const (
	apexNSTTL  = 172800
	apexSOATTL = 900
	soaTail    = "awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"
)

func newStore(seed uint64, now func() time.Time, delay time.Duration) *store {
	return &store{
		now:        now,
		delay:      delay,
		ids:        rand.New(rand.NewPCG(seed, 0x5a6f6e6549447321)),
		changes:    map[string]changeRecord{},
		callerRefs: map[string]bool{},
	}
}

// newID returns prefix followed by 20 characters of Route53's id alphabet.
// The caller holds s.mu.
func (s *store) newID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 0, 21)
	b = append(b, prefix...)
	for len(b) < 21 {
		b = append(b, alphabet[s.ids.IntN(len(alphabet))])
	}
	return string(b)
}

// newChange records a change submitted now. The caller holds s.mu.
func (s *store) newChange(comment string) changeInfo {
	id := s.newID("C")
	at := s.now().UTC()
	s.changes[id] = changeRecord{submitted: at, comment: comment}
	// A change is always PENDING in the response that submits it.
	return changeInfo{ID: id, Status: "PENDING", Submitted: at, Comment: comment}
}

func (s *store) status(c changeRecord) string {
	if s.now().Before(c.submitted.Add(s.delay)) {
		return "PENDING"
	}
	return "INSYNC"
}

// zoneByID returns the zone or nil. The caller holds s.mu.
func (s *store) zoneByID(id string) *zone {
	for _, z := range s.zones {
		if z.ID == id {
			return z
		}
	}
	return nil
}

func (z *zone) info() zoneInfo {
	var n int64
	for _, sets := range z.records {
		n += int64(len(sets))
	}
	return zoneInfo{ID: z.ID, Name: z.Name, CallerRef: z.CallerRef, Comment: z.Comment,
		NameServers: slices.Clone(z.NameServers), SetCount: n}
}

func (s *store) createZone(rawName, callerRef, comment string) (zoneInfo, changeInfo, *apiError) {
	name, err := canonicalName(rawName)
	if err != nil {
		return zoneInfo{}, changeInfo{}, errInvalidDomainName(err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.callerRefs[callerRef] {
		return zoneInfo{}, changeInfo{}, errHostedZoneAlreadyExists(callerRef)
	}
	z := &zone{ID: s.newID("Z"), Name: name, CallerRef: callerRef, Comment: comment, records: map[nameType][]rrset{}}
	tlds := [4]string{"com", "net", "org", "co.uk"}
	for _, tld := range tlds {
		z.NameServers = append(z.NameServers, fmt.Sprintf("ns-%d.awsdns-%02d.%s", s.ids.IntN(2048), s.ids.IntN(64), tld))
	}
	for _, set := range []rrset{
		{Name: name, Type: "NS", TTL: apexNSTTL, Values: dotted(z.NameServers)},
		{Name: name, Type: "SOA", TTL: apexSOATTL, Values: []string{dotted(z.NameServers)[0] + " " + soaTail}},
	} {
		rrs, err := recordRRs(set)
		if err != nil {
			return zoneInfo{}, changeInfo{}, errInvalidDomainName(err.Error())
		}
		set.RRs = rrs
		z.records[nameType{set.Name, set.Type}] = []rrset{set}
	}
	s.callerRefs[callerRef] = true
	s.zones = append(s.zones, z)
	return z.info(), s.newChange(""), nil
}

func dotted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + "."
	}
	return out
}

func (s *store) getZone(id string) (zoneInfo, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	z := s.zoneByID(id)
	if z == nil {
		return zoneInfo{}, errNoSuchHostedZone(id)
	}
	return z.info(), nil
}

// listZones returns every zone in creation order.
func (s *store) listZones() []zoneInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]zoneInfo, len(s.zones))
	for i, z := range s.zones {
		out[i] = z.info()
	}
	return out
}

func (s *store) deleteZone(id string) (changeInfo, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByID(id)
	if z == nil {
		return changeInfo{}, errNoSuchHostedZone(id)
	}
	for k := range z.records {
		if k.name != z.Name || (k.typ != "SOA" && k.typ != "NS") {
			return changeInfo{}, errHostedZoneNotEmpty()
		}
	}
	s.zones = slices.DeleteFunc(s.zones, func(x *zone) bool { return x == z })
	return s.newChange(""), nil
}

func (s *store) getChange(id string) (changeInfo, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.changes[id]
	if !ok {
		return changeInfo{}, errNoSuchChange(id)
	}
	return changeInfo{ID: id, Status: s.status(c), Submitted: c.submitted, Comment: c.comment}, nil
}

// listSets returns the zone's record sets in ListResourceRecordSets order:
// name with labels reversed, then type, then set identifier.
func (s *store) listSets(id string) ([]rrset, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	z := s.zoneByID(id)
	if z == nil {
		return nil, errNoSuchHostedZone(id)
	}
	var out []rrset
	for _, sets := range z.records {
		out = append(out, sets...)
	}
	slices.SortFunc(out, compareSets)
	return out, nil
}

func compareSets(a, b rrset) int {
	if c := compareNames(a.Name, b.Name); c != 0 {
		return c
	}
	if c := strings.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	return strings.Compare(a.SetID, b.SetID)
}

// change applies a batch atomically: every change is checked against the
// records as the changes before it in the batch left them, and the batch
// takes effect only if all of them succeed.
func (s *store) change(id string, b changeBatch) (changeInfo, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByID(id)
	if z == nil {
		return changeInfo{}, errNoSuchHostedZone(id)
	}
	next := make(map[nameType][]rrset, len(z.records)+len(b.Changes))
	for k, v := range z.records {
		next[k] = v // slices are replaced, never modified in place
	}
	var problems []string
	for _, c := range b.Changes {
		if msg := applyChange(next, z.Name, c); msg != "" {
			problems = append(problems, msg)
		}
	}
	if len(problems) > 0 {
		return changeInfo{}, errInvalidChangeBatch(problems)
	}
	z.records = next
	return s.newChange(b.Comment), nil
}

// applyChange applies one change to records and returns Route53's message
// when it cannot be applied.
func applyChange(records map[nameType][]rrset, zoneName string, c change) string {
	set := c.Set
	if !inZone(set.Name, zoneName) {
		return fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", displayName(set.Name), displayName(zoneName))
	}
	key := nameType{set.Name, set.Type}
	group := records[key]
	idx := slices.IndexFunc(group, func(x rrset) bool { return x.SetID == set.SetID })
	apex := set.Name == zoneName

	switch c.Action {
	case actionDelete:
		if idx < 0 {
			return fmt.Sprintf("Tried to delete resource record set %s but it was not found", set.describe())
		}
		if !sameContent(group[idx], set) {
			return fmt.Sprintf("Tried to delete resource record set %s but the values provided do not match the current values", set.describe())
		}
		if apex && set.Type == "SOA" {
			return "A HostedZone must contain exactly one SOA record."
		}
		if apex && set.Type == "NS" {
			return "A HostedZone must contain at least one NS record for the zone itself."
		}
		rest := slices.Delete(slices.Clone(group), idx, idx+1)
		if len(rest) == 0 {
			delete(records, key)
		} else {
			records[key] = rest
		}
		return ""
	case actionCreate:
		if idx >= 0 {
			return fmt.Sprintf("Tried to create resource record set %s but it already exists", set.describe())
		}
	}
	if idx >= 0 { // UPSERT of an existing set
		next := slices.Clone(group)
		next[idx] = set
		records[key] = next
		return ""
	}
	if msg := conflict(records, zoneName, group, set); msg != "" {
		return msg
	}
	next := append(slices.Clone(group), set)
	slices.SortFunc(next, func(a, b rrset) int { return cmp.Compare(a.SetID, b.SetID) })
	records[key] = next
	return ""
}

// conflict returns why set cannot join the zone next to the sets already
// there, or "".
func conflict(records map[nameType][]rrset, zoneName string, group []rrset, set rrset) string {
	name := displayName(set.Name)
	if len(group) > 0 && group[0].Weighted != set.Weighted {
		if set.Weighted {
			return fmt.Sprintf("RRSet with DNS name %s, type %s, SetIdentifier %s cannot be created as a non-weighted set exists with the same name and type.", name, set.Type, set.SetID)
		}
		return fmt.Sprintf("RRSet with DNS name %s, type %s cannot be created as weighted sets exist with the same name and type.", name, set.Type)
	}
	if set.Type == "SOA" && set.Name != zoneName {
		return fmt.Sprintf("RRSet of type SOA with DNS name %s is not permitted because SOA records are only permitted at the apex of zone %s", name, displayName(zoneName))
	}
	if set.Type == "CNAME" {
		if set.Name == zoneName {
			return fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted at apex in zone %s", name, displayName(zoneName))
		}
		for k := range records {
			if k.name == set.Name && k.typ != "CNAME" {
				return fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted as it conflicts with other records with the same DNS name in zone %s", name, displayName(zoneName))
			}
		}
		return ""
	}
	if _, ok := records[nameType{set.Name, "CNAME"}]; ok {
		return fmt.Sprintf("RRSet of type %s with DNS name %s is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists in zone %s", set.Type, name, displayName(zoneName))
	}
	return ""
}

// sameContent reports whether a DELETE's set matches the stored one: same
// TTL, weight and values (in any order), as Route53 requires.
func sameContent(stored, given rrset) bool {
	if stored.TTL != given.TTL || stored.Weighted != given.Weighted || stored.Weight != given.Weight {
		return false
	}
	if len(stored.Values) != len(given.Values) {
		return false
	}
	a, b := slices.Clone(stored.Values), slices.Clone(given.Values)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// withZones runs fn with the zones under the read lock; fn must not keep
// references to the zones' record maps after it returns.
func (s *store) withZones(fn func(zones []*zone)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.zones)
}
