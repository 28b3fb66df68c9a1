#!/usr/bin/env bash
# Builds the DaemonSet's image with podman: packaging/image.sh BIN BASE_ROOT WORK IMAGE
#  1. the base: a copy of BASE_ROOT (packaging/rootfs.sh) without apt's caches, documentation and
#     locales, plus the user and group finwatch (65532, the manifest's runAsUser), imported with
#     `podman import` as localhost/finwatch-base:bookworm;
#  2. packaging/Containerfile on it (FROM and COPY only), with the static binary carrying its
#     file capabilities in the build context.
set -euo pipefail
bin=$(realpath "$1")
base_root=$(realpath "$2")
work=$(realpath -m "$3")
image=$4
top=$(cd "$(dirname "$0")/.." && pwd)
base_image=localhost/finwatch-base:bookworm

rm -rf "$work"
mkdir -p "$work/root" "$work/context"
cp -a "$base_root/." "$work/root/"
(
    cd "$work/root"
    rm -f .finwatch-rootfs-complete
    rm -rf var/cache/apt/* var/lib/apt/lists/* var/log/* usr/share/doc/* usr/share/man/* \
           usr/share/info/* usr/share/locale/* tmp/* var/tmp/*
    grep -q '^finwatch:' etc/group || echo 'finwatch:x:65532:' >> etc/group
    grep -q '^finwatch:' etc/passwd || echo 'finwatch:x:65532:65532:finwatch:/nonexistent:/usr/sbin/nologin' >> etc/passwd
    grep -q '^finwatch:' etc/shadow || echo 'finwatch:!:19000::::::' >> etc/shadow
)
tar -C "$work/root" --numeric-owner --xattrs --xattrs-include='*' -cf "$work/base.tar" .
podman rmi --ignore "$image" "$base_image" >/dev/null
podman import --quiet "$work/base.tar" "$base_image" >/dev/null

install -m 0755 "$bin" "$work/context/finwatch"
setcap cap_net_raw,cap_sys_ptrace,cap_dac_read_search+ep "$work/context/finwatch"
cp "$top/packaging/Containerfile" "$work/context/Containerfile"
podman build --quiet --build-arg BASE="$base_image" --tag "$image" "$work/context" >/dev/null
rm -rf "$work/root" "$work/base.tar"
echo "built $image ($(podman image inspect --format '{{.Size}}' "$image") bytes)"
