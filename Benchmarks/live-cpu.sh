#!/usr/bin/env bash
# finwatch live-path benchmark (make bench, after live.sh): what a packet costs live against what
# the same packet costs from a file, and how fast a backlog drains, for --workers 1 and 2.
#
# 1. Live CPU: a generated file is replayed with `tcpreplay --topspeed --preload-pcap` into a veth
#    pair in a network namespace of its own; finwatch captures on the peer. Its CPU seconds
#    (utime + stime of every thread, /proc/PID/stat) during the replay are set against the same
#    binary's CPU reading the same file (--read), and against `tcpdump -w /dev/null` on the same
#    replay. The `stop` event says what was seen and what the kernel dropped.
# 2. Drained ceiling: finwatch is stopped (SIGSTOP), DRAIN_PACKETS frames are replayed into its
#    capture buffer, it is resumed (SIGCONT) and timed until its packets counter (/metrics) has
#    them all: the rate at which it works off a backlog, which one injecting core cannot reach.
#
# Needs root; says so and exits 0 without it. Removes what it creates on every exit path.
# Addresses in the frames are 198.18.0.0/15 and 2001:db8::/32 only; frames never leave the namespace.
# Environment: SCRATCH_PATH, BENCH_DATA as run.sh; CPU_PACKETS (default 1000000), CPU_CONNECTIONS
# (default 100000), DRAIN_PACKETS (default 200000), CPU_WORKERS (default "1 2"), DRAIN_ROUNDS
# (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH_PATH=${SCRATCH_PATH:-.build}
DATA=${BENCH_DATA:-bench-data}
PACKETS=${CPU_PACKETS:-1000000}
CONNECTIONS=${CPU_CONNECTIONS:-100000}
DRAIN=${DRAIN_PACKETS:-200000}
WORKERS=${CPU_WORKERS:-1 2}
# Drains alternate between the worker counts, round after round, so each pair saw the same load.
DRAIN_ROUNDS=${DRAIN_ROUNDS:-3}

