#!/bin/bash
# customize.sh ROOTFS — mmdebstrap's customize hook for the kind node image
# (images/kind/build.sh): lays kind's node files, the Kubernetes binaries and
# cutover's entrypoint into ROOTFS the way kind's images/base Dockerfile
# does. NODE_FILES (prepared by build.sh) holds kind/ (kind's images/base/files),
# bin/, default-cni.yaml, cutover-entrypoint and version; PAUSE_REF is the
# pause image containerd uses as the sandbox image.
set -euo pipefail
root=$1
: "${NODE_FILES:?}" "${PAUSE_REF:?}"
k=$NODE_FILES/kind

install -m 0755 "$k"/usr/local/bin/* "$root/usr/local/bin/"
install -d -m 0755 "$root/kind" "$root/kind/bin" "$root/kind/manifests" "$root/LICENSES"
install -m 0644 "$k"/kind/README.txt "$root/kind/"
install -m 0755 "$k"/kind/bin/* "$root/kind/bin/"
install -m 0644 "$k"/LICENSES/* "$root/LICENSES/"
install -m 0644 "$k"/etc/crictl.yaml "$root/etc/"
install -d "$root/etc/containerd" "$root/etc/default" "$root/etc/sysctl.d" "$root/etc/systemd/system/kubelet.service.d"
install -m 0644 "$k"/etc/containerd/* "$root/etc/containerd/"
install -m 0644 "$k"/etc/default/* "$root/etc/default/"
install -m 0644 "$k"/etc/sysctl.d/* "$root/etc/sysctl.d/"
install -m 0644 "$k"/etc/systemd/system/*.service "$k"/etc/systemd/system/*.slice "$root/etc/systemd/system/"
install -m 0644 "$k"/etc/systemd/system/kubelet.service.d/* "$root/etc/systemd/system/kubelet.service.d/"

# The sandbox image is the local pause image, so no registry name remains.
grep -q '^  sandbox_image = ' "$root/etc/containerd/config.toml"
sed -i "s#^  sandbox_image = .*#  sandbox_image = \"$PAUSE_REF\"#" "$root/etc/containerd/config.toml"

# Kubernetes: kubeadm, kubelet, kubectl where kind's node image has them;
# crictl beside kind's containerd paths. containerd, ctr and the runc shim
# come from Debian (/usr/bin); kind's unit starts /usr/local/bin/containerd.
install -m 0755 "$NODE_FILES"/bin/kubeadm "$NODE_FILES"/bin/kubelet "$NODE_FILES"/bin/kubectl "$root/usr/bin/"
install -m 0755 "$NODE_FILES"/bin/crictl "$root/usr/local/bin/"
for b in containerd ctr containerd-shim-runc-v2; do ln -sf "/usr/bin/$b" "$root/usr/local/bin/$b"; done
install -d "$root/opt/cni/bin"
for p in host-local loopback ptp portmap; do ln -sf "/usr/lib/cni/$p" "$root/opt/cni/bin/$p"; done

install -m 0644 "$NODE_FILES/version" "$root/kind/version"
install -m 0644 "$NODE_FILES/default-cni.yaml" "$root/kind/manifests/default-cni.yaml"
install -m 0755 "$NODE_FILES/cutover-entrypoint" "$root/usr/local/bin/cutover-entrypoint"

# The base runtime spec, as kind's Dockerfile makes it from `ctr oci spec`.
chroot "$root" /bin/sh -c "ctr oci spec \
	| jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}' \
	| jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json"
chroot "$root" jq -e .process /etc/containerd/cri-base.json >/dev/null

# kind's Dockerfile clean-up: no units but ours, no binfmt, systemd as init.
find "$root/lib/systemd/system/sysinit.target.wants/" -name "systemd-tmpfiles-setup.service" -delete
rm -f "$root"/lib/systemd/system/multi-user.target.wants/* \
	"$root"/etc/systemd/system/*.wants/* \
	"$root"/lib/systemd/system/local-fs.target.wants/* \
	"$root"/lib/systemd/system/sockets.target.wants/*udev* \
	"$root"/lib/systemd/system/sockets.target.wants/*initctl* \
	"$root"/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >>"$root/etc/systemd/journald.conf"
ln -sf /usr/lib/systemd/systemd "$root/sbin/init"
chroot "$root" systemctl enable kubelet.service containerd.service undo-mount-hacks.service
chroot "$root" systemctl mask systemd-binfmt.service
install -d "$root/etc/kubernetes/manifests"
# Nothing of the build's apt state in the image.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/*
