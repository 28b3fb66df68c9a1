#!/usr/bin/env bash
# finwatch benchmark (make bench): throughput against the bare-libpcap floor, peak RSS, and
# resident bytes per open connection and per TIME_WAIT residue. See docs/benchmark.md for what
# each figure means.
#
# Environment:
#   SCRATCH_PATH   SwiftPM scratch path (default .build, the one `make build` uses)
#   BENCH_DATA     where capture files are kept between runs (default bench-data, git-ignored)
#   BENCH_PACKETS  packets in the mixed file (default 5000000)
#   BENCH_SEED     generator seed (default 1)
#   BENCH_RUNS     pairs of timed runs (floor, then finwatch), best of each kept (default 5)
#   BENCH_OPEN     connections held open (then held in TIME_WAIT) for the memory figures (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH_PATH=${SCRATCH_PATH:-.build}
DATA=${BENCH_DATA:-bench-data}
PACKETS=${BENCH_PACKETS:-5000000}
SEED=${BENCH_SEED:-1}
RUNS=${BENCH_RUNS:-5}
OPEN=${BENCH_OPEN:-200000}
OPEN_BASE=1000

say() { printf '%s\n' "$*"; }
# value KEY LINE: the value of key=value in a line of finwatch-bench output.
value() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

say "== build (release, scratch path $SCRATCH_PATH)"
swift build -c release --scratch-path "$SCRATCH_PATH" --product finwatch
swift build -c release --scratch-path "$SCRATCH_PATH" --product finwatch-bench
BIN=$(swift build -c release --scratch-path "$SCRATCH_PATH" --show-bin-path)
FINWATCH="$BIN/finwatch"
BENCH="$BIN/finwatch-bench"
mkdir -p "$DATA"
say "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (working tree modified)')"

say "== generator checks"
# Frames: the generator's own encoder against FinwatchFixtures.FrameBuilder, byte for byte.
"$BENCH" check-frames --count 20000
# Determinism: the same seed twice gives the same bytes; libpcap reads back every packet asked for.
CHECK_A="$DATA/.determinism-a.pcap"; CHECK_B="$DATA/.determinism-b.pcap"
"$BENCH" generate --out "$CHECK_A" --packets 100000 --seed 42 >/dev/null
"$BENCH" generate --out "$CHECK_B" --packets 100000 --seed 42 >/dev/null
sum_a=$(sha256sum "$CHECK_A" | cut -d' ' -f1); sum_b=$(sha256sum "$CHECK_B" | cut -d' ' -f1)
if [ "$sum_a" != "$sum_b" ]; then say "FAIL: seed 42 gave two different files ($sum_a, $sum_b)"; exit 1; fi
read_back=$(value packets "$("$BENCH" floor "$CHECK_A" | tail -1)")
if [ "$read_back" != 100000 ]; then say "FAIL: asked for 100000 packets, libpcap read $read_back"; exit 1; fi
rm -f "$CHECK_A" "$CHECK_B"
say "deterministic: seed 42 twice -> sha256 $sum_a; libpcap reads back 100000 of 100000 packets"

# generate FILE ARGS...: writes FILE once (through a temporary name, so a killed run never
# leaves half a file that later runs would trust).
generate() {
    local file=$1; shift
    if [ -s "$file" ]; then say "using $file"; return; fi
    say "generating $file"
    "$BENCH" generate --out "$file.tmp" "$@"
    mv "$file.tmp" "$file"
}

MIXED="$DATA/mixed-p$PACKETS-s$SEED.pcap"
generate "$MIXED" --packets "$PACKETS" --seed "$SEED"

# run_finwatch FILE OUTPUT EXTRA...: one measured finwatch --read; sets seconds, cpu, rss_kb, status.
run_finwatch() {
    local file=$1 output=$2; shift 2
    local line
    line=$("$BENCH" measure -- "$FINWATCH" --read "$file" --output "$output" "$@" 2>"$DATA/.finwatch-stderr") || true
    seconds=$(value seconds "$line"); cpu=$(value cpu_seconds "$line"); rss_kb=$(value max_rss_kb "$line"); status=$(value exit "$line")
    if [ "${status:-1}" != 0 ]; then
        say "finwatch failed (exit ${status:-?}): $(head -3 "$DATA/.finwatch-stderr" | tr '\n' ' ')"
        return 1
    fi
}

