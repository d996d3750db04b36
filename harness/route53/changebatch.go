package route53

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Change actions of a ChangeBatch.
const (
	actionCreate = "CREATE"
	actionDelete = "DELETE"
	actionUpsert = "UPSERT"
)

// isSupportedType reports whether the emulator stores and serves records of
// type t.
func isSupportedType(t string) bool {
	switch t {
	case "A", "AAAA", "CNAME", "TXT", "SOA", "NS":
		return true
	}
	return false
}

// modelTypes is the RRType enumeration of the API model, in its order: a
// type outside it is an InvalidInput, a type inside it but not served by the
// emulator is refused with its own message.
const modelTypes = "[SOA, A, TXT, NS, CNAME, MX, NAPTR, PTR, SRV, SPF, AAAA, CAA, DS]"

func isModelType(t string) bool {
	switch t {
	case "SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA", "DS":
		return true
	}
	return false
}

// changeBatch is a parsed and validated ChangeResourceRecordSets request.
type changeBatch struct {
	Comment string
	Changes []change
}

type change struct {
	Action string
	Set    rrset
}

// rrset is one resource record set as the emulator stores it.
type rrset struct {
	Name     string // canonical: lower case, trailing dot
	Type     string
	SetID    string // "" for a simple (non-weighted) set
	Weighted bool
	Weight   int64
	TTL      int64
	Values   []string
	// RRs are Values as DNS records, built once when the change is parsed
	// and shared read-only by every DNS answer.
	RRs []dns.RR
}

// describe names a set the way Route53's InvalidChangeBatch messages do:
// [name='x.example.com.', type='A', set-identifier='aws'].
func (s rrset) describe() string {
	if s.SetID == "" {
		return fmt.Sprintf("[name='%s', type='%s']", displayName(s.Name), s.Type)
	}
	return fmt.Sprintf("[name='%s', type='%s', set-identifier='%s']", displayName(s.Name), s.Type, s.SetID)
}

// The request body, decoded without regard to element order (encoding/xml
// matches children by name), so the SDK's alphabetical order and the CLI's
// model order both parse. Optional scalars are pointers so that an absent
// element and an empty one differ; numbers stay text so that a bad number
// gets Route53's message rather than a decoder error.
type changeRequestXML struct {
	XMLName xml.Name        `xml:"ChangeResourceRecordSetsRequest"`
	Batch   *changeBatchXML `xml:"ChangeBatch"`
	Unknown []unknownXML    `xml:",any"`
}

type changeBatchXML struct {
	Comment *string      `xml:"Comment"`
	Changes *changesXML  `xml:"Changes"`
	Unknown []unknownXML `xml:",any"`
}

type changesXML struct {
	Change  []changeXML  `xml:"Change"`
	Unknown []unknownXML `xml:",any"`
}

type changeXML struct {
	Action  *string      `xml:"Action"`
	Set     *rrsetInXML  `xml:"ResourceRecordSet"`
	Unknown []unknownXML `xml:",any"`
}

type rrsetInXML struct {
	Name            *string              `xml:"Name"`
	Type            *string              `xml:"Type"`
	SetIdentifier   *string              `xml:"SetIdentifier"`
	Weight          *string              `xml:"Weight"`
	TTL             *string              `xml:"TTL"`
	ResourceRecords *resourceRecordsInXM `xml:"ResourceRecords"`
	// Everything else a ResourceRecordSet may hold in the API model
	// (AliasTarget, Region, GeoLocation, Failover, MultiValueAnswer,
	// HealthCheckId, TrafficPolicyInstanceId, CidrRoutingConfig,
	// GeoProximityLocation) and anything unknown lands here.
	Unknown []unknownXML `xml:",any"`
}

type resourceRecordsInXM struct {
	ResourceRecord []struct {
		Value   *string      `xml:"Value"`
		Unknown []unknownXML `xml:",any"`
	} `xml:"ResourceRecord"`
	Unknown []unknownXML `xml:",any"`
}

type unknownXML struct {
	XMLName xml.Name
}

// isRoutingPolicy reports whether element is a ResourceRecordSet member of
// the API model that the emulator does not implement; a request using one is
// refused rather than silently served as a simple record.
func isRoutingPolicy(element string) bool {
	switch element {
	case "AliasTarget", "Region", "GeoLocation", "Failover", "MultiValueAnswer",
		"HealthCheckId", "TrafficPolicyInstanceId", "CidrRoutingConfig", "GeoProximityLocation":
		return true
	}
	return false
}

