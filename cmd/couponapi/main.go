// Command couponapi is the reference coupon service of cutover: a
// Voucherify-shaped API over Postgres (source of truth), Redis (caches,
// idempotency fast path, rate limits) and Mongo (audit log, through a
// transactional outbox). It is configured from the environment like a
// Heroku app and drains on SIGTERM.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cutover/cutover/couponapi/applog"
	"github.com/cutover/cutover/couponapi/config"
	"github.com/cutover/cutover/couponapi/service"
)

func main() {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "couponapi: %v\n", err)
		os.Exit(2)
	}
	log := applog.Logger(os.Stdout, cfg.LogLevel)
	// Heroku may send SIGTERM more than once; the first starts the drain,
	// later ones are absorbed here rather than killing the process.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := service.Run(ctx, cfg, log); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}
