package route53

import (
	"encoding/xml"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The SDK does not check the root element of a response, so a response of
// the wrong shape can deserialize without error. These tests read the raw
// bodies and check their shape against the API model.

type xmlNode struct {
	XMLName  xml.Name
	Children []xmlNode `xml:",any"`
	Text     string    `xml:",chardata"`
}

func parseNode(t *testing.T, body []byte) xmlNode {
	t.Helper()
	var n xmlNode
	require.NoError(t, xml.Unmarshal(body, &n), string(body))
	return n
}

// path returns the text of the first element at a/b/c below n, and whether
// it exists.
func (n xmlNode) path(p string) (string, bool) {
	cur := n
	for _, name := range strings.Split(p, "/") {
		found := false
		for _, c := range cur.Children {
			if c.XMLName.Local == name {
				cur, found = c, true
				break
			}
		}
		if !found {
			return "", false
		}
	}
	return strings.TrimSpace(cur.Text), true
}

func (n xmlNode) count(name string) int {
	k := 0
	for _, c := range n.Children {
		if c.XMLName.Local == name {
			k++
		}
	}
	return k
}

func (n xmlNode) child(name string) xmlNode {
	for _, c := range n.Children {
		if c.XMLName.Local == name {
			return c
		}
	}
	return xmlNode{}
}

func requireShape(t *testing.T, body []byte, root string, paths ...string) xmlNode {
	t.Helper()
	n := parseNode(t, body)
	require.Equal(t, root, n.XMLName.Local, string(body))
	require.Equal(t, namespace, n.XMLName.Space, "root element namespace")
	for _, p := range paths {
		_, ok := n.path(p)
		require.True(t, ok, "%s: missing %s in %s", root, p, body)
	}
	return n
}

func requireErrorBody(t *testing.T, body []byte, code, message string) {
	t.Helper()
	n := requireShape(t, body, "ErrorResponse", "Error/Type", "Error/Code", "Error/Message", "RequestId")
	got, _ := n.path("Error/Code")
	require.Equal(t, code, got)
	if message != "" {
		msg, _ := n.path("Error/Message")
		require.Equal(t, message, msg)
	}
}

func TestResponseShapes(t *testing.T) {
	srv := startEmulator(t, Options{Seed: 11})
	creds := &testCreds
	do := func(method, path string, body string) (int, []byte) {
		return rawRequest(t, srv, creds, method, path, "application/xml", []byte(body))
	}

	status, body := do("POST", "/2013-04-01/hostedzone", `<?xml version="1.0" encoding="UTF-8"?>
<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>shape.test</Name><CallerReference>shape-1</CallerReference><HostedZoneConfig><Comment>c</Comment></HostedZoneConfig></CreateHostedZoneRequest>`)
	require.Equal(t, 201, status)
	n := requireShape(t, body, "CreateHostedZoneResponse",
		"HostedZone/Id", "HostedZone/Name", "HostedZone/CallerReference", "HostedZone/Config/PrivateZone",
		"HostedZone/ResourceRecordSetCount", "ChangeInfo/Id", "ChangeInfo/Status", "ChangeInfo/SubmittedAt",
		"DelegationSet/NameServers/NameServer")
	require.Equal(t, 4, n.child("DelegationSet").child("NameServers").count("NameServer"))
	id, _ := n.path("HostedZone/Id")
	zone := strings.TrimPrefix(id, "/hostedzone/")

	status, body = do("GET", "/2013-04-01/hostedzone/"+zone, "")
	require.Equal(t, 200, status)
	requireShape(t, body, "GetHostedZoneResponse", "HostedZone/Id", "HostedZone/Name", "DelegationSet/NameServers/NameServer")

	status, body = do("GET", "/2013-04-01/hostedzone?maxitems=1", "")
	require.Equal(t, 200, status)
	n = requireShape(t, body, "ListHostedZonesResponse", "HostedZones/HostedZone/Id", "Marker", "IsTruncated", "MaxItems")
	truncated, _ := n.path("IsTruncated")
	require.Equal(t, "false", truncated)

	status, body = do("GET", "/2013-04-01/hostedzonesbyname?dnsname=shape.test", "")
	require.Equal(t, 200, status)
	requireShape(t, body, "ListHostedZonesByNameResponse", "HostedZones/HostedZone/Name", "DNSName", "IsTruncated", "MaxItems")

	change := `<?xml version="1.0" encoding="UTF-8"?>
<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes>
<Change><Action>CREATE</Action><ResourceRecordSet><Name>a.shape.test</Name><Type>A</Type><SetIdentifier>one</SetIdentifier><Weight>1</Weight><TTL>5</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change>
<Change><Action>CREATE</Action><ResourceRecordSet><Name>a.shape.test</Name><Type>A</Type><SetIdentifier>two</SetIdentifier><Weight>3</Weight><TTL>5</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.2</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change>
</Changes><Comment>split</Comment></ChangeBatch></ChangeResourceRecordSetsRequest>`
	status, body = do("POST", "/2013-04-01/hostedzone/"+zone+"/rrset", change)
	require.Equal(t, 200, status, string(body))
	n = requireShape(t, body, "ChangeResourceRecordSetsResponse", "ChangeInfo/Id", "ChangeInfo/Status", "ChangeInfo/SubmittedAt", "ChangeInfo/Comment")
	changeID, _ := n.path("ChangeInfo/Id")

	status, body = do("GET", "/2013-04-01/hostedzone/"+zone+"/rrset?maxitems=3", "")
	require.Equal(t, 200, status)
	n = requireShape(t, body, "ListResourceRecordSetsResponse",
		"ResourceRecordSets/ResourceRecordSet/Name", "ResourceRecordSets/ResourceRecordSet/Type",
		"ResourceRecordSets/ResourceRecordSet/TTL", "ResourceRecordSets/ResourceRecordSet/ResourceRecords/ResourceRecord/Value",
		"IsTruncated", "NextRecordName", "NextRecordType", "NextRecordIdentifier", "MaxItems")
	require.Equal(t, 3, n.child("ResourceRecordSets").count("ResourceRecordSet"))
	next, _ := n.path("NextRecordIdentifier")
	require.Equal(t, "two", next)

	status, body = do("GET", "/2013-04-01/change/"+strings.TrimPrefix(changeID, "/change/"), "")
	require.Equal(t, 200, status)
	requireShape(t, body, "GetChangeResponse", "ChangeInfo/Id", "ChangeInfo/Status", "ChangeInfo/SubmittedAt")

	status, body = do("DELETE", "/2013-04-01/hostedzone/"+zone, "")
	require.Equal(t, 400, status)
	requireErrorBody(t, body, "HostedZoneNotEmpty", "")

	status, body = do("GET", "/2013-04-01/hostedzone/ZMISSING", "")
	require.Equal(t, 404, status)
	requireErrorBody(t, body, "NoSuchHostedZone", "No hosted zone found with ID: ZMISSING")

	status, body = do("GET", "/2013-04-01/nothing", "")
	require.Equal(t, 404, status)
	requireErrorBody(t, body, "UnknownOperation", "")
}

// TestChangeBodiesFromEitherClient posts the same batch the way the Go SDK
// does (".../rrset", XML content type, elements in alphabetical order) and
// the way the AWS CLI does (".../rrset/", no content type, the API model's
// order): both must apply.
func TestChangeBodiesFromEitherClient(t *testing.T) {
	srv := startEmulator(t, Options{Seed: 12})
	zoneID := strings.TrimPrefix(createZone(t, sdkClient(srv, testCreds), "clients.test"), "/hostedzone/")

	body := func(action, name string, alphabetical bool) string {
		if alphabetical {
			return fmt.Sprintf(`<ChangeResourceRecordSetsRequest xmlns="%s"><ChangeBatch><Changes><Change><Action>%s</Action><ResourceRecordSet><Name>%s</Name><ResourceRecords><ResourceRecord><Value>192.0.2.7</Value></ResourceRecord></ResourceRecords><SetIdentifier>aws</SetIdentifier><TTL>60</TTL><Type>A</Type><Weight>10</Weight></ResourceRecordSet></Change></Changes><Comment>sdk</Comment></ChangeBatch></ChangeResourceRecordSetsRequest>`, namespace, action, name)
		}
		return fmt.Sprintf(`<ChangeResourceRecordSetsRequest xmlns="%s"><ChangeBatch><Comment>cli</Comment><Changes><Change><Action>%s</Action><ResourceRecordSet><Name>%s</Name><Type>A</Type><SetIdentifier>aws</SetIdentifier><Weight>10</Weight><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.7</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`, namespace, action, name)
	}
	tests := []struct {
		name         string
		path         string
		contentType  string
		alphabetical bool
	}{
		{"sdk", "/2013-04-01/hostedzone/" + zoneID + "/rrset", "application/xml", true},
		{"cli", "/2013-04-01/hostedzone/" + zoneID + "/rrset/", "", false},
		{"cli with escaped prefixed id", "/2013-04-01/hostedzone/%2Fhostedzone%2F" + zoneID + "/rrset/", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-") + ".clients.test"
			status, resp := rawRequest(t, srv, &testCreds, "POST", tt.path, tt.contentType, []byte(body("CREATE", name, tt.alphabetical)))
			require.Equal(t, 200, status, string(resp))
			requireShape(t, resp, "ChangeResourceRecordSetsResponse", "ChangeInfo/Id")
			status, resp = rawRequest(t, srv, &testCreds, "POST", tt.path, tt.contentType, []byte(body("DELETE", name, !tt.alphabetical)))
			require.Equal(t, 200, status, string(resp))
		})
	}
}
