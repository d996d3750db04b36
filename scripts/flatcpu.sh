#!/usr/bin/env bash
# flatcpu.sh COMMAND [ARGS...] — a diagnostic, not part of a rehearsal: runs
# COMMAND (e.g. `bin/cutover run ... --infra docker`) with the CPU scheduler
# flat, as the embedded driver has it, to measure what per-container CPU
# groups cost the docker driver (issue 17; README, "Drivers").
#
# Docker gives every container a cgroup of its own in the cpu controller,
# and the kernel schedules each such group as one entity; with autogroup on,
# each session (the harness's, each container's) is a group too. The
# embedded driver's processes are children of the harness: one session, one
# group, every thread scheduled against every other. For as long as COMMAND
# runs, this script turns autogroup off and moves, twice a second, every
# task of every cutover-labelled container (org.cutover.managed=true) into
# the root of the cpu controller. Afterwards it restores autogroup; the
# containers of the run are gone by then (a finished run removes them).
#
# It changes the host's scheduling while it runs: root only, cgroup v1 with
# the cpu controller at /sys/fs/cgroup/cpu (Docker's cgroupfs driver), and
# only on a machine you use for rehearsals. Anywhere else it refuses (exit 2).
#
#   sudo scripts/flatcpu.sh bin/cutover run scenarios/staged-cutover.yaml --infra docker --multiplier 3
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: flatcpu.sh COMMAND [ARGS...]" >&2; exit 2; }
cpu=/sys/fs/cgroup/cpu
autogroup=/proc/sys/kernel/sched_autogroup_enabled
if [ "$(id -u)" != 0 ]; then
	echo "flatcpu.sh: needs root (it writes $autogroup and $cpu/cgroup.procs)" >&2
	exit 2
fi
if [ ! -w "$cpu/cgroup.procs" ] || [ "$(docker info --format '{{.CgroupVersion}}' 2>/dev/null)" != 1 ]; then
	echo "flatcpu.sh: no cgroup v1 cpu controller at $cpu with Docker's groups under it: nothing to flatten here" >&2
	exit 2
fi

saved=
if [ -w "$autogroup" ]; then
	saved=$(cat "$autogroup")
	echo 0 >"$autogroup"
fi

# The mover runs until COMMAND ends (its pid is killed below), at most as
# long as COMMAND.
flatten() {
	while true; do
		for id in $(docker ps -q --no-trunc --filter label=org.cutover.managed=true 2>/dev/null); do
			procs=$cpu/docker/$id/cgroup.procs
			[ -r "$procs" ] || continue
			while read -r pid; do
				echo "$pid" >"$cpu/cgroup.procs" 2>/dev/null || true
			done <"$procs"
		done
		sleep 0.5
	done
}
flatten &
mover=$!
restore() {
	kill "$mover" 2>/dev/null || true
	wait "$mover" 2>/dev/null || true
	if [ -n "$saved" ]; then echo "$saved" >"$autogroup"; fi
}
trap restore EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

status=0
"$@" || status=$?
exit "$status"
