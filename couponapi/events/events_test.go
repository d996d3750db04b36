package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/couponapitest"
	"github.com/cutover/cutover/couponapi/events"
	"github.com/cutover/cutover/harness/stack/stacktest"
)

// TestMongoSinkDeduplicates: delivering events again (a relay that died
// before recording its batch) is a success and adds no document.
func TestMongoSinkDeduplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the embedded stack")
	}
	st := stacktest.Embedded(t)
	ctx := context.Background()
	c, err := mongo.Connect(options.Client().ApplyURI(st.Endpoints().MongoURL))
	require.NoError(t, err)
	defer func() { _ = c.Disconnect(ctx) }()
	sink := events.NewMongoSink(c)
	at := time.Now().UTC().Truncate(time.Millisecond)
	first := []api.Event{
		{ID: "evt_1", Type: api.EventRedemptionCreated, Voucher: "V", RedemptionID: "r_1", Amount: 5, At: at},
		{ID: "evt_2", Type: api.EventRedemptionCreated, Voucher: "V", RedemptionID: "r_2", Amount: 7, At: at},
	}
	for _, err := range sink.Deliver(ctx, first) {
		require.NoError(t, err)
	}
	again := append(first, api.Event{ID: "evt_3", Type: api.EventRedemptionRolledBack, Voucher: "V", RedemptionID: "r_1", RollbackID: "rr_1", At: at})
	for _, err := range sink.Deliver(ctx, again) {
		require.NoError(t, err)
	}
	got := couponapitest.AuditEvents(t, st.Endpoints().MongoURL, nil)
	require.Len(t, got, 3)
	require.Equal(t, first[0], got[0])
}

func TestMongoSinkDown(t *testing.T) {
	c, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1/").SetServerSelectionTimeout(200 * time.Millisecond))
	require.NoError(t, err)
	defer func() { _ = c.Disconnect(context.Background()) }()
	errs := events.NewMongoSink(c).Deliver(context.Background(), []api.Event{{ID: "evt_x"}, {ID: "evt_y"}})
	require.Len(t, errs, 2)
	for _, err := range errs {
		require.Error(t, err)
	}
}
