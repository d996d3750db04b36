package events

import (
	"context"
	"errors"
	"log/slog"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/cutover/cutover/couponapi/api"
	"github.com/cutover/cutover/couponapi/store"
)

// duplicateKey is Mongo's E11000: this _id is already in the audit log.
const duplicateKey = 11000

// MongoSink writes events to the audit log: database api.MongoDatabase,
// collection api.EventCollection, one document per event with _id = event
// id. It only inserts, so an event seen twice stays one document.
type MongoSink struct {
	coll *mongo.Collection
}

var _ Sink = (*MongoSink)(nil)

// NewMongoSink writes to client's audit log.
func NewMongoSink(client *mongo.Client) *MongoSink {
	return &MongoSink{coll: client.Database(api.MongoDatabase).Collection(api.EventCollection)}
}

// Name is the outbox sink name.
func (m *MongoSink) Name() string { return store.SinkMongo }

// Deliver inserts evs (unordered); an event already present counts as
// delivered.
func (m *MongoSink) Deliver(ctx context.Context, evs []api.Event) []error {
	errs := make([]error, len(evs))
	docs := make([]any, len(evs))
	for i, ev := range evs {
		docs[i] = ev
	}
	_, err := m.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return errs
	}
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil && len(bwe.WriteErrors) > 0 {
		for _, we := range bwe.WriteErrors {
			if we.Code == duplicateKey {
				continue
			}
			if we.Index >= 0 && we.Index < len(errs) {
				errs[we.Index] = we
			}
		}
		return errs
	}
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// WriteDirect inserts evs and only logs failures. It is the dual write of
// the planted bug outbox_skipped: what it fails to write is lost.
func (m *MongoSink) WriteDirect(ctx context.Context, evs []api.Event, log *slog.Logger) {
	for i, err := range m.Deliver(ctx, evs) {
		if err != nil {
			log.Error("audit event lost", "event", evs[i].ID, "type", evs[i].Type, "err", err)
		}
	}
}
