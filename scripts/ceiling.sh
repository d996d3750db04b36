#!/usr/bin/env bash
# ceiling.sh SCENARIO INFRA [LOW HIGH STEP] — the highest traffic
# multiplier at which SCENARIO still passes on this machine with the stack
# driver INFRA (embedded|docker): a bisection over LOW..HIGH (default
# 0.5..6, to STEP 0.5) of full-length `cutover run --multiplier M` runs.
# It assumes that a scenario passing at M passes below M; each run's
# folder stays under results/ceiling/INFRA/ so a surprising step can be
# looked at. A run that fails, or is inconclusive because the machine was
# saturated (exit 4), counts as "does not pass": the ceiling is where the
# scenario can show a PASS, not where it merely runs. Bad input or an
# infrastructure that cannot start (exit 2, 3) stops the search.
#
#   make ceiling INFRA=docker            # the default rehearsal
#   scripts/ceiling.sh scenarios/staged-cutover.yaml embedded 1 6 0.5
set -euo pipefail
scenario=${1:?usage: ceiling.sh SCENARIO INFRA [LOW HIGH STEP]}
infra=${2:?usage: ceiling.sh SCENARIO INFRA [LOW HIGH STEP]}
low=${3:-0.5}
high=${4:-6}
step=${5:-0.5}
bin=${CUTOVER:-bin/cutover}
out=results/ceiling/$infra
mkdir -p "$out"
table=$out/ceiling.txt
: >"$table"

# run M: one full-length run at multiplier M; prints its exit code.
run() {
	local m=$1 code=0 started=$SECONDS verdict
	"$bin" run "$scenario" --infra "$infra" --multiplier "$m" --out "$out/m$m" >"$out/m$m.log" 2>&1 || code=$?
	case $code in
	0) verdict=pass ;;
	1) verdict=fail ;;
	4) verdict=inconclusive ;;
	*) verdict=error ;;
	esac
	printf '%s\t%sx\t%s\t%ds\t%s\n' "$infra" "$m" "$verdict" $((SECONDS - started)) "$(tail -1 "$out/m$m.log")" | tee -a "$table" >&2
	echo "$code"
}

# Bisection on the grid low, low+step, ..., high, in whole steps.
steps=$(awk -v l="$low" -v h="$high" -v s="$step" 'BEGIN { printf "%d", (h - l) / s + 0.5 }')
at() { awk -v l="$low" -v s="$step" -v i="$1" 'BEGIN { printf "%g", l + i * s }'; }
lo=-1 # highest index known to pass (-1: none yet)
hi=$((steps + 1)) # lowest index known not to pass (steps+1: none yet)
while [ $((hi - lo)) -gt 1 ]; do
	mid=$(((lo + hi) / 2))
	code=$(run "$(at $mid)")
	case $code in
	0) lo=$mid ;;
	2 | 3)
		echo "ceiling: the run at $(at $mid)x could not start (exit $code); see $out/m$(at $mid).log" >&2
		exit "$code"
		;;
	*) hi=$mid ;;
	esac
done
if [ "$lo" -lt 0 ]; then
	echo "ceiling: $scenario on $infra passes at no multiplier from ${low}x (runs in $table)" | tee -a "$table"
	exit 1
fi
echo "ceiling: $scenario on $infra passes up to $(at $lo)x$( [ "$hi" -le "$steps" ] && echo ", not at $(at $hi)x" ) (step ${step}x; runs in $table)" | tee -a "$table"
