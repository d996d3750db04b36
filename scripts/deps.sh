#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks need, only when
# missing. Needs root (or sudo) the first time; a no-op afterwards.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
[ -n "$pgbin" ] && [ -x "$pgbin/postgres" ] || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${need[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