say() { printf '%s\n' "$*"; }
value() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
json() { python3 -c 'import json,sys; e=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, {"e": e}))' "$1" "$2"; }
# cpu PID: utime + stime of the whole process, in seconds.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
# capture_cpu PID: the same for its capture threads only (finwatch-cap-N); the rest is the
# trackers' and the output's queues, the housekeeping and the HTTP server.
capture_cpu() {
    local total=0 t
    for t in /proc/"$1"/task/*; do
        case "$(cat "$t/comm" 2>/dev/null)" in finwatch-cap-*) ;; *) continue ;; esac
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "$t/stat")))
    done
    awk -v hz="$(getconf CLK_TCK)" -v t="$total" 'BEGIN { printf "%.2f", t / hz }'
}

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v tcpreplay >/dev/null; then
    say "== live CPU: skipped (needs root, iproute2 and tcpreplay)"
    exit 0
fi

BIN=$(swift build -c release --scratch-path "$SCRATCH_PATH" --show-bin-path)
FINWATCH="$BIN/finwatch"
BENCH="$BIN/finwatch-bench"
mkdir -p "$DATA"
FILE="$DATA/churn-p$PACKETS-c$CONNECTIONS-s1.pcap"
DRAIN_FILE="$DATA/churn-p$DRAIN-c$CONNECTIONS-s1.pcap"
for spec in "$FILE:$PACKETS" "$DRAIN_FILE:$DRAIN"; do
    file=${spec%%:*}; count=${spec##*:}
    if [ ! -s "$file" ]; then
        "$BENCH" generate --out "$file.tmp" --packets "$count" --connections "$CONNECTIONS" --seed 1 >/dev/null
        mv "$file.tmp" "$file"
    fi
done

NS="fwcpu-$$"
OUT=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$OUT"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add fwc0 type veth peer name fwc1
ip -n "$NS" link set fwc0 up
ip -n "$NS" link set fwc1 up
in_ns() { ip netns exec "$NS" "$@"; }
replay() { in_ns tcpreplay --topspeed --preload-pcap --intf1=fwc0 "$1" 2>&1 | sed -n 's/.*Rated: [0-9.]* Bps, [0-9.]* Mbps, \([0-9.]*\) pps.*/\1/p'; }
wait_for() { for _ in $(seq 200); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

say "== live CPU: $PACKETS packets ($CONNECTIONS connections) replayed at top speed into a veth pair"
say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; other builds may be running)"
offline=$(value cpu_seconds "$("$BENCH" measure -- "$FINWATCH" --read "$FILE" --output /dev/null)")
printf '%-22s %10s %12s %12s %12s %10s\n' what cpu_s "cpu_s/Mpkt" seen drops "replay_pps"
printf '%-22s %10s %12s %12s %12s %10s\n' "finwatch --read" "$offline" \
    "$(awk "BEGIN{printf \"%.3f\", $offline * 1000000 / $PACKETS}")" "$PACKETS" - -

for workers in $WORKERS; do
    events="$OUT/live-$workers.jsonl"
    # ip netns exec execs finwatch: $! is finwatch itself (a shell function here would fork).
    ip netns exec "$NS" "$FINWATCH" --interface fwc1 --no-listen --workers "$workers" --output "$events" \
        2>"$OUT/stderr-$workers" </dev/null >/dev/null &
    pid=$!; PIDS+=("$pid")
    if ! wait_for '"type":"start"' "$events"; then say "finwatch --workers $workers did not start: $(head -2 "$OUT/stderr-$workers")"; continue; fi
    sleep 0.5
    before=$(cpu "$pid"); capture_before=$(capture_cpu "$pid")
    pps=$(replay "$FILE")
    sleep 1   # the last block's timeout, the last batch through the tracker and the output
    after=$(cpu "$pid"); capture_after=$(capture_cpu "$pid")
    kill -TERM "$pid"; wait "$pid" || true
    stop=$(grep '"type":"stop"' "$events" | tail -1 || true)
    if [ -z "$stop" ]; then say "finwatch --workers $workers wrote no stop event: $(head -2 "$OUT/stderr-$workers")"; continue; fi
    live=$(awk "BEGIN{printf \"%.2f\", $after - $before}")
    printf '%-22s %10s %12s %12s %12s %10s\n' "finwatch --workers $workers" "$live" \
        "$(awk "BEGIN{printf \"%.3f\", $live * 1000000 / $PACKETS}")" "$(json "$stop" 'e["packets"]["seen"]')" \
        "$(json "$stop" 'e["capture"]["drops_kernel"]')" "$pps"
    say "ratio live/offline, --workers $workers: $(awk "BEGIN{printf \"%.2f\", $live / $offline}") (target <= 1.3);" \
        "capture threads $(awk "BEGIN{printf \"%.2f\", $capture_after - $capture_before}") s, the rest $(awk "BEGIN{printf \"%.2f\", $live - ($capture_after - $capture_before)}") s"
done

ip netns exec "$NS" tcpdump -i fwc1 -s 256 -w /dev/null 2>"$OUT/tcpdump.err" </dev/null >/dev/null &
pid=$!; PIDS+=("$pid")
wait_for "listening on" "$OUT/tcpdump.err" || true
sleep 0.5
before=$(cpu "$pid")
pps=$(replay "$FILE")
sleep 1
after=$(cpu "$pid")
kill -INT "$pid"; wait "$pid" || true
seen=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$OUT/tcpdump.err")
drops=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$OUT/tcpdump.err")
tcpdump_cpu=$(awk "BEGIN{printf \"%.2f\", $after - $before}")
printf '%-22s %10s %12s %12s %12s %10s\n' "tcpdump -w /dev/null" "$tcpdump_cpu" \
    "$(awk "BEGIN{printf \"%.3f\", $tcpdump_cpu * 1000000 / $PACKETS}")" "$seen" "$drops" "$pps"

say ""
say "== drained live ceiling: $DRAIN frames queued while finwatch is stopped, then timed to see them all"
printf '%-22s %10s %12s %14s\n' what seen seconds "packets/s"
port=19465
for _ in $(seq "$DRAIN_ROUNDS"); do
for workers in $WORKERS; do
    events="$OUT/drain-$workers.jsonl"
    ip netns exec "$NS" "$FINWATCH" --interface fwc1 --listen "127.0.0.1:$port" --workers "$workers" --output "$events" \
        2>"$OUT/stderr-d$workers" </dev/null >/dev/null &
    pid=$!; PIDS+=("$pid")
    if ! wait_for '"type":"start"' "$events"; then say "finwatch --workers $workers did not start"; continue; fi
    sleep 0.5
    kill -STOP "$pid"
    replay "$DRAIN_FILE" >/dev/null
    result=$(in_ns python3 - "$pid" "$port" "$DRAIN" <<'PY'
import os, re, signal, sys, time, urllib.request
pid, port, want = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def seen():
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    match = re.search(r'^finwatch_packets_total\{result="seen"\} (\d+)', body, re.M)
    return int(match.group(1)) if match else 0
start_count = None
os.kill(pid, signal.SIGCONT)
start = time.monotonic()
last, last_change = 0, start
while time.monotonic() - start < 60:
    count = seen()
    now = time.monotonic()
    if count != last: last, last_change = count, now
    if count >= want or now - last_change > 1.0: break
    time.sleep(0.005)
print(f"seen={last} seconds={last_change - start:.3f}")
PY
)
    kill -TERM "$pid"; wait "$pid" || true
    seen=$(value seen "$result"); seconds=$(value seconds "$result")
    printf '%-22s %10s %12s %14s\n' "finwatch --workers $workers" "$seen" "$seconds" \
        "$(awk "BEGIN{printf \"%d\", $seen / ($seconds > 0 ? $seconds : 1)}")"
    port=$((port + 1))
done
done
say "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
