package route53

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// changeBatchSeeds are bodies as real clients send them, plus broken ones.
var changeBatchSeeds = []string{
	// aws-sdk-go-v2: alphabetical order.
	`<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>api.cutover.test.</Name><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords><SetIdentifier>aws</SetIdentifier><TTL>60</TTL><Type>A</Type><Weight>25</Weight></ResourceRecordSet></Change></Changes><Comment>c</Comment></ChangeBatch></ChangeResourceRecordSetsRequest>`,
	// AWS CLI: the API model's order.
	`<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Comment>cli</Comment><Changes><Change><Action>DELETE</Action><ResourceRecordSet><Name>x.cutover.test</Name><Type>TXT</Type><TTL>300</TTL><ResourceRecords><ResourceRecord><Value>"a" "b\"c"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
	`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>\052.w.test</Name><Type>CNAME</Type><TTL>0</TTL><ResourceRecords><ResourceRecord><Value>t.test</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change><Change><Action>CREATE</Action><ResourceRecordSet><Name>w.test</Name><Type>SOA</Type><TTL>1</TTL><ResourceRecords><ResourceRecord><Value>ns.w.test. h.w.test. 1 2 3 4 5</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
	`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>a.test</Name><Type>A</Type><Weight>256</Weight><SetIdentifier>x</SetIdentifier><TTL>-1</TTL></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
	`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>a.test</Name><Type>A</Type><AliasTarget><DNSName>x</DNSName></AliasTarget></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
	`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes/></ChangeBatch></ChangeResourceRecordSetsRequest>`,
	`<Other/>`,
	`<ChangeResourceRecordSetsRequest><ChangeBatch>`,
	``,
}

func FuzzParseChangeBatch(f *testing.F) {
	for _, s := range changeBatchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, e := parseChangeBatch(body)
		if e != nil {
			require.NotEmpty(t, e.Code)
			require.NotEmpty(t, e.Message)
			require.Contains(t, []int{400}, e.Status)
			return
		}
		requireValidBatch(t, b)
		// What was accepted must survive being written and read again.
		again, e := parseChangeBatch(marshalBatch(t, b))
		require.Nil(t, e, "re-parse of an accepted batch")
		require.Equal(t, summarize(b), summarize(again))
	})
}

func requireValidBatch(t *testing.T, b changeBatch) {
	t.Helper()
	require.NotEmpty(t, b.Changes)
	for _, c := range b.Changes {
		require.Contains(t, []string{actionCreate, actionDelete, actionUpsert}, c.Action)
		s := c.Set
		canon, err := canonicalName(s.Name)
		require.NoError(t, err)
		require.Equal(t, canon, s.Name, "stored names are canonical")
		require.True(t, isSupportedType(s.Type))
		require.Equal(t, s.SetID != "", s.Weighted)
		require.True(t, s.Weight >= 0 && s.Weight <= 255)
		require.True(t, s.TTL >= 0)
		require.Len(t, s.RRs, len(s.Values))
		for _, rr := range s.RRs {
			require.Equal(t, s.Name, rr.Header().Name)
			require.EqualValues(t, s.TTL, rr.Header().Ttl)
		}
	}
}

func summarize(b changeBatch) []string {
	out := []string{b.Comment}
	for _, c := range b.Changes {
		s := c.Set
		rrs := make([]string, len(s.RRs))
		for i, rr := range s.RRs {
			rrs[i] = rr.String()
		}
		out = append(out, fmt.Sprintf("%s %q %s %q %v %d %d %q %q", c.Action, s.Name, s.Type, s.SetID, s.Weighted, s.Weight, s.TTL, s.Values, rrs))
	}
	return out
}

func marshalBatch(t *testing.T, b changeBatch) []byte {
	t.Helper()
	var buf bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		require.NoError(t, xml.EscapeText(&e, []byte(s)))
		return e.String()
	}
	fmt.Fprintf(&buf, `<ChangeResourceRecordSetsRequest xmlns="%s"><ChangeBatch><Comment>%s</Comment><Changes>`, namespace, esc(b.Comment))
	for _, c := range b.Changes {
		s := c.Set
		fmt.Fprintf(&buf, `<Change><Action>%s</Action><ResourceRecordSet><Name>%s</Name><Type>%s</Type>`, c.Action, esc(displayName(s.Name)), s.Type)
		if s.Weighted {
			fmt.Fprintf(&buf, `<SetIdentifier>%s</SetIdentifier><Weight>%d</Weight>`, esc(s.SetID), s.Weight)
		}
		fmt.Fprintf(&buf, `<TTL>%d</TTL><ResourceRecords>`, s.TTL)
		for _, v := range s.Values {
			fmt.Fprintf(&buf, `<ResourceRecord><Value>%s</Value></ResourceRecord>`, esc(v))
		}
		buf.WriteString(`</ResourceRecords></ResourceRecordSet></Change>`)
	}
	buf.WriteString(`</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`)
	return buf.Bytes()
}

func TestParseChangeBatchSeeds(t *testing.T) {
	tests := []struct {
		seed int
		code string // "" when the batch parses
		msg  string
	}{
		{0, "", ""},
		{1, "", ""},
		{2, "", ""},
		{3, "InvalidInput", "2 validation errors detected: Value '256' at 'changeBatch.changes.1.member.resourceRecordSet.weight' failed to satisfy constraint: Member must have value less than or equal to 255; Value '-1' at 'changeBatch.changes.1.member.resourceRecordSet.tTL' failed to satisfy constraint: Member must have value greater than or equal to 0"},
		{4, "InvalidInput", ""},
		{5, "InvalidInput", ""},
		{6, "InvalidInput", ""},
		{7, "InvalidInput", ""},
		{8, "InvalidInput", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.seed), func(t *testing.T) {
			b, e := parseChangeBatch([]byte(changeBatchSeeds[tt.seed]))
			if tt.code == "" {
				require.Nil(t, e)
				requireValidBatch(t, b)
				return
			}
			require.NotNil(t, e)
			require.Equal(t, tt.code, e.Code)
			if tt.msg != "" {
				require.Equal(t, tt.msg, e.Message)
			}
		})
	}
	b, e := parseChangeBatch([]byte(changeBatchSeeds[2]))
	require.Nil(t, e)
	require.Equal(t, "*.w.test.", b.Changes[0].Set.Name, "octal escapes are decoded")
	require.Equal(t, `\052.w.test.`, displayName(b.Changes[0].Set.Name), "and written back escaped")
	require.True(t, strings.HasSuffix(b.Changes[1].Set.RRs[0].String(), "1 2 3 4 5"))
}
