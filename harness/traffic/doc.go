// Package traffic is the home of everything about the coupon traffic a
// rehearsal sends. It holds no code itself; each concern is a sub-package:
//
//   - trace: the trace format (JSON lines, optionally gzip), its streaming
//     reader and writer, request classification and trace statistics;
//   - synth: the seeded synthesizer of realistic coupon traffic and the seed
//     data (vouchers, gift cards) that traffic needs;
//   - record: a reverse proxy that records real traffic into a trace,
//     redacting credentials;
//   - importer: converters from GoReplay, HAR and vegeta target files;
//   - replay: the replayer, built on the vegeta library, that sends a slice
//     of a trace at a multiple of its recorded rate through the client DNS
//     model and writes a Jepsen-style history and vegeta results.
package traffic
