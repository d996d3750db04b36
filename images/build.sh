#!/usr/bin/env bash
# build.sh — builds, without any registry, the images the docker stack driver
# needs (`make images`):
#
#   cutover-local/couponapi:latest          FROM scratch, static cmd/couponapi
#   cutover-local/cutover:latest            FROM scratch, static cmd/cutover (the
#                                           shard workers' pods run it)
#   cutover-local/mongo:latest              FROM scratch, cmd/mongowire (FerretDB)
#   cutover-local/localstack:4.0-route53emu FROM scratch, cmd/route53emu
#   cutover-local/toxiproxy:2.12.0          FROM scratch, Toxiproxy's server
#   cutover-local/reaper:latest             FROM scratch, cmd/reaper (removes a
#                                           killed run's containers)
#   cutover-local/debian-base:latest        mmdebstrap of this machine's apt
#                                           sources, `docker import`-ed
#   cutover-local/postgres:latest           base + upstream-like entrypoint
#   cutover-local/redis:latest              base + upstream-like entrypoint
#
# These are local names, never upstream ones: a laptop's real postgres:15 is
# never overwritten. The driver falls back to them (and says so) when a
# default upstream image is absent; see harness/stack/docker/images.go.
#
# Each image carries the hash of its inputs in the label org.cutover.inputs
# and is rebuilt only when that hash changes, so a second run with nothing
# changed takes seconds (EXPECT_UP_TO_DATE=1 makes any rebuild an error, to
# check exactly that). Select images with IMAGES="postgres redis ..."
# (default: all). Needs a Docker engine, Go, and (for the Debian base)
# mmdebstrap, which is installed from the machine's apt sources when missing.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
ALL="couponapi cutover mongo localstack toxiproxy reaper postgres redis"
IMAGES=${IMAGES:-$ALL}

PREFIX=cutover-local
BASE_TAG=$PREFIX/debian-base:latest
declare -A TAG=(
	[couponapi]=$PREFIX/couponapi:latest
	[cutover]=$PREFIX/cutover:latest
	[mongo]=$PREFIX/mongo:latest
	[localstack]=$PREFIX/localstack:4.0-route53emu
	[toxiproxy]=$PREFIX/toxiproxy:2.12.0
	[reaper]=$PREFIX/reaper:latest
	[postgres]=$PREFIX/postgres:latest
	[redis]=$PREFIX/redis:latest
)
# The Go package each FROM-scratch image holds, and the binary's name there.
declare -A PKG=(
	[couponapi]=./cmd/couponapi
	[cutover]=./cmd/cutover
	[mongo]=./cmd/mongowire
	[localstack]=./cmd/route53emu
	[toxiproxy]=github.com/Shopify/toxiproxy/v2/cmd/server
	[reaper]=./cmd/reaper
)
declare -A BIN=(
	[couponapi]=couponapi
	[cutover]=cutover
	[mongo]=mongowire
	[localstack]=route53emu
	[toxiproxy]=toxiproxy
	[reaper]=reaper
)
# Bump when the way the base rootfs is made changes.
BASE_RECIPE=1

log() { echo "images: $*" >&2; }
die() {
	echo "images: error: $*" >&2
	exit 1
}

