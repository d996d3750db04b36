// Package toxiserver runs Toxiproxy's server — its HTTP API and the TCP
// proxies — from Toxiproxy's own library, as its command does. The
// embedded stack runs it as a separate process (cmd/toxiproxy-server):
// every query of every service process crosses it, so it must not share a
// Go scheduler with the replayer. Living in this module, it is built with
// the same dependencies from any module that requires cutover.
package toxiserver

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Package is the import path of the command that runs Main, which the
// harness builds when no toxiproxy-server binary is found.
const Package = "github.com/cutover/cutover/cmd/toxiproxy-server"

// Main serves Toxiproxy's API on -host:-port until SIGINT or SIGTERM, with
// the flags of Toxiproxy's own server (-host, -port, -config), logging at
// $LOG_LEVEL to out. It returns the process's exit code.
func Main(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("toxiproxy-server", flag.ContinueOnError)
	fs.SetOutput(out)
	host := fs.String("host", "localhost", "host for toxiproxy's API to listen on")
	port := fs.String("port", "8474", "port for toxiproxy's API to listen on")
	config := fs.String("config", "", "JSON file of proxies to create on startup")
	version := fs.Bool("version", false, "print the version")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Fprintf(out, "toxiproxy-server version %s\n", toxiproxy.Version)
		return 0
	}
	logger := zerolog.New(out).With().Timestamp().Logger()
	if v, ok := os.LookupEnv("LOG_LEVEL"); ok {
		lvl, err := zerolog.ParseLevel(v)
		if err != nil {
			fmt.Fprintf(out, "toxiproxy-server: LOG_LEVEL: %v\n", err)
			return 2
		}
		logger = logger.Level(lvl)
	}
	zerolog.TimestampFunc = func() time.Time { return time.Now().UTC() }

	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), logger)
	if *config != "" {
		server.PopulateConfig(*config)
	}
	failed := make(chan error, 1)
	go func() { failed <- server.Listen(net.JoinHostPort(*host, *port)) }()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-failed:
		fmt.Fprintf(out, "toxiproxy-server: %v\n", err)
		return 1
	case <-signals:
	}
	if err := server.Shutdown(); err != nil {
		fmt.Fprintf(out, "toxiproxy-server: shutdown: %v\n", err)
		return 1
	}
	return 0
}
