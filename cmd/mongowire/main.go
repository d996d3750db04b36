// Command mongowire is a standalone Mongo-wire server: FerretDB embedded with
// its SQLite backend, built as one static binary. It is the stand-in for the
// mongo image where no upstream image can be pulled (`make images` puts it in
// a FROM-scratch image); like mongod it logs "Waiting for connections" once
// it accepts clients, which is what testcontainers' mongodb module waits for.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mongowire:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mongowire", flag.ContinueOnError)
	listen := fs.String("listen", ":27017", "TCP address to serve the Mongo wire protocol on")
	data := fs.String("data", "/data/db", "directory for the SQLite databases (one file per database)")
	debug := fs.Bool("debug", false, "log every FerretDB message")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*data, 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}

	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *data + "/",
	})
	if err != nil {
		return fmt.Errorf("start ferretdb: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI waits until the listener is bound.
	fmt.Printf("mongowire: Waiting for connections on %s (FerretDB, SQLite in %s)\n", f.MongoDBURI(), *data)
	return <-done
}