// parseChangeBatch decodes and validates a ChangeResourceRecordSets body.
// It checks everything that does not depend on the zone's current records,
// in the order Route53 reports problems: malformed XML and model constraints
// (InvalidInput), then the shape of each change (InvalidInput "Invalid
// request"), then names and record data (InvalidChangeBatch).
func parseChangeBatch(body []byte) (changeBatch, *apiError) {
	var req changeRequestXML
	dec := xml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return changeBatch{}, errInvalidInput("Invalid XML ; " + err.Error())
	}
	if e := unknownElement(req.Unknown); e != nil {
		return changeBatch{}, e
	}
	if req.Batch == nil {
		return changeBatch{}, errValidation([]string{"Value null at 'changeBatch' failed to satisfy constraint: Member must not be null"})
	}
	if e := unknownElement(req.Batch.Unknown); e != nil {
		return changeBatch{}, e
	}
	if req.Batch.Changes == nil {
		return changeBatch{}, errValidation([]string{"Value null at 'changeBatch.changes' failed to satisfy constraint: Member must not be null"})
	}
	if e := unknownElement(req.Batch.Changes.Unknown); e != nil {
		return changeBatch{}, e
	}
	in := req.Batch.Changes.Change
	if len(in) == 0 {
		return changeBatch{}, errValidation([]string{"Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or equal to 1"})
	}

	out := changeBatch{Changes: make([]change, len(in))}
	if req.Batch.Comment != nil {
		out.Comment = *req.Batch.Comment
		if len(out.Comment) > 256 {
			return changeBatch{}, errValidation([]string{"Value '" + out.Comment + "' at 'changeBatch.comment' failed to satisfy constraint: Member must have length less than or equal to 256"})
		}
	}

	// Model constraints, all of them reported at once.
	var violations []string
	for i, c := range in {
		at := fmt.Sprintf("changeBatch.changes.%d.member", i+1)
		if e := unknownElement(c.Unknown); e != nil {
			return changeBatch{}, e
		}
		switch {
		case c.Action == nil:
			violations = append(violations, nullAt(at+".action"))
		case *c.Action != actionCreate && *c.Action != actionDelete && *c.Action != actionUpsert:
			violations = append(violations, fmt.Sprintf("Value '%s' at '%s.action' failed to satisfy constraint: Member must satisfy enum value set: [UPSERT, DELETE, CREATE]", *c.Action, at))
		default:
			out.Changes[i].Action = *c.Action
		}
		if c.Set == nil {
			violations = append(violations, nullAt(at+".resourceRecordSet"))
			continue
		}
		v, e := parseSet(c.Set, at+".resourceRecordSet", &out.Changes[i].Set)
		if e != nil {
			return changeBatch{}, e
		}
		violations = append(violations, v...)
	}
	if len(violations) > 0 {
		return changeBatch{}, errValidation(violations)
	}

	// The shape of each change.
	for _, c := range out.Changes {
		if e := checkShape(c); e != nil {
			return changeBatch{}, e
		}
	}

	// Names and record data.
	var problems []string
	for i := range out.Changes {
		s := &out.Changes[i].Set
		name, err := canonicalName(s.Name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		s.Name = name
		rrs, err := recordRRs(*s)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		s.RRs = rrs
	}
	if len(problems) > 0 {
		return changeBatch{}, errInvalidChangeBatch(problems)
	}
	return out, nil
}

