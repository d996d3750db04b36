// Package harnesspath measures DESIGN's harness-path target: the DNS
// resolve, the Heroku router and the fault proxy together add under 10% to
// the median latency of a direct call. Its benchmark (BenchmarkHarnessPath)
// sends a rehearsal's request the whole way — a weighted answer from the
// Route53 emulator's DNS server, the simulated router, a couponapi dyno
// reading Postgres through the stack's heroku->postgres Toxiproxy link —
// side by side with the same request sent straight to a couponapi process
// that reads Postgres directly.
package harnesspath