# The floor and finwatch run in turn, not one series after the other: this machine's speed
# drifts by a fifth from one minute to the next, and a ratio of two series taken minutes
# apart measures the drift as much as finwatch. Each pair's ratio is kept too; the figure is
# the best run of each, and the median of the pairs' ratios says how steady it was.
say "== floor (bare libpcap read loop) and finwatch --read, in turn ($RUNS pairs, output /dev/null)"
best_seconds=""; best_cpu=""; best_rss=0; finwatch_ok=1
floor_best_seconds=""; floor_cpu=""; pair_ratios=()
for run in $(seq 1 "$RUNS"); do
    floor_line=$("$BENCH" floor "$MIXED" --runs 1 | tail -1)
    packets=$(value packets "$floor_line")
    floor_seconds=$(value seconds "$floor_line"); floor_run_cpu=$(value cpu_seconds "$floor_line")
    if ! run_finwatch "$MIXED" /dev/null; then finwatch_ok=0; break; fi
    pair=$(awk "BEGIN{printf \"%.3f\", $floor_seconds / $seconds}")
    pair_ratios+=("$pair")
    say "pair=$run floor_seconds=$floor_seconds finwatch_seconds=$seconds finwatch_cpu_seconds=$cpu max_rss_kb=$rss_kb ratio=$pair"
    if [ -z "$floor_best_seconds" ] || awk "BEGIN{exit !($floor_seconds < $floor_best_seconds)}"; then floor_best_seconds=$floor_seconds; fi
    if [ -z "$floor_cpu" ] || awk "BEGIN{exit !($floor_run_cpu < $floor_cpu)}"; then floor_cpu=$floor_run_cpu; fi
    if [ -z "$best_seconds" ] || awk "BEGIN{exit !($seconds < $best_seconds)}"; then best_seconds=$seconds; fi
    if [ -z "$best_cpu" ] || awk "BEGIN{exit !($cpu < $best_cpu)}"; then best_cpu=$cpu; fi
    if [ "$rss_kb" -gt "$best_rss" ]; then best_rss=$rss_kb; fi
done
floor_rate=$(awk "BEGIN{printf \"%d\", $packets / $floor_best_seconds}")
median_ratio=$(printf '%s\n' "${pair_ratios[@]}" | sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')

if [ "$finwatch_ok" = 1 ]; then
    # Sanity: the same run written to a file, to count the close records it really produced.
    EVENTS="$DATA/events.jsonl"
    rm -f "$EVENTS"                       # finwatch appends to --output: start from nothing
    run_finwatch "$MIXED" "$EVENTS" || true
    closes=$(grep -c '"type":"close"' "$EVENTS" || true)
    say "events: $(wc -l <"$EVENTS") lines, $closes close records"
    say "stop event: $(grep '"type":"stop"' "$EVENTS" | tail -1)"
fi

# held MODE: peak RSS (KiB) of finwatch on the --MODE $OPEN and --MODE $OPEN_BASE files, in
# held_big and held_base; fails when either run does.
held() {
    local mode=$1 big="$DATA/$1-$OPEN-s$SEED.pcap" base="$DATA/$1-$OPEN_BASE-s$SEED.pcap"
    generate "$big" --"$mode" "$OPEN" --seed "$SEED"
    generate "$base" --"$mode" "$OPEN_BASE" --seed "$SEED"
    run_finwatch "$big" /dev/null --max-connections 300000 || return 1
    held_big=$rss_kb
    run_finwatch "$base" /dev/null --max-connections 300000 || return 1
    held_base=$rss_kb
}

say "== memory per open connection (--open $OPEN vs --open $OPEN_BASE, --max-connections 300000)"
memory_ok=1
if held open; then rss_open=$held_big; rss_base=$held_base; else memory_ok=0; fi

say "== memory per TIME_WAIT residue (--closed $OPEN vs --closed $OPEN_BASE, --max-connections 300000)"
residue_ok=1
if held closed; then rss_closed=$held_big; rss_closed_base=$held_base; else residue_ok=0; fi

# Instructions under callgrind: unlike seconds on this drifting VM they come out the same on every
# run, so a change can be judged by them. Each figure is the difference of two runs that differ only
# in the packets read (or, for the tracker, only in tracking them; for the output, in the events
# encoded), which removes start-up, loading and end of input. Stage by stage through
# finwatch-bench: valgrind 3.19 cannot run finwatch itself (it stops in finwatch's debug info, and
# on a stripped copy crashes as the threads start).
IR_PACKETS=${BENCH_IR_PACKETS:-500000}
IR_EVENTS=100000
say "== instructions (callgrind: $IR_PACKETS against 1000 packets, $IR_EVENTS events against one)"
instructions_ok=0
if command -v valgrind >/dev/null 2>&1; then
    IR_BIG="$DATA/mixed-p$IR_PACKETS-s$SEED.pcap"; IR_SMALL="$DATA/mixed-p1000-s$SEED.pcap"
    generate "$IR_BIG" --packets "$IR_PACKETS" --seed "$SEED"
    generate "$IR_SMALL" --packets 1000 --seed "$SEED"
    # ir COMMAND...: the instructions callgrind counted for one run of COMMAND.
    ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d ,; }
    # each BIG SMALL COUNT: (BIG - SMALL) / COUNT, or fails when a run gave no count.
    each() { [ -n "$1" ] && [ -n "$2" ] && awk "BEGIN{printf \"%d\", ($1 - $2) / $3}"; }
    if floor_ir=$(each "$(ir "$BENCH" floor "$IR_BIG" --runs 1)" "$(ir "$BENCH" floor "$IR_SMALL" --runs 1)" $((IR_PACKETS - 1000))) \
       && capture_ir=$(each "$(ir "$BENCH" track "$IR_BIG" --runs 0)" "$(ir "$BENCH" track "$IR_SMALL" --runs 0)" $((IR_PACKETS - 1000))) \
       && tracker_ir=$(each "$(ir "$BENCH" track "$IR_BIG" --runs 1)" "$(ir "$BENCH" track "$IR_BIG" --runs 0)" "$IR_PACKETS") \
       && encode_ir=$(each "$(ir "$BENCH" encode --count "$IR_EVENTS")" "$(ir "$BENCH" encode --count 1)" $((IR_EVENTS - 1))); then
        instructions_ok=1
    else
        say "callgrind gave no count for one of the runs: instruction counts skipped"
    fi
