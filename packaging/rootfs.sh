#!/usr/bin/env bash
# A minimal Debian 12 root with libpcap, made once with debootstrap from Debian's mirror (MIRROR,
# default deb.debian.org, as apt's sources name it) and kept at DIR: the package tests install
# into copies of it, and the image is built on it. CI starts from a fresh clone and makes it
# again (about 2 minutes); `rm -rf DIR` forces that locally.
# Usage: packaging/rootfs.sh DIR   (as root)
set -euo pipefail
dir=$1
mirror=${MIRROR:-http://deb.debian.org/debian}
if [ -x "$dir/usr/bin/dpkg" ] && [ -e "$dir/.finwatch-rootfs-complete" ]; then
    exit 0
fi
rm -rf "$dir.tmp"
mkdir -p "$(dirname "$dir")"
# minbase: dpkg, apt, coreutils and the other Essential packages; libpcap0.8 is finwatch's one
# library beyond libc, libstdc++ and libgcc.
debootstrap --variant=minbase --include=libpcap0.8 bookworm "$dir.tmp" "$mirror" > "$dir.log" 2>&1 \
    || { tail -20 "$dir.log" >&2; exit 1; }
rm -rf "$dir"
mv "$dir.tmp" "$dir"
touch "$dir/.finwatch-rootfs-complete"
