#!/usr/bin/env bash
# images/kind/build.sh — builds, without any registry, the kind node image the
# kind platform uses by default (`make kind-image`; `make images` runs it too):
#
#   cutover-local/kind-node:<kubernetes version>
#
# `kind build node-image` cannot work here (it fetches the control-plane
# images from a registry), so the image is assembled from:
#   - Kubernetes (kubeadm, kubelet, kubectl, kube-apiserver,
#     kube-controller-manager, kube-scheduler, kube-proxy), etcd, CoreDNS and
#     crictl, built from Go modules pinned by the wrapper modules beside this
#     file (kubernetes/, etcd/, coredns/, crictl/; each go.mod says why), and
#     our own pause (pause/);
#   - a Debian userland made by mmdebstrap from this machine's apt sources
#     (systemd, containerd, runc, CNI plugins, iptables ...);
#   - kind's own node files (entrypoint, systemd units, containerd config),
#     read at build time from the sigs.k8s.io/kind module of go.mod (Apache-2.0)
#     in the module cache, plus node/cutover-entrypoint, which runs before kind's
#     entrypoint (see that file);
#   - the control-plane images, named as `kubeadm config images list` names
#     them for the image repository cutover-local, and our CNI agent
#     (node/cni/), preloaded into the node's containerd as kind preloads them.
#
# The image carries the hash of its inputs (label org.cutover.inputs) and is
# rebuilt only when that hash changes; the Debian root filesystems are kept
# as intermediate images with their own hashes. EXPECT_UP_TO_DATE=1 makes any
# rebuild an error. Needs a Docker engine, Go and mmdebstrap (installed from
# the machine's apt sources when missing).
set -euo pipefail

cd "$(dirname "$0")/../.."
GO=${GO:-go}
HERE=images/kind
PREFIX=cutover-local
# Bump when the way the image is made changes in a way the hashed files
# below do not show.
RECIPE=1

log() { echo "kind-image: $*" >&2; }
die() {
	echo "kind-image: error: $*" >&2
	exit 1
}

