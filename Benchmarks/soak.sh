#!/bin/bash
# Soak: release finwatch live on lo for SECONDS (default 600) while Benchmarks/churn.py opens and
# closes loopback connections as fast as it can, one in seven left in CLOSE_WAIT for 20 s, so
# alerts fire continuously (about 100 a second). Every 10 s: RSS, peak RSS, descriptors, threads
# and kernel drops (from /metrics). At the end: events by type, firing alerts with and without
# `process`, drops, and the RSS series. Root (capturing on lo). Loopback only.
#
#   Benchmarks/soak.sh [SECONDS]        (SCRATCH_PATH=... picks the SwiftPM scratch path)
set -euo pipefail
seconds=${1:-600}
cd "$(dirname "$0")/.."
scratch=${SCRATCH_PATH:-.build}
swift build -c release --product finwatch --scratch-path "$scratch" >&2
bin="$scratch/release/finwatch"
work=$(mktemp -d /tmp/finwatch-soak.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
listen=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$bin" --interface lo --filter "port $port" --output "$work/events.jsonl" --close-wait-threshold 5s \
    --stats-interval 60s --listen "$listen" 2>"$work/stderr" &
finwatch=$!
churn=
cleanup() {
    [ -n "$churn" ] && kill "$churn" 2>/dev/null || true
    kill -INT "$finwatch" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 50); do curl -sf "http://$listen/healthz" >/dev/null && break; sleep 0.2; done

python3 Benchmarks/churn.py "$seconds" "$port" 20 >"$work/churn.out" &
churn=$!
samples=$((seconds / 10 + 3))
echo "t_s rss_kb peak_kb fds threads kernel_drops" >"$work/series"
for i in $(seq 0 $((samples - 1))); do
    status=/proc/$finwatch/status
    [ -r "$status" ] || break
    drops=$(curl -s "http://$listen/metrics" | awk '/^finwatch_capture_drops_total\{where="kernel"\}/{print $2}')
    echo "$((i * 10)) $(awk '/VmRSS/{print $2}' $status) $(awk '/VmHWM/{print $2}' $status)" \
         "$(ls /proc/$finwatch/fd | wc -l) $(ls /proc/$finwatch/task | wc -l) ${drops:-?}" >>"$work/series"
    kill -0 "$churn" 2>/dev/null || break
    sleep 10
done
wait "$churn" || true
churn=
kill -INT "$finwatch"
wait "$finwatch" || true
trap - EXIT

echo "soak: $seconds s, $(cat "$work/churn.out"), files in $work"
grep -o '"type":"[a-z]*"' "$work/events.jsonl" | sort | uniq -c | sed 's/^/  events /'
echo "  firing alerts with process: $(grep '"status":"firing"' "$work/events.jsonl" | grep -c '"process"' || true)," \
     "without: $(grep '"status":"firing"' "$work/events.jsonl" | grep -vc '"process"' || true)"
tail -1 "$work/events.jsonl" | python3 -c 'import json,sys; e=json.load(sys.stdin); print("  stop: packets", e["packets"], "capture", e.get("capture"))'
column -t "$work/series" | sed 's/^/  /'
