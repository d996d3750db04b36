#!/usr/bin/env bash
# Installs what the tests and benchmarks need, only when missing, so `make
# test` works on a fresh Debian machine with nothing installed by hand:
#   postgresql      the embedded stack runs Postgres from the machine's binaries
#   redis-server    ... and Redis (no persistence: a restart comes back empty)
#   chromium        the report test renders report.html headless
#   fonts-liberation  fonts for that rendering
#   awscli          the Route53 emulator is tested with the AWS CLI v2 too
#   prometheus      the harness's metrics are tested with a real Prometheus server
#   vegeta (Go)     the stage results are checked with `vegeta report`
#   gotestsum (Go)  `make test` runs go test through it (skips listed, JUnit)
# Needs root (or sudo) the first time; a no-op afterwards.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
{ [ -n "$pgbin" ] && [ -x "$pgbin/postgres" ]; } || need+=(postgresql)
have chromium || need+=(chromium)
[ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)
[ -x /usr/bin/aws ] || need+=(awscli)
have redis-server || need+=(redis-server)
[ -x /usr/bin/prometheus ] || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "deps: installing ${need[*]} from the machine's apt sources" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
gobin=$(go env GOPATH)/bin
if [ ! -x "$gobin/vegeta" ]; then
	echo "deps: installing the vegeta CLI (go install)" >&2
	go install github.com/tsenart/vegeta/v12@v12.13.0
fi
if [ ! -x "$gobin/gotestsum" ]; then
	echo "deps: installing gotestsum (go install)" >&2
	go install gotest.tools/gotestsum@v1.13.0
fi
