#!/usr/bin/env bash
# /metrics of a live finwatch passes `promtool check metrics` with no problem at all (every family
# has HELP, counters end in _total, units in names): finwatch captures on loopback, a few
# connections open and close there so every family has samples, then one scrape is linted.
# Usage: Tests/packaging/metrics-lint.sh FINWATCH   (root or CAP_NET_RAW: a live capture)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bin=$(realpath "$1")
work=$(mktemp -d)
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; [ -z "$pid" ] || wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# A free loopback port for the endpoint, chosen by the kernel.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --interface lo --listen "127.0.0.1:$port" --output "$work/events.jsonl" --stats-interval 1h \
    2>"$work/stderr" &
pid=$!

python3 - "$port" <<'PY'
import socket, sys, time, urllib.request
port = int(sys.argv[1])
deadline = time.monotonic() + 20
while True:   # bounded: 20 s for the capture to become active
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200:
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("finwatch's /healthz never answered 200")
    time.sleep(0.1)
# Three connections that open and close on loopback: closes, histograms, packets move.
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen()
for _ in range(3):
    client = socket.create_connection(server.getsockname(), timeout=2)
    peer, _ = server.accept()
    client.close(); peer.close()
server.close()
time.sleep(0.5)
PY

python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode())' \
    "$port" > "$work/metrics.txt"
families=$(grep -c '^# TYPE ' "$work/metrics.txt")
helps=$(grep -c '^# HELP ' "$work/metrics.txt")
[ "$families" -ge 10 ] || fail "only $families metric families in the scrape"
[ "$helps" = "$families" ] || fail "$helps HELP lines for $families families"
grep -q '^finwatch_closes_total{close="normal",active_closer="[a-z]*"} [1-9]' "$work/metrics.txt" \
    || fail "the loopback closes were not counted: $(grep closes_total "$work/metrics.txt" | head -3)"

problems=$(promtool check metrics < "$work/metrics.txt" 2>&1) || { echo "$problems" >&2; fail "promtool check metrics"; }
[ -z "$problems" ] || fail "promtool check metrics: $problems"
echo "PASS: /metrics of a live finwatch: $families families, each with HELP; promtool check metrics: no problem"
