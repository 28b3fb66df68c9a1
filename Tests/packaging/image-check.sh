#!/usr/bin/env bash
# What the DaemonSet's image holds, checked on its exported root (no container runs: crun cannot
# here): the static finwatch with exactly the manifest's file capabilities, the non-root user the
# manifest runs as, an entrypoint, and a binary that runs in that root as that user (where no
# Swift toolchain exists, and with the host's hidden too). The manifest names this image.
# Usage: Tests/packaging/image-check.sh IMAGE MANIFEST   (as root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
image=$1
manifest=$2
[ "$(id -u)" = 0 ] || fail "needs root (chroot, file capabilities)"
work=$(mktemp -d)
chmod 0755 "$work"   # the root of the chroot: user 65532 must traverse it
container=""
cleanup() { [ -z "$container" ] || podman rm --ignore "$container" >/dev/null; rm -rf "$work"; }
trap cleanup EXIT

grep -Eq "^ +image: $image\$" "$manifest" || fail "$manifest does not name $image"
[ "$(podman image inspect --format '{{.Config.User}}' "$image")" = 65532:65532 ] || fail "image user is not 65532:65532"
podman image inspect --format '{{json .Config.Entrypoint}}' "$image" | grep -q '"/usr/local/bin/finwatch"' || fail "entrypoint is not finwatch"
grep -q 'runAsUser: 65532' "$manifest" || fail "the manifest does not run as 65532"

container=$(podman create "$image")
podman export "$container" | tar -x --xattrs --xattrs-include='*' -C "$work"
caps=$(getcap "$work/usr/local/bin/finwatch" | cut -d" " -f2-)
case "$caps" in
    *cap_dac_read_search,cap_net_raw,cap_sys_ptrace=ep) ;;
    *) fail "file capabilities are '$caps', not cap_net_raw,cap_sys_ptrace,cap_dac_read_search+ep" ;;
esac
for cap in NET_RAW SYS_PTRACE DAC_READ_SEARCH; do
    grep -Eq "^ +- $cap( |$)" "$manifest" || fail "the manifest does not add $cap"
done
grep -q '^finwatch:x:65532:65532:' "$work/etc/passwd" || fail "no user 65532 in the image"
[ -e "$work/usr/lib/x86_64-linux-gnu/libpcap.so.0.8" ] || fail "no libpcap in the image"

cp "$here/../finwatchTests/Golden/normal-orig-first.pcap" "$work/tmp/"
chmod 0644 "$work/tmp/normal-orig-first.pcap"
version=$(in_root "$work" 65532:65532 /usr/local/bin/finwatch --version)
in_root "$work" 65532:65532 /usr/local/bin/finwatch --read /tmp/normal-orig-first.pcap \
    | grep -q '"type":"close".*"close":"normal"' || fail "the image's finwatch did not read a golden capture"
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "PASS: $image ($size bytes): finwatch $version runs from its root as 65532 with the toolchain hidden; capabilities $caps"
