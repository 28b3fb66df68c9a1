#!/usr/bin/env bash
# The memory bound at scale (make bench): a flood of FLOOD_FLOWS distinct 4-tuples (default
# 10,000,000), one SYN and then one FIN+ACK on each, read by the release binary at its default
# --max-connections; peak RSS against the README's bounds, 32 MiB + 400 B (SYN) or 700 B (FIN)
# a tracked connection. The test suite runs the same flood at 1,000,000 tuples.
#   SCRATCH_PATH  SwiftPM scratch path (default .build)   BENCH_DATA  where the files are kept
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH_PATH=${SCRATCH_PATH:-.build}
DATA=${BENCH_DATA:-bench-data}
FLOWS=${FLOOD_FLOWS:-10000000}
MAX=262144
swift build -c release --scratch-path "$SCRATCH_PATH" --product finwatch >/dev/null
swift build -c release --scratch-path "$SCRATCH_PATH" --product finwatch-bench >/dev/null
BIN=$(swift build -c release --scratch-path "$SCRATCH_PATH" --show-bin-path)
mkdir -p "$DATA"
echo "== flood: $FLOWS distinct 4-tuples, --max-connections $MAX (default)"
failed=0
for flags in syn fin; do
  file="$DATA/flood-$flags-$FLOWS.pcap"
  [ -s "$file" ] || "$BIN/finwatch-bench" flood --out "$file" --flows "$FLOWS" --flags "$flags" >/dev/null
  per=$([ "$flags" = syn ] && echo 400 || echo 700)
  bound_kb=$(( (32 * 1048576 + MAX * per) / 1024 ))
  line=$("$BIN/finwatch-bench" measure -- "$BIN/finwatch" --read "$file" --output /dev/null 2>/dev/null | tail -1)
  rss=$(sed -n 's/.*max_rss_kb=\([0-9]*\).*/\1/p' <<<"$line")
  secs=$(sed -n 's/.*seconds=\([0-9.]*\) cpu.*/\1/p' <<<"$line")
  verdict=ok; [ "${rss:-0}" -gt 0 ] && [ "$rss" -lt "$bound_kb" ] || { verdict=OVER; failed=1; }
  echo "flood $flags: $FLOWS tuples in ${secs}s, peak RSS ${rss} KiB, bound ${bound_kb} KiB (32 MiB + $per B x $MAX): $verdict"
done
exit $failed