# quiet CMD... — runs CMD, showing its output only when it fails.
quiet() {
	if ! "$@" >"$WORK/out" 2>&1; then
		cat "$WORK/out" >&2
		die "failed: $*"
	fi
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"

# inputs_hash FILE... — sha256 over the named files' contents and the
# extra strings in $EXTRA.
inputs_hash() {
	{
		printf '%s\n' "${EXTRA:-}"
		for f in "$@"; do
			printf '== %s\n' "$(basename "$f")"
			cat "$f"
		done
	} | sha256sum | cut -d' ' -f1
}

REBUILT=0
# rebuilding TAG — notes a rebuild; an error under EXPECT_UP_TO_DATE=1.
rebuilding() {
	[[ ${EXPECT_UP_TO_DATE:-} != 1 ]] || die "$1 is not up to date but EXPECT_UP_TO_DATE=1"
	REBUILT=$((REBUILT + 1))
	log "building $1"
}

# current_hash TAG — the inputs hash of a local image, or nothing.
current_hash() {
	docker image inspect -f '{{index .Config.Labels "org.cutover.inputs"}}' "$1" 2>/dev/null || true
}

build_scratch() {
	local name=$1 tag=${TAG[$1]} pkg=${PKG[$1]} bin=${BIN[$1]}
	local ctx=$WORK/$name
	mkdir -p "$ctx"
	if [[ $pkg == ./* && ! -d $pkg ]]; then
		die "$pkg does not exist in this checkout: cannot build $tag"
	fi
	# -trimpath and no VCS stamp make the binary depend on its sources
	# only, so an unchanged binary hashes the same after a commit.
	CGO_ENABLED=0 "$GO" build -trimpath -buildvcs=false -ldflags='-s -w' -o "$ctx/$bin" "$pkg"
	cp "images/$name/Dockerfile" "$ctx/Dockerfile"
	local hash
	hash=$(EXTRA="$tag" inputs_hash "$ctx/Dockerfile" "$ctx/$bin")
	if [[ $(current_hash "$tag") == "$hash" ]]; then
		log "$tag is up to date"
		return
	fi
	rebuilding "$tag"
	quiet docker build --label "org.cutover.image=$name" --label "org.cutover.inputs=$hash" \
		-t "$tag" "$ctx"
}

# apt_sources — copies this machine's enabled apt sources into $WORK/sources
# (one file each, as mmdebstrap takes them) and prints their paths.
apt_sources() {
	mkdir -p "$WORK/sources"
	local f n=0
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		# Skip files with no entry (comments only).
		grep -qE '^[[:space:]]*(deb|Types:)' "$f" || continue
		n=$((n + 1))
		local dst=$WORK/sources/$n-$(basename "$f")
		cp "$f" "$dst"
		echo "$dst"
	done
}

ensure_mmdebstrap() {
	command -v mmdebstrap >/dev/null && return
	[[ $(id -u) == 0 ]] || die "mmdebstrap is missing: run 'apt-get install mmdebstrap' as root"
	log "installing mmdebstrap from the machine's apt sources"
	apt-get install -y -qq mmdebstrap >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq mmdebstrap >/dev/null; }
}

build_base() {
	local codename
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[[ -n $codename ]] || die "cannot tell the Debian suite from /etc/os-release"
	mapfile -t sources < <(apt_sources)
	((${#sources[@]})) || die "no apt sources in /etc/apt/sources.list(.d)"
	local packages
	packages=$(grep -vE '^[[:space:]]*(#|$)' images/debian/packages | paste -sd, -)
	local hash
	hash=$(EXTRA="$BASE_RECIPE $codename $packages" inputs_hash "${sources[@]}")
	if [[ $(current_hash "$BASE_TAG") == "$hash" ]]; then
		log "$BASE_TAG is up to date"
		return
	fi
	rebuilding "$BASE_TAG"
	ensure_mmdebstrap
	log "$BASE_TAG: Debian $codename with $packages (takes minutes the first time)"
	# Check-Valid-Until/Check-Date off, as snapshot mirrors need; man pages,
	# docs and translations left out; the distribution's default cluster
	# removed (the entrypoint makes its own in PGDATA).
	mmdebstrap --quiet --variant=minbase --include="$packages" \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--aptopt='Acquire::Check-Date "false"' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--customize-hook='rm -rf "$1"/var/lib/postgresql/*/main "$1"/etc/postgresql/*/main' \
		"$codename" "$WORK/rootfs.tar" "${sources[@]}"
	docker import \
		--change "LABEL org.cutover.image=debian-base" \
		--change "LABEL org.cutover.inputs=$hash" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'CMD ["bash"]' \
		"$WORK/rootfs.tar" "$BASE_TAG" >/dev/null
	rm -f "$WORK/rootfs.tar"
}

build_on_base() {
	local name=$1 tag=${TAG[$1]}
	local base_id
	base_id=$(docker image inspect -f '{{.Id}}' "$BASE_TAG")
	local hash
	hash=$(EXTRA="$tag $base_id" inputs_hash images/"$name"/*)
	if [[ $(current_hash "$tag") == "$hash" ]]; then
		log "$tag is up to date"
		return
	fi
	rebuilding "$tag"
	quiet docker build --build-arg "BASE=$BASE_TAG" \
		--label "org.cutover.image=$name" --label "org.cutover.inputs=$hash" \
		-t "$tag" "images/$name"
}

base_done=
for name in $IMAGES; do
	case $name in
	couponapi | cutover | mongo | localstack | toxiproxy | reaper) build_scratch "$name" ;;
	postgres | redis)
		if [[ -z $base_done ]]; then
			build_base
			base_done=1
		fi
		build_on_base "$name"
		;;
	*) die "unknown image $name (known: $ALL)" ;;
	esac
done
docker image prune -f --filter "label=org.cutover.image" >/dev/null
docker image ls --filter "label=org.cutover.image" --filter "reference=$PREFIX/*" --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | sort | sed 's/^/images: /' >&2
log "$REBUILT image(s) rebuilt"
