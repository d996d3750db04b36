package route53

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// maxBodyBytes bounds a request body; Route53 itself refuses bodies over
// 32,000 characters of record data, so this is generous.
const maxBodyBytes = 1 << 20

// api serves Route53's REST/XML API (version 2013-04-01) over the store.
type api struct {
	store    *store
	sig      signatureCheck
	seed     uint64
	requests atomic.Uint64
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := a.requests.Add(1)
	reqID := fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(a.seed), n)
	w.Header().Set("x-amzn-RequestId", reqID)

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, reqID, errInvalidInput(fmt.Sprintf("The request body is larger than %d bytes", maxBodyBytes)))
			return
		}
		writeError(w, reqID, errInvalidInput("read request body: "+err.Error()))
		return
	}
	if e := a.sig.check(r.Context(), r, body); e != nil {
		writeError(w, reqID, e)
		return
	}
	if e := a.route(w, r, body); e != nil {
		writeError(w, reqID, e)
	}
}

// route dispatches on method and path. The AWS CLI posts changes to
// ".../rrset/" and the Go SDK to ".../rrset": trailing slashes are ignored.
// Ids may carry their "/hostedzone/" or "/change/" prefix, escaped.
func (a *api) route(w http.ResponseWriter, r *http.Request, body []byte) *apiError {
	var seg []string
	for _, s := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			return errInvalidInput("bad path segment " + s)
		}
		seg = append(seg, u)
	}
	if len(seg) < 2 || seg[0] != "2013-04-01" {
		return errUnknownOperation(r.Method, r.URL.Path)
	}
	q := r.URL.Query()
	switch {
	case len(seg) == 2 && seg[1] == "hostedzone" && r.Method == http.MethodPost:
		return a.createHostedZone(w, body)
	case len(seg) == 2 && seg[1] == "hostedzone" && r.Method == http.MethodGet:
		return a.listHostedZones(w, q)
	case len(seg) == 2 && seg[1] == "hostedzonesbyname" && r.Method == http.MethodGet:
		return a.listHostedZonesByName(w, q)
	case len(seg) == 3 && seg[1] == "hostedzone" && r.Method == http.MethodGet:
		return a.getHostedZone(w, zoneID(seg[2]))
	case len(seg) == 3 && seg[1] == "hostedzone" && r.Method == http.MethodDelete:
		return a.deleteHostedZone(w, zoneID(seg[2]))
	case len(seg) == 4 && seg[1] == "hostedzone" && seg[3] == "rrset" && r.Method == http.MethodPost:
		return a.changeResourceRecordSets(w, zoneID(seg[2]), body)
	case len(seg) == 4 && seg[1] == "hostedzone" && seg[3] == "rrset" && r.Method == http.MethodGet:
		return a.listResourceRecordSets(w, zoneID(seg[2]), q)
	case len(seg) == 3 && seg[1] == "change" && r.Method == http.MethodGet:
		return a.getChange(w, strings.TrimPrefix(seg[2], "/change/"))
	}
	return errUnknownOperation(r.Method, r.URL.Path)
}

func zoneID(s string) string { return strings.TrimPrefix(s, "/hostedzone/") }

type createHostedZoneRequestXML struct {
	XMLName          xml.Name `xml:"CreateHostedZoneRequest"`
	Name             *string  `xml:"Name"`
	CallerReference  *string  `xml:"CallerReference"`
	HostedZoneConfig *struct {
		Comment     *string      `xml:"Comment"`
		PrivateZone *string      `xml:"PrivateZone"`
		Unknown     []unknownXML `xml:",any"`
	} `xml:"HostedZoneConfig"`
	VPC             *unknownXML  `xml:"VPC"`
	DelegationSetID *string      `xml:"DelegationSetId"`
	Unknown         []unknownXML `xml:",any"`
}

