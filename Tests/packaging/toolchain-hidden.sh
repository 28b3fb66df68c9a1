#!/usr/bin/env bash
# The installed finwatch runs where the Swift toolchain is not (issue 13): in a mount namespace
# where the toolchain's directory is an empty tmpfs, `--version`, `--read` of every golden capture
# (byte for byte the golden JSON lines) and `selftest` (a live capture on loopback: root) succeed.
# Also: the binary needs no Swift library (readelf) and every library it needs resolves.
# Usage: Tests/packaging/toolchain-hidden.sh FINWATCH   (as installed by `make install DESTDIR=…`)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bin=$(realpath "$1")
golden="$here/../finwatchTests/Golden"
[ "$(id -u)" = 0 ] || fail "needs root (unshare, and selftest's live capture)"

needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
echo "NEEDED: $needed"
case "$needed" in *swift*|*Foundation*|*dispatch*|*BlocksRuntime*) fail "still needs the Swift runtime: $needed" ;; esac
runpath=$(readelf -d "$bin" | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p')
case "$runpath" in ''|'$ORIGIN') ;; *) fail "has a RUNPATH outside itself: $runpath" ;; esac

# Stripped, finwatch is 26.8 MB with FoundationEssentials; one use of Thread, FileHandle,
# JSONSerialization (or a dependency's trait importing Foundation) links Foundation and ICU's 34 MB
# of data back in. Catch that here rather than in the package's size.
size=$(stat -c %s "$bin")
echo "size: $size bytes"
[ "$size" -lt 40000000 ] || fail "$size bytes: is full Foundation (and ICU) linked in again?"

hidden bash -c '
    set -euo pipefail
    bin=$1 golden=$2
    if command -v swift >/dev/null 2>&1 && swift --version >/dev/null 2>&1; then echo "swift still runs" >&2; exit 1; fi
    if ldd "$bin" | grep -q "not found"; then ldd "$bin" >&2; exit 1; fi
    version=$("$bin" --version)
    echo "--version: $version"
    cd "$golden"
    count=0
    for capture in *.pcap; do
        "$bin" --read "$capture" --close-wait-threshold 1s --fin-wait-2-threshold 1s | cmp - "${capture%.pcap}.jsonl" \
            || { echo "--read $capture differs from its golden lines" >&2; exit 1; }
        count=$((count + 1))
    done
    echo "--read: $count golden captures, every line as expected"
    "$bin" selftest
' toolchain-hidden "$bin" "$golden"
echo "PASS: $bin runs with $(toolchain_dir) hidden"