WORK=$(mktemp -d)
PRELOAD=
cleanup() {
	[[ -z $PRELOAD ]] || docker rm -f "$PRELOAD" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# quiet CMD... — runs CMD, showing its output only when it fails.
quiet() {
	if ! "$@" >"$WORK/out" 2>&1; then
		tail -n 100 "$WORK/out" >&2
		die "failed: $*"
	fi
}

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"

modversion() { (cd "$1" && "$GO" list -m -f '{{.Version}}' "$2"); }
KIND_VERSION=$("$GO" list -m -f '{{.Version}}' sigs.k8s.io/kind)
KUBE_VERSION=$(modversion $HERE/kubernetes k8s.io/kubernetes)
ETCD_VERSION=$(modversion $HERE/etcd go.etcd.io/etcd/server/v3)
COREDNS_VERSION=$(modversion $HERE/coredns github.com/coredns/coredns)
PAUSE_VERSION=$(sed -n 's/^const version = "\(.*\)"$/\1/p' $HERE/pause/main.go)
[[ -n $PAUSE_VERSION ]] || die "cannot read the pause version from $HERE/pause/main.go"
CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[[ -n $CODENAME ]] || die "cannot tell the Debian suite from /etc/os-release"
NODE_TAG=$PREFIX/kind-node:$KUBE_VERSION
ROOTFS_TAG=$PREFIX/kind-node-rootfs:$KUBE_VERSION
DEBIAN_TAG=$PREFIX/kind-debian:$CODENAME
CNI_TAG=$PREFIX/kind-cni:$KUBE_VERSION

KIND_DIR=$("$GO" mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[[ -d $KIND_DIR/images/base/files ]] || die "kind's node files are not in the module cache ($KIND_DIR)"
KIND_FILES=$KIND_DIR/images/base/files

# apt_sources — copies this machine's enabled apt sources into $WORK/sources
# (one file each, as mmdebstrap takes them) and prints their paths.
apt_sources() {
	mkdir -p "$WORK/sources"
	local f n=0
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		grep -qE '^[[:space:]]*(deb|Types:)' "$f" || continue
		n=$((n + 1))
		local dst=$WORK/sources/$n-$(basename "$f")
		cp "$f" "$dst"
		echo "$dst"
	done
}
mapfile -t SOURCES < <(apt_sources)
((${#SOURCES[@]})) || die "no apt sources in /etc/apt/sources.list(.d)"

# hash_of STRING FILE... — sha256 over STRING and the files' names (those
# in $WORK without the random part) and contents.
hash_of() {
	local extra=$1
	shift
	{
		printf '%s\n' "$extra"
		for f in "$@"; do
			printf '== %s\n' "${f#"$WORK"/}"
			cat "$f"
		done
	} | sha256sum | cut -d' ' -f1
}

current_hash() {
	docker image inspect -f '{{index .Config.Labels "org.cutover.inputs"}}' "$1" 2>/dev/null || true
}

REBUILT=0
rebuilding() {
	[[ ${EXPECT_UP_TO_DATE:-} != 1 ]] || die "$1 is not up to date but EXPECT_UP_TO_DATE=1"
	REBUILT=$((REBUILT + 1))
	log "building $1"
}

# Everything the node image is made of, as files of this repository (the
# wrapper modules' go.mod/go.sum, pause, node files) plus versions.
mapfile -t OWN_FILES < <(find $HERE -type f ! -name '*_test.go' ! -name '*.md' | LC_ALL=C sort)
mapfile -t KIND_FILE_LIST < <(cd "$KIND_FILES" && find . -type f | LC_ALL=C sort)
NODE_PACKAGES=$(grep -vE '^[[:space:]]*(#|$)' $HERE/node/packages | paste -sd, -)
DEBIAN_PACKAGES=$(grep -vE '^[[:space:]]*(#|$)' $HERE/debian-packages | paste -sd, -)
GOVERSION=$("$GO" env GOVERSION)
DEBIAN_HASH=$(hash_of "$RECIPE $CODENAME $DEBIAN_PACKAGES" "${SOURCES[@]}")
NODE_HASH=$(hash_of "$RECIPE $CODENAME $KIND_VERSION $GOVERSION $KUBE_VERSION $NODE_PACKAGES" \
	"${SOURCES[@]}" "${OWN_FILES[@]}" "${KIND_FILE_LIST[@]/#/$KIND_FILES/}")

if [[ $(current_hash "$NODE_TAG") == "$NODE_HASH" ]]; then
	log "$NODE_TAG is up to date"
	exit 0
fi
rebuilding "$NODE_TAG"
START=$SECONDS

ensure_mmdebstrap() {
	command -v mmdebstrap >/dev/null && return
	[[ $(id -u) == 0 ]] || die "mmdebstrap is missing: run 'apt-get install mmdebstrap' as root"
	log "installing mmdebstrap from the machine's apt sources"
	apt-get install -y -qq mmdebstrap >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq mmdebstrap >/dev/null; }
}

# debootstrap_to TAR PACKAGES [HOOK...] — a minbase Debian of this machine's
# suite and sources with PACKAGES, without docs, man pages and translations.
debootstrap_to() {
	local tar=$1 packages=$2
	shift 2
	ensure_mmdebstrap
	mmdebstrap --quiet --variant=minbase --include="$packages" \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--aptopt='Acquire::Check-Date "false"' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		"$@" "$CODENAME" "$tar" "${SOURCES[@]}"
}

# 1. Binaries, with the flags Kubernetes' own build uses (static, trimmed,
# the selinux and notest tags, the release version stamped in).
BIN=$WORK/bin
mkdir -p "$BIN"
gobuild() {
	local dir=$1
	shift
	(cd "$dir" && CGO_ENABLED=0 nice -n 19 "$GO" build -trimpath "$@")
}
log "building Kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, CoreDNS $COREDNS_VERSION, crictl, pause (the longest step when Go's build cache is cold: 38 min measured on 2 busy cores)"
minor=${KUBE_VERSION#v*.}
minor=${minor%%.*}
major=${KUBE_VERSION#v}
major=${major%%.*}
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
t0=$SECONDS
gobuild $HERE/kubernetes -tags selinux,notest -ldflags "$ldflags" -o "$BIN/" \
	k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy
gobuild $HERE/etcd -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
gobuild $HERE/coredns -ldflags "-s -w" -o "$BIN/coredns" .  # the plugins a kind cluster uses (main.go)
gobuild $HERE/crictl -ldflags "-s -w" -o "$BIN/crictl" sigs.k8s.io/cri-tools/cmd/crictl
gobuild . -ldflags "-s -w" -o "$BIN/pause" ./$HERE/pause
log "binaries built in $((SECONDS - t0)) s"
"$BIN/kubeadm" version -o short | grep -qx "$KUBE_VERSION" || die "kubeadm does not report $KUBE_VERSION"

# 2. The control-plane images, named as kubeadm names them. Their tags must
# match what was built: a drift between kubeadm's defaults and the wrapper
# modules is an error, not a silent mismatch.
mapfile -t KUBEADM_IMAGES < <("$BIN/kubeadm" config images list --kubernetes-version "$KUBE_VERSION" --image-repository "$PREFIX")
declare -A IMAGE
for ref in "${KUBEADM_IMAGES[@]}"; do
	name=${ref#"$PREFIX"/}
	name=${name%%:*}
	IMAGE[$name]=$ref
done
want_tag() {
	local name=$1 tag=$2
	[[ ${IMAGE[$name]:-} == "$PREFIX/$name:$tag" ]] ||
		die "kubeadm $KUBE_VERSION expects ${IMAGE[$name]:-no $name image}, the wrapper modules build $name $tag"
}
for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do want_tag $c "$KUBE_VERSION"; done
want_tag coredns "$COREDNS_VERSION"
want_tag pause "$PAUSE_VERSION"
[[ ${IMAGE[etcd]:-} == "$PREFIX/etcd:${ETCD_VERSION#v}-"* ]] ||
	die "kubeadm $KUBE_VERSION expects ${IMAGE[etcd]:-no etcd image}, the etcd wrapper module builds $ETCD_VERSION"

# The Debian userland of kube-proxy (iptables, conntrack) and the CNI agent
# (iproute2, bash).
if [[ $(current_hash "$DEBIAN_TAG") != "$DEBIAN_HASH" ]]; then
	log "building $DEBIAN_TAG (Debian $CODENAME: $DEBIAN_PACKAGES)"
	debootstrap_to "$WORK/debian.tar" "$DEBIAN_PACKAGES"
	docker import --change "LABEL org.cutover.image=kind-debian" --change "LABEL org.cutover.inputs=$DEBIAN_HASH" \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		"$WORK/debian.tar" "$DEBIAN_TAG" >/dev/null
	rm -f "$WORK/debian.tar"
fi

# component NAME REF — builds image REF from $WORK/c/NAME (a Dockerfile and
# its files).
component() {
	quiet docker build --label "org.cutover.image=kind-$1" --label "org.cutover.inputs=$NODE_HASH" -t "$2" "$WORK/c/$1"
}
scratch_image() { # NAME BINARY REF
	local d=$WORK/c/$1
	mkdir -p "$d"
	cp "$BIN/$2" "$d/"
	printf 'FROM scratch\nCOPY %s /usr/local/bin/%s\nENV PATH=/usr/local/bin\nENTRYPOINT ["/usr/local/bin/%s"]\n' "$2" "$2" "$2" >"$d/Dockerfile"
	component "$1" "$3"
}
for c in kube-apiserver kube-controller-manager kube-scheduler etcd; do scratch_image $c $c "${IMAGE[$c]}"; done
# CoreDNS and pause at /, where their Deployments and containerd expect them.
for c in coredns pause; do
	mkdir -p "$WORK/c/$c"
	cp "$BIN/$c" "$WORK/c/$c/"
	printf 'FROM scratch\nCOPY %s /%s\nENTRYPOINT ["/%s"]\n' $c $c $c >"$WORK/c/$c/Dockerfile"
	component $c "${IMAGE[$c]}"
done
mkdir -p "$WORK/c/kube-proxy" "$WORK/c/cni"
cp "$BIN/kube-proxy" "$WORK/c/kube-proxy/kube-proxy.bin"
cp $HERE/node/kube-proxy "$WORK/c/kube-proxy/kube-proxy"
cat >"$WORK/c/kube-proxy/Dockerfile" <<EOF
FROM $DEBIAN_TAG
COPY kube-proxy.bin kube-proxy /usr/local/bin/
EOF
component kube-proxy "${IMAGE[kube-proxy]}"
cp "$BIN/kubectl" $HERE/node/cni/cutover-cni "$WORK/c/cni/"
cat >"$WORK/c/cni/Dockerfile" <<EOF
FROM $DEBIAN_TAG
COPY kubectl cutover-cni /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/cutover-cni"]
EOF
component cni "$CNI_TAG"
PRELOADED=("${KUBEADM_IMAGES[@]}" "$CNI_TAG")

# 3. The node's root filesystem: Debian with the node packages, kind's
# files, the binaries, arranged as kind's images/base Dockerfile arranges
# them.
log "building $ROOTFS_TAG (Debian $CODENAME: $NODE_PACKAGES)"
NODE_FILES=$WORK/nodefiles
mkdir -p "$NODE_FILES/bin"
cp "$BIN/kubeadm" "$BIN/kubelet" "$BIN/kubectl" "$BIN/crictl" "$NODE_FILES/bin/"
cp -r "$KIND_FILES" "$NODE_FILES/kind"
sed "s#@CNI_IMAGE@#$CNI_TAG#" $HERE/node/cni/default-cni.yaml >"$NODE_FILES/default-cni.yaml"
cp $HERE/node/cutover-entrypoint "$NODE_FILES/"
echo "$KUBE_VERSION" >"$NODE_FILES/version"
export NODE_FILES PAUSE_REF=${IMAGE[pause]}
debootstrap_to "$WORK/rootfs.tar" "$NODE_PACKAGES" \
	--customize-hook="$PWD/$HERE/node/customize.sh \"\$1\""
docker import \
	--change "LABEL org.cutover.image=kind-node-rootfs" \
	--change "LABEL org.cutover.inputs=$NODE_HASH" \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	"$WORK/rootfs.tar" "$ROOTFS_TAG" >/dev/null
rm -f "$WORK/rootfs.tar"

# 4. Preload: the images go into the node's containerd (namespace k8s.io,
# not unpacked, as kind's node-image build imports them), then the container
# is committed as the node image, with kind's entrypoint behind ours.
log "preloading ${#PRELOADED[@]} images into the node's containerd"
docker save "${PRELOADED[@]}" -o "$WORK/images.tar"
PRELOAD=cutover-kind-preload-$$
quiet docker run --name "$PRELOAD" --entrypoint /bin/bash -v "$WORK/images.tar:/images.tar:ro" "$ROOTFS_TAG" -c '
set -euo pipefail
containerd --config /dev/null >/tmp/containerd.log 2>&1 &
for _ in $(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests /images.tar
ctr --namespace=k8s.io images ls -q
kill %1
wait || true
rm -rf /run/containerd /tmp/containerd.log
'
for ref in "${PRELOADED[@]}"; do
	grep -qxF "docker.io/$ref" "$WORK/out" || grep -qxF "$ref" "$WORK/out" || die "$ref missing in the node's containerd after the import: $(cat "$WORK/out")"
done
# docker commit takes no STOPSIGNAL: the image's metadata comes from a
# Dockerfile on top of the committed container.
docker commit "$PRELOAD" "$ROOTFS_TAG-preloaded" >/dev/null
docker rm "$PRELOAD" >/dev/null
PRELOAD=
mkdir -p "$WORK/node"
cat >"$WORK/node/Dockerfile" <<EOF
FROM $ROOTFS_TAG-preloaded
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/cutover-entrypoint", "/sbin/init"]
CMD []
LABEL org.cutover.kind.image-repository=$PREFIX org.cutover.kind.kubernetes-version=$KUBE_VERSION
EOF
quiet docker build --label org.cutover.image=kind-node --label "org.cutover.inputs=$NODE_HASH" -t "$NODE_TAG" "$WORK/node"
# Only tags: the node image holds their layers.
docker rmi "$ROOTFS_TAG-preloaded" "$ROOTFS_TAG" >/dev/null
docker image prune -f --filter "label=org.cutover.image" >/dev/null
log "$NODE_TAG built in $((SECONDS - START)) s ($(docker image inspect -f '{{.Size}}' "$NODE_TAG" | numfmt --to=iec))"