func (a *api) createHostedZone(w http.ResponseWriter, body []byte) *apiError {
	var req createHostedZoneRequestXML
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&req); err != nil {
		return errInvalidInput("Invalid XML ; " + err.Error())
	}
	if e := unknownElement(req.Unknown); e != nil {
		return e
	}
	var violations []string
	if req.Name == nil {
		violations = append(violations, nullAt("name"))
	}
	if req.CallerReference == nil {
		violations = append(violations, nullAt("callerReference"))
	} else if n := len(*req.CallerReference); n < 1 || n > 128 {
		violations = append(violations, fmt.Sprintf("Value '%s' at 'callerReference' failed to satisfy constraint: Member must have length between 1 and 128", *req.CallerReference))
	}
	if len(violations) > 0 {
		return errValidation(violations)
	}
	if req.VPC != nil || req.DelegationSetID != nil {
		return errInvalidInput("The Route53 emulator serves public hosted zones without reusable delegation sets only")
	}
	var comment string
	if c := req.HostedZoneConfig; c != nil {
		if e := unknownElement(c.Unknown); e != nil {
			return e
		}
		if c.Comment != nil {
			comment = *c.Comment
		}
		if c.PrivateZone != nil && strings.TrimSpace(*c.PrivateZone) == "true" {
			return errInvalidInput("The Route53 emulator serves public hosted zones only")
		}
	}
	z, ci, e := a.store.createZone(*req.Name, *req.CallerReference, comment)
	if e != nil {
		return e
	}
	w.Header().Set("Location", "https://route53.amazonaws.com/2013-04-01/hostedzone/"+z.ID)
	writeXML(w, http.StatusCreated, createHostedZoneResponse{
		HostedZone:    hostedZoneOut(z),
		ChangeInfo:    changeInfoOut(ci),
		DelegationSet: delegationSetXML{NameServers: z.NameServers},
	})
	return nil
}

func (a *api) getHostedZone(w http.ResponseWriter, id string) *apiError {
	z, e := a.store.getZone(id)
	if e != nil {
		return e
	}
	writeXML(w, http.StatusOK, getHostedZoneResponse{
		HostedZone:    hostedZoneOut(z),
		DelegationSet: delegationSetXML{NameServers: z.NameServers},
	})
	return nil
}

func (a *api) deleteHostedZone(w http.ResponseWriter, id string) *apiError {
	ci, e := a.store.deleteZone(id)
	if e != nil {
		return e
	}
	writeXML(w, http.StatusOK, deleteHostedZoneResponse{ChangeInfo: changeInfoOut(ci)})
	return nil
}

// listHostedZones pages through the zones in creation order; marker is the
// id of the first zone of the page.
func (a *api) listHostedZones(w http.ResponseWriter, q url.Values) *apiError {
	if q.Get("delegationsetid") != "" {
		return errInvalidInput("The Route53 emulator has no reusable delegation sets")
	}
	maxItems, e := parseMaxItems(q.Get("maxitems"), 100)
	if e != nil {
		return e
	}
	zones := a.store.listZones()
	start := 0
	marker := q.Get("marker")
	if marker != "" {
		start = -1
		for i, z := range zones {
			if z.ID == zoneID(marker) {
				start = i
				break
			}
		}
		if start < 0 {
			return errInvalidInput("Invalid marker: no hosted zone has the ID " + marker)
		}
	}
	end := min(start+maxItems, len(zones))
	resp := listHostedZonesResponse{Marker: marker, MaxItems: strconv.Itoa(maxItems)}
	for _, z := range zones[start:end] {
		resp.HostedZones.HostedZone = append(resp.HostedZones.HostedZone, hostedZoneOut(z))
	}
	if end < len(zones) {
		resp.IsTruncated = true
		resp.NextMarker = zones[end].ID
	}
	writeXML(w, http.StatusOK, resp)
	return nil
}

// listHostedZonesByName pages through the zones ordered by name (labels
// reversed) and then id, starting at dnsname (and hostedzoneid).
func (a *api) listHostedZonesByName(w http.ResponseWriter, q url.Values) *apiError {
	maxItems, e := parseMaxItems(q.Get("maxitems"), 100)
	if e != nil {
		return e
	}
	dnsName, startID := q.Get("dnsname"), zoneID(q.Get("hostedzoneid"))
	if startID != "" && dnsName == "" {
		return errInvalidInput("The hostedzoneid parameter requires the dnsname parameter")
	}
	var startName string
	if dnsName != "" {
		n, err := canonicalName(dnsName)
		if err != nil {
			return errInvalidDomainName(err.Error())
		}
		startName = n
	}
	zones := a.store.listZones()
	sortZonesByName(zones)
	start := 0
	if startName != "" {
		start = len(zones)
		for i, z := range zones {
			c := compareNames(z.Name, startName)
			if c > 0 || c == 0 && z.ID >= startID {
				start = i
				break
			}
		}
	}
	end := min(start+maxItems, len(zones))
	resp := listHostedZonesByNameResponse{MaxItems: strconv.Itoa(maxItems), HostedZoneID: startID}
	if dnsName != "" {
		resp.DNSName = displayName(startName)
	}
	for _, z := range zones[start:end] {
		resp.HostedZones.HostedZone = append(resp.HostedZones.HostedZone, hostedZoneOut(z))
	}
	if end < len(zones) {
		resp.IsTruncated = true
		resp.NextDNSName = displayName(zones[end].Name)
		resp.NextHostedZoneID = zones[end].ID
	}
	writeXML(w, http.StatusOK, resp)
	return nil
}