else
    say "valgrind is not installed: instruction counts skipped (apt-get install valgrind)"
fi

say ""
say "== results ($(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores, $(uname -m))"
say "packets                  $packets"
say "floor packets/s          $floor_rate"
if [ "$finwatch_ok" = 1 ]; then
    finwatch_rate=$(awk "BEGIN{printf \"%d\", $packets / $best_seconds}")
    ratio=$(awk "BEGIN{printf \"%.3f\", $finwatch_rate / $floor_rate}")
    verdict=$(awk "BEGIN{print ($ratio >= 0.5) ? \"meets\" : \"MISSES\"}")
    say "finwatch packets/s       $finwatch_rate  (best $best_seconds s)"
    say "ratio finwatch/floor     $ratio  ($verdict target >= 0.5; median of the pairs $median_ratio)"
    # CPU time (user + system): what the same ratio would be on an idle machine, roughly.
    cpu_ratio=$(awk "BEGIN{printf \"%.3f\", $floor_cpu / $best_cpu}")
    say "by CPU time              floor $floor_cpu s, finwatch $best_cpu s, ratio $cpu_ratio"
    say "load average             $(cut -d' ' -f1-3 /proc/loadavg)"
    say "finwatch peak RSS        $best_rss KiB"
    say "close records written    $closes"
else
    say "finwatch packets/s       not measured (finwatch --read failed, see above)"
fi
if [ "$memory_ok" = 1 ]; then
    per_connection=$(awk "BEGIN{printf \"%d\", ($rss_open - $rss_base) * 1024 / ($OPEN - $OPEN_BASE)}")
    verdict=$(awk "BEGIN{print ($per_connection <= 200) ? \"meets\" : \"MISSES\"}")
    say "peak RSS, $OPEN open    $rss_open KiB"
    say "peak RSS, $OPEN_BASE open      $rss_base KiB"
    say "bytes per open connection $per_connection  ($verdict target <= 200)"
else
    say "bytes per open connection not measured (finwatch --read failed, see above)"
fi
if [ "$instructions_ok" = 1 ]; then
    say "instructions a packet    floor $floor_ir; capture stage (libpcap, decode, batches) $capture_ir, tracker $tracker_ir"
    say "instructions an event    $encode_ir  (the output stage: JSON and Community ID)"
fi
if [ "$residue_ok" = 1 ]; then
    per_residue=$(awk "BEGIN{printf \"%d\", ($rss_closed - $rss_closed_base) * 1024 / ($OPEN - $OPEN_BASE)}")
    say "peak RSS, $OPEN in TIME_WAIT $rss_closed KiB"
    say "peak RSS, $OPEN_BASE in TIME_WAIT   $rss_closed_base KiB"
    say "bytes per TIME_WAIT residue $per_residue"
else
    say "bytes per TIME_WAIT residue not measured (finwatch --read failed, see above)"
fi
