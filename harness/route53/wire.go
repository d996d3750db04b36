package route53

import (
	"encoding/xml"
	"net/http"
)

// namespace is the XML namespace of every Route53 request and response body.
const namespace = "https://route53.amazonaws.com/doc/2013-04-01/"

// Response bodies. Element names and their order follow the API model
// (botocore's route53/2013-04-01/service-2.json); required members are
// always written, even when empty, as Route53 does.

type createHostedZoneResponse struct {
	XMLName       xml.Name         `xml:"https://route53.amazonaws.com/doc/2013-04-01/ CreateHostedZoneResponse"`
	HostedZone    hostedZoneXML    `xml:"HostedZone"`
	ChangeInfo    changeInfoXML    `xml:"ChangeInfo"`
	DelegationSet delegationSetXML `xml:"DelegationSet"`
}

type getHostedZoneResponse struct {
	XMLName       xml.Name         `xml:"https://route53.amazonaws.com/doc/2013-04-01/ GetHostedZoneResponse"`
	HostedZone    hostedZoneXML    `xml:"HostedZone"`
	DelegationSet delegationSetXML `xml:"DelegationSet"`
}

type listHostedZonesResponse struct {
	XMLName     xml.Name       `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ListHostedZonesResponse"`
	HostedZones hostedZonesXML `xml:"HostedZones"`
	Marker      string         `xml:"Marker"`
	IsTruncated bool           `xml:"IsTruncated"`
	NextMarker  string         `xml:"NextMarker,omitempty"`
	MaxItems    string         `xml:"MaxItems"`
}

type listHostedZonesByNameResponse struct {
	XMLName          xml.Name       `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ListHostedZonesByNameResponse"`
	HostedZones      hostedZonesXML `xml:"HostedZones"`
	DNSName          string         `xml:"DNSName,omitempty"`
	HostedZoneID     string         `xml:"HostedZoneId,omitempty"`
	IsTruncated      bool           `xml:"IsTruncated"`
	NextDNSName      string         `xml:"NextDNSName,omitempty"`
	NextHostedZoneID string         `xml:"NextHostedZoneId,omitempty"`
	MaxItems         string         `xml:"MaxItems"`
}

type deleteHostedZoneResponse struct {
	XMLName    xml.Name      `xml:"https://route53.amazonaws.com/doc/2013-04-01/ DeleteHostedZoneResponse"`
	ChangeInfo changeInfoXML `xml:"ChangeInfo"`
}

type changeResourceRecordSetsResponse struct {
	XMLName    xml.Name      `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ChangeResourceRecordSetsResponse"`
	ChangeInfo changeInfoXML `xml:"ChangeInfo"`
}

type getChangeResponse struct {
	XMLName    xml.Name      `xml:"https://route53.amazonaws.com/doc/2013-04-01/ GetChangeResponse"`
	ChangeInfo changeInfoXML `xml:"ChangeInfo"`
}

type listResourceRecordSetsResponse struct {
	XMLName              xml.Name     `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ListResourceRecordSetsResponse"`
	ResourceRecordSets   rrsetsOutXML `xml:"ResourceRecordSets"`
	IsTruncated          bool         `xml:"IsTruncated"`
	NextRecordName       string       `xml:"NextRecordName,omitempty"`
	NextRecordType       string       `xml:"NextRecordType,omitempty"`
	NextRecordIdentifier string       `xml:"NextRecordIdentifier,omitempty"`
	MaxItems             string       `xml:"MaxItems"`
}

type hostedZonesXML struct {
	HostedZone []hostedZoneXML `xml:"HostedZone"`
}

type hostedZoneXML struct {
	ID                     string              `xml:"Id"`
	Name                   string              `xml:"Name"`
	CallerReference        string              `xml:"CallerReference"`
	Config                 hostedZoneConfigXML `xml:"Config"`
	ResourceRecordSetCount int64               `xml:"ResourceRecordSetCount"`
}

type hostedZoneConfigXML struct {
	Comment     string `xml:"Comment,omitempty"`
	PrivateZone bool   `xml:"PrivateZone"`
}

type delegationSetXML struct {
	NameServers []string `xml:"NameServers>NameServer"`
}

type changeInfoXML struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
	Comment     string `xml:"Comment,omitempty"`
}

type rrsetsOutXML struct {
	ResourceRecordSet []rrsetOutXML `xml:"ResourceRecordSet"`
}

type rrsetOutXML struct {
	Name            string             `xml:"Name"`
	Type            string             `xml:"Type"`
	SetIdentifier   string             `xml:"SetIdentifier,omitempty"`
	Weight          *int64             `xml:"Weight,omitempty"`
	TTL             int64              `xml:"TTL"`
	ResourceRecords resourceRecordsXML `xml:"ResourceRecords"`
}

type resourceRecordsXML struct {
	ResourceRecord []resourceRecordXML `xml:"ResourceRecord"`
}

type resourceRecordXML struct {
	Value string `xml:"Value"`
}

// timestampFormat is how Route53 writes SubmittedAt (ISO 8601, UTC, ms).
const timestampFormat = "2006-01-02T15:04:05.000Z"

func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		// Every value written here is a fixed struct of strings and
		// numbers; a marshal error is a bug in the emulator.
		http.Error(w, "marshal response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}