func sortZonesByName(zones []zoneInfo) {
	slices.SortFunc(zones, func(a, b zoneInfo) int {
		if c := compareNames(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func (a *api) changeResourceRecordSets(w http.ResponseWriter, id string, body []byte) *apiError {
	if _, e := a.store.getZone(id); e != nil {
		return e // an unknown zone is reported before a bad batch, as Route53 does
	}
	batch, e := parseChangeBatch(body)
	if e != nil {
		return e
	}
	ci, e := a.store.change(id, batch)
	if e != nil {
		return e
	}
	writeXML(w, http.StatusOK, changeResourceRecordSetsResponse{ChangeInfo: changeInfoOut(ci)})
	return nil
}

// listResourceRecordSets pages through a zone's record sets; a page starts
// at the first set not before (name, type, identifier).
func (a *api) listResourceRecordSets(w http.ResponseWriter, id string, q url.Values) *apiError {
	maxItems, e := parseMaxItems(q.Get("maxitems"), 300)
	if e != nil {
		return e
	}
	startName, startType, startID := q.Get("name"), q.Get("type"), q.Get("identifier")
	switch {
	case startType != "" && startName == "":
		return errInvalidInput("The input is not valid: type requires name")
	case startID != "" && startType == "":
		return errInvalidInput("The input is not valid: identifier requires type")
	case startType != "" && !isModelType(startType):
		return errValidation([]string{fmt.Sprintf("Value '%s' at 'startRecordType' failed to satisfy constraint: Member must satisfy enum value set: %s", startType, modelTypes)})
	}
	sets, e := a.store.listSets(id)
	if e != nil {
		return e
	}
	start := 0
	if startName != "" {
		n, err := canonicalName(startName)
		if err != nil {
			return errInvalidInput(err.Error())
		}
		from := rrset{Name: n, Type: startType, SetID: startID}
		start = len(sets)
		for i, s := range sets {
			if compareSets(s, from) >= 0 {
				start = i
				break
			}
		}
	}
	end := min(start+maxItems, len(sets))
	resp := listResourceRecordSetsResponse{MaxItems: strconv.Itoa(maxItems)}
	resp.ResourceRecordSets.ResourceRecordSet = make([]rrsetOutXML, 0, end-start)
	for _, s := range sets[start:end] {
		resp.ResourceRecordSets.ResourceRecordSet = append(resp.ResourceRecordSets.ResourceRecordSet, rrsetOut(s))
	}
	if end < len(sets) {
		next := sets[end]
		resp.IsTruncated = true
		resp.NextRecordName = displayName(next.Name)
		resp.NextRecordType = next.Type
		resp.NextRecordIdentifier = next.SetID
	}
	writeXML(w, http.StatusOK, resp)
	return nil
}

func (a *api) getChange(w http.ResponseWriter, id string) *apiError {
	ci, e := a.store.getChange(id)
	if e != nil {
		return e
	}
	writeXML(w, http.StatusOK, getChangeResponse{ChangeInfo: changeInfoOut(ci)})
	return nil
}

// parseMaxItems reads a maxitems parameter; values above the operation's
// limit are cut to it, as Route53 does.
func parseMaxItems(s string, limit int) (int, *apiError) {
	if s == "" {
		return limit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, errInvalidInput(fmt.Sprintf("Value '%s' for parameter maxitems is invalid: it must be a positive integer", s))
	}
	return min(n, limit), nil
}

func hostedZoneOut(z zoneInfo) hostedZoneXML {
	return hostedZoneXML{
		ID:                     "/hostedzone/" + z.ID,
		Name:                   displayName(z.Name),
		CallerReference:        z.CallerRef,
		Config:                 hostedZoneConfigXML{Comment: z.Comment},
		ResourceRecordSetCount: z.SetCount,
	}
}

func changeInfoOut(c changeInfo) changeInfoXML {
	return changeInfoXML{
		ID:          "/change/" + c.ID,
		Status:      c.Status,
		SubmittedAt: c.Submitted.UTC().Format(timestampFormat),
		Comment:     c.Comment,
	}
}

func rrsetOut(s rrset) rrsetOutXML {
	out := rrsetOutXML{Name: displayName(s.Name), Type: s.Type, SetIdentifier: s.SetID, TTL: s.TTL}
	if s.Weighted {
		w := s.Weight
		out.Weight = &w
	}
	out.ResourceRecords.ResourceRecord = make([]resourceRecordXML, len(s.Values))
	for i, v := range s.Values {
		out.ResourceRecords.ResourceRecord[i] = resourceRecordXML{Value: v}
	}
	return out
}
