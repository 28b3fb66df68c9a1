#!/usr/bin/env bash
# The package's life cycle in a throwaway Debian 12 root (a copy of packaging/rootfs.sh's root,
# `dpkg --root`, maintainer scripts chrooted there): install, upgrade over itself with an edited
# conffile, remove, purge. Each step is checked on the files and dpkg's database. No systemd runs
# in the root, so the maintainer scripts' start/reload must be skipped, not fail; and the host's
# systemd is never touched (its unit directories are compared before and after). The installed
# binary runs in the root (no toolchain there) and with the toolchain hidden.
# Usage: Tests/packaging/deb-cycle.sh DEB BASE_ROOT   (as root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
deb=$(realpath "$1")
base=$(realpath "$2")
[ "$(id -u)" = 0 ] || fail "needs root (dpkg --root, chroot)"
root=$(mktemp -d "$(dirname "$base")/deb-cycle.XXXXXX")
trap 'rm -rf "$root"' EXIT
cp -a "$base/." "$root/"

host_units() { { ls -la /etc/systemd/system /etc/systemd/system/multi-user.target.wants /lib/systemd/system/finwatch.service 2>&1 || true; } | md5sum; }
host_before=$(host_units)

status() { dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${db:Status-Status}' finwatch 2>/dev/null || echo not-installed; }
exists() { [ -e "$root$1" ] || [ -L "$root$1" ]; }
dpkg_root() { dpkg --root="$root" "$@" > "$root.log" 2>&1 || { cat "$root.log" >&2; fail "dpkg $*"; }; rm -f "$root.log"; }

# --- install -----------------------------------------------------------------------------------
dpkg_root -i "$deb"
[ "$(status)" = installed ] || fail "after install: $(status)"
for path in /usr/bin/finwatch /lib/systemd/system/finwatch.service /etc/default/finwatch \
            /etc/logrotate.d/finwatch /usr/share/man/man8/finwatch.8.gz \
            /usr/share/bash-completion/completions/finwatch /usr/share/zsh/vendor-completions/_finwatch \
            /usr/share/fish/vendor_completions.d/finwatch.fish /usr/share/doc/finwatch/operations.md \
            /usr/share/doc/finwatch/copyright; do
    exists "$path" || fail "install left no $path"
done
grep -q '^ExecStart=/usr/bin/finwatch ' "$root/lib/systemd/system/finwatch.service" || fail "unit's ExecStart is not /usr/bin/finwatch"
grep -q '^Documentation=file:///usr/share/doc/finwatch/operations.md' "$root/lib/systemd/system/finwatch.service" || fail "unit's Documentation= points elsewhere"
# Enabled the Debian way (deb-systemd-helper, as dh_installsystemd's postinst does) though no
# systemd runs: the link is there for the next boot.
[ -L "$root/etc/systemd/system/multi-user.target.wants/finwatch.service" ] || fail "not enabled: no multi-user.target.wants link"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Conffiles}\n' finwatch | grep -q ' /etc/default/finwatch ' \
    || fail "/etc/default/finwatch is not a conffile"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Depends}\n' finwatch | grep -q 'libpcap0.8' || fail "no libpcap0.8 dependency"
[ "$(in_root "$root" 0:0 /usr/bin/finwatch --version)" = "$(dpkg-deb -f "$deb" Version)" ] || fail "installed --version is not the package's"
cp "$here/../finwatchTests/Golden/normal-orig-first.pcap" "$root/tmp/"
in_root "$root" 0:0 /usr/bin/finwatch --read /tmp/normal-orig-first.pcap | grep -q '"type":"close".*"close":"normal"' \
    || fail "the installed binary did not read a golden capture in the root with the toolchain hidden"
in_root "$root" 0:0 /usr/bin/finwatch --generate-completion-script bash | sed '1{/^#!/d}' \
    | cmp -s - "$root/usr/share/bash-completion/completions/finwatch" \
    || fail "the bash completion is not the binary's own"
echo "ok: installed, enabled, conffile registered, binary runs in the root"

# --- upgrade over itself, with the operator's edit in the conffile ------------------------------
echo "FINWATCH_STATS_INTERVAL=30s" >> "$root/etc/default/finwatch"
dpkg_root -i "$deb"
[ "$(status)" = installed ] || fail "after upgrade: $(status)"
grep -q '^FINWATCH_STATS_INTERVAL=30s$' "$root/etc/default/finwatch" || fail "upgrade lost the edit in /etc/default/finwatch"
ls "$root"/etc/default/finwatch.dpkg-* >/dev/null 2>&1 && fail "upgrade left $(ls "$root"/etc/default/finwatch.dpkg-*)"
[ -L "$root/etc/systemd/system/multi-user.target.wants/finwatch.service" ] || fail "upgrade disabled the unit"
echo "ok: upgraded over itself, the edited conffile kept"

# --- remove: the program goes, the configuration and the events stay ---------------------------
mkdir -p "$root/var/log/private/finwatch"
echo '{"type":"stop"}' > "$root/var/log/private/finwatch/events.jsonl"
ln -sfn private/finwatch "$root/var/log/finwatch"
dpkg_root -r finwatch
[ "$(status)" = config-files ] || fail "after remove: $(status)"
for path in /usr/bin/finwatch /lib/systemd/system/finwatch.service /usr/share/man/man8/finwatch.8.gz; do
    exists "$path" && fail "remove left $path"
done
grep -q '^FINWATCH_STATS_INTERVAL=30s$' "$root/etc/default/finwatch" || fail "remove touched /etc/default/finwatch"
[ -e "$root/var/log/finwatch/events.jsonl" ] || fail "remove deleted the events"
echo "ok: removed, configuration and events kept"

# --- purge: nothing of finwatch is left ---------------------------------------------------------
dpkg_root -P finwatch
[ "$(status)" = not-installed ] || fail "after purge: $(status)"
left=$(cd "$root" && find etc var lib usr -name '*finwatch*' 2>/dev/null | grep -v '^var/lib/dpkg/' || true)
[ -z "$left" ] || fail "purge left: $left"
echo "ok: purged, nothing left"

[ "$(host_units)" = "$host_before" ] || fail "the host's systemd unit directories changed"
echo "PASS: install, upgrade, remove, purge of $(basename "$deb") in a throwaway root"
