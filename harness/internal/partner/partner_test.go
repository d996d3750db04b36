package partner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/harness/history"
	"github.com/cutover/cutover/harness/internal/oracle"
	"github.com/cutover/cutover/harness/internal/oracle/state"
	"github.com/cutover/cutover/harness/internal/partner"
)

// post calls the partner from a given loopback source address, as the
// service does with EGRESS_ADDR.
func post(t *testing.T, url, from string, ev api.Event) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 5 * time.Second}
	body, _ := json.Marshal(ev)
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestFirewallAndSync(t *testing.T) {
	p, err := partner.Start("127.0.0.1")
	require.NoError(t, err)
	defer p.Close()
	p.Allow(netip.MustParseAddr("127.0.0.30"))

	require.Equal(t, http.StatusForbidden, post(t, p.URL(), "127.0.0.41", api.Event{ID: "e1", RedemptionID: "r1"}), "a Heroku dyno's address is not on the list")
	require.Equal(t, http.StatusNoContent, post(t, p.URL(), "127.0.0.30", api.Event{ID: "e2", RedemptionID: "r2"}))

	require.Equal(t, []partner.SourceStats{{Source: "127.0.0.30", Accepted: 1}, {Source: "127.0.0.41", Rejected: 1}}, p.Sources())
	require.Equal(t, 1, p.WaitSynced(context.Background(), []string{"r1", "r2"}, 200*time.Millisecond))

	st := &state.State{Redemptions: []state.Redemption{{ID: "r1", Voucher: "V"}, {ID: "r2", Voucher: "V"}}}
	// A minute later, with no retry of r1 since its refusal.
	res, err := oracle.Check(nil, st, partner.SyncChecker{Partner: p, At: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	require.Equal(t, oracle.Fail, res[0].Verdict)
	require.EqualValues(t, 2, res[0].Checked)
	require.EqualValues(t, 1, res[0].Violations)
	require.Contains(t, res[0].Examples[0].Message, "r1")

	// The retry from the target's fixed address lands: the invariant holds.
	require.Equal(t, http.StatusNoContent, post(t, p.URL(), "127.0.0.30", api.Event{ID: "e1", RedemptionID: "r1"}))
	res, err = oracle.Check(nil, st, partner.SyncChecker{Partner: p})
	require.NoError(t, err)
	require.Equal(t, oracle.Pass, res[0].Verdict)

	res, err = oracle.Check(nil, &state.State{Missing: map[state.Part]string{state.Redemptions: "service down"}}, partner.SyncChecker{Partner: p})
	require.NoError(t, err)
	require.Equal(t, oracle.Unknown, res[0].Verdict)
}

// TestSyncWithNothingToCheckIsUnknown: a run whose final state holds no
// committed redemption gave partner_sync nothing to compare.
func TestSyncWithNothingToCheckIsUnknown(t *testing.T) {
	p, err := partner.Start("127.0.0.1")
	require.NoError(t, err)
	defer p.Close()
	res, err := oracle.Check(nil, &state.State{}, partner.SyncChecker{Partner: p})
	require.NoError(t, err)
	require.Equal(t, oracle.Unknown, res[0].Verdict, res[0].String())
	require.NotEmpty(t, res[0].Reason)
}

// TestSyncRetriedAsDocumented: a redemption the partner refused is in
// order while the service still retries it within its documented backoff,
// and a violation once the retries stopped.
func TestSyncRetriedAsDocumented(t *testing.T) {
	p, err := partner.Start("127.0.0.1")
	require.NoError(t, err)
	defer p.Close()
	p.Allow(netip.MustParseAddr("127.0.0.30"))
	require.Equal(t, http.StatusForbidden, post(t, p.URL(), "127.0.0.41", api.Event{ID: "e1", RedemptionID: "r1"}))
	refusedAt := p.Calls()[0].Time

	ops := []history.Op{
		{Index: 0, ID: "a", Type: history.Invoke, Process: "c", F: history.Redeem, Voucher: "V", IdempotencyKey: "k1", Time: refusedAt.Add(-time.Second)},
		{Index: 1, ID: "a", Type: history.OK, Process: "c", F: history.Redeem, Voucher: "V", IdempotencyKey: "k1", RedemptionID: "r1", Time: refusedAt.Add(-time.Second / 2)},
	}
	st := &state.State{Redemptions: []state.Redemption{{ID: "r1", Voucher: "V", IdempotencyKey: "k1"}}}
	res, err := oracle.Check(ops, st, partner.SyncChecker{Partner: p, At: refusedAt.Add(10 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, oracle.Pass, res[0].Verdict, res[0].String())
	require.Contains(t, res[0].Reason, "still retried")

	res, err = oracle.Check(ops, st, partner.SyncChecker{Partner: p, At: refusedAt.Add(31 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, oracle.Fail, res[0].Verdict, res[0].String())
	require.Contains(t, res[0].Examples[0].Message, "not offered again within 30s")
	require.Equal(t, []string{"a"}, res[0].Examples[0].Ops, "the example names the redeem")
}
