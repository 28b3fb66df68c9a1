#!/usr/bin/env bash
# finwatch live benchmark (make bench, after run.sh): does a live capture keep up, and what does
# libpcap drop? A network namespace of its own holds a veth pair; finwatch-bench injects a
# generated capture into one end with pcap_inject (as fast as one core can, then paced), finwatch
# captures on the other end, and its `stop` event says what it saw and what the kernel dropped.
# Needs root (namespaces, capture); says so and exits 0 without it. Removes what it creates,
# on every exit path. Addresses in the frames are 198.18.0.0/15 and 2001:db8::/32 only, and
# the frames never leave the namespace.
#
# Environment: SCRATCH_PATH, BENCH_DATA as run.sh; LIVE_PACKETS (default 1000000);
# LIVE_RATES (paced runs, frames per second, default "250000"; the unpaced run always happens).
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH_PATH=${SCRATCH_PATH:-.build}
DATA=${BENCH_DATA:-bench-data}
PACKETS=${LIVE_PACKETS:-1000000}
RATES=${LIVE_RATES:-250000}

say() { printf '%s\n' "$*"; }
value() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
json() { python3 -c 'import json,sys; e=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, {"e": e}))' "$1" "$2"; }

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
    say "== live: skipped (needs root and iproute2 for a network namespace)"
    exit 0
fi

BIN=$(swift build -c release --scratch-path "$SCRATCH_PATH" --show-bin-path)
FINWATCH="$BIN/finwatch"
BENCH="$BIN/finwatch-bench"
FILE="$DATA/mixed-p$PACKETS-s1.pcap"
if [ ! -f "$FILE" ]; then
    "$BENCH" generate --out "$FILE.tmp" --packets "$PACKETS" --seed 1 >/dev/null
    mv "$FILE.tmp" "$FILE"
fi

NS="fwbench-$$"
OUT=$(mktemp -d)
FW_PID=""
cleanup() {
    if [ -n "$FW_PID" ] && kill -0 "$FW_PID" 2>/dev/null; then kill -KILL "$FW_PID" 2>/dev/null || true; fi
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$OUT"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link add fwb0 type veth peer name fwb1
ip -n "$NS" link set fwb0 up
ip -n "$NS" link set fwb1 up

# One run: finwatch on fwb1, inject FILE into fwb0 (paced when RATE is given), stop, read `stop`.
run() {
    local rate=$1 events="$OUT/events-$1.jsonl"
    ip netns exec "$NS" "$FINWATCH" --interface fwb1 --no-listen --output "$events" 2>"$OUT/stderr" &
    FW_PID=$!
    for _ in $(seq 100); do grep -q '"type":"start"' "$events" 2>/dev/null && break; sleep 0.1; done
    local injected
    if [ "$rate" = max ]; then
        injected=$(ip netns exec "$NS" "$BENCH" inject "$FILE" --interface fwb0)
    else
        injected=$(ip netns exec "$NS" "$BENCH" inject "$FILE" --interface fwb0 --rate "$rate")
    fi
    sleep 2   # the last batch through the tracker and the output
    kill -TERM "$FW_PID"
    wait "$FW_PID" || true
    FW_PID=""
    local stop
    stop=$(grep '"type":"stop"' "$events" | tail -1)
    local sent seen received kernel
    sent=$(value sent "$injected")
    seen=$(json "$stop" 'e["packets"]["seen"]')
    received=$(json "$stop" 'e["capture"]["received"]')
    kernel=$(json "$stop" 'e["capture"]["drops_kernel"]')
    printf '%-10s %12s %14s %12s %12s %12s\n' "$rate" "$sent" "$(value packets_per_second "$injected")" "$seen" "$kernel" \
        "$(python3 -c "print(f'{($sent - $seen) / $sent * 100:.3f}')")"
}

say "== live: $PACKETS frames injected into a veth pair, finwatch capturing on the peer"
printf '%-10s %12s %14s %12s %12s %12s\n' rate sent "sent/s" "seen" "drops_kernel" "lost %"
run max
for rate in $RATES; do run "$rate"; done
