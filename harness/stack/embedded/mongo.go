package embedded

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// mongo is an embedded Mongo-wire server: FerretDB with its SQLite backend
// in a directory of the stack. FerretDB has no multi-document transactions
// and loses concurrent updates to one document, so the service only ever
// inserts into it (the audit log), keyed by unique ids.
type mongo struct {
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
}

func startMongo(host, dir string, logOut io.Writer) (*mongo, error) {
	dataDir := filepath.Join(dir, "mongo")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create mongo data dir: %w", err)
	}
	if logOut == nil {
		logOut = io.Discard
	}
	// Reserve a port, then hand it to FerretDB (it takes an address string).
	l, err := net.Listen("tcp", netJoin(host, 0))
	if err != nil {
		return nil, fmt.Errorf("reserve mongo port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dataDir + "/",
		Logger:    slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return nil, fmt.Errorf("start mongo-wire server: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &mongo{cancel: cancel, done: make(chan struct{})}
	go func() { defer close(m.done); _ = f.Run(ctx) }()
	m.uri = f.MongoDBURI()
	return m, nil
}

func (m *mongo) close() {
	m.cancel()
	<-m.done
}