// parseSet fills dst from in and returns the model-constraint violations.
func parseSet(in *rrsetInXML, at string, dst *rrset) ([]string, *apiError) {
	for _, u := range in.Unknown {
		if isRoutingPolicy(u.XMLName.Local) {
			return nil, errInvalidInput(fmt.Sprintf("Invalid request: the Route53 emulator supports simple and weighted routing only; %s is not supported", u.XMLName.Local))
		}
	}
	if e := unknownElement(in.Unknown); e != nil {
		return nil, e
	}
	var v []string
	if in.Name == nil {
		v = append(v, nullAt(at+".name"))
	} else {
		dst.Name = *in.Name
		if len(*in.Name) > 1024 {
			v = append(v, fmt.Sprintf("Value '%s' at '%s.name' failed to satisfy constraint: Member must have length less than or equal to 1024", *in.Name, at))
		}
	}
	switch {
	case in.Type == nil:
		v = append(v, nullAt(at+".type"))
	case !isModelType(*in.Type):
		v = append(v, fmt.Sprintf("Value '%s' at '%s.type' failed to satisfy constraint: Member must satisfy enum value set: %s", *in.Type, at, modelTypes))
	default:
		dst.Type = *in.Type
	}
	if in.SetIdentifier != nil {
		dst.SetID = *in.SetIdentifier
		switch n := len(*in.SetIdentifier); {
		case n < 1:
			v = append(v, fmt.Sprintf("Value '' at '%s.setIdentifier' failed to satisfy constraint: Member must have length greater than or equal to 1", at))
		case n > 128:
			v = append(v, fmt.Sprintf("Value '%s' at '%s.setIdentifier' failed to satisfy constraint: Member must have length less than or equal to 128", *in.SetIdentifier, at))
		}
	}
	if in.Weight != nil {
		w, e := parseLong(*in.Weight)
		if e != nil {
			return nil, e
		}
		dst.Weighted, dst.Weight = true, w
		v = append(v, rangeViolations(*in.Weight, w, at+".weight", 0, 255)...)
	}
	if in.TTL != nil {
		t, e := parseLong(*in.TTL)
		if e != nil {
			return nil, e
		}
		dst.TTL = t
		v = append(v, rangeViolations(*in.TTL, t, at+".tTL", 0, 2147483647)...)
	} else {
		dst.TTL = -1
	}
	if in.ResourceRecords != nil {
		if e := unknownElement(in.ResourceRecords.Unknown); e != nil {
			return nil, e
		}
		if len(in.ResourceRecords.ResourceRecord) == 0 {
			v = append(v, fmt.Sprintf("Value '[]' at '%s.resourceRecords' failed to satisfy constraint: Member must have length greater than or equal to 1", at))
		}
		dst.Values = make([]string, 0, len(in.ResourceRecords.ResourceRecord))
		for j, rr := range in.ResourceRecords.ResourceRecord {
			if e := unknownElement(rr.Unknown); e != nil {
				return nil, e
			}
			if rr.Value == nil {
				v = append(v, nullAt(fmt.Sprintf("%s.resourceRecords.%d.member.value", at, j+1)))
				continue
			}
			if len(*rr.Value) > 4000 {
				v = append(v, fmt.Sprintf("Value '%s' at '%s.resourceRecords.%d.member.value' failed to satisfy constraint: Member must have length less than or equal to 4000", *rr.Value, at, j+1))
				continue
			}
			dst.Values = append(dst.Values, *rr.Value)
		}
	}
	return v, nil
}

// checkShape applies Route53's rules on which members a change must carry.
func checkShape(c change) *apiError {
	s := c.Set
	setID := "null"
	if s.SetID != "" {
		setID = s.SetID
	}
	where := fmt.Sprintf("in Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=%s]", c.Action, s.Name, s.Type, setID)
	if !isSupportedType(s.Type) {
		return errInvalidInput(fmt.Sprintf("Invalid request: the Route53 emulator serves record types A, AAAA, CNAME, TXT, SOA and NS; %s is not supported %s", s.Type, where))
	}
	if s.TTL < 0 || s.Values == nil {
		return errInvalidInput("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none " + where)
	}
	if s.SetID != "" && !s.Weighted {
		return errInvalidInput("Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found none " + where)
	}
	if s.SetID == "" && s.Weighted {
		return errInvalidInput("Invalid request: Missing field 'SetIdentifier' " + where)
	}
	if s.Weighted && (s.Type == "SOA" || s.Type == "NS") {
		return errInvalidInput(fmt.Sprintf("Invalid request: weighted routing is not supported for records of type %s %s", s.Type, where))
	}
	return nil
}

func nullAt(path string) string {
	return fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", path)
}

// parseLong parses an xsd:long the way Route53's XML schema check does.
func parseLong(s string) (int64, *apiError) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, errInvalidInput(fmt.Sprintf("Invalid XML ; cvc-datatype-valid.1.2.1: '%s' is not a valid value for 'integer'.", s))
	}
	return n, nil
}

func rangeViolations(text string, n int64, at string, lo, hi int64) []string {
	switch {
	case n < lo:
		return []string{fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", text, at, lo)}
	case n > hi:
		return []string{fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", text, at, hi)}
	}
	return nil
}

// unknownElement refuses an element the API model does not define there,
// with the message of Route53's XML schema check.
func unknownElement(u []unknownXML) *apiError {
	if len(u) == 0 {
		return nil
	}
	return errInvalidInput(fmt.Sprintf("Invalid XML ; cvc-complex-type.2.4.a: Invalid content was found starting with element '%s'.", u[0].XMLName.Local))
}
