#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (docs/reliability.md): builds finwatch-fuzz with the
# fuzzer and AddressSanitizer, seeds each target from Tests/Fuzz and the repository's captures, runs each target SECONDS seconds (default 60), and fails if any input broke it. The corpus a run
# grows is kept in .build-fuzz/corpus/<target> (the next run starts from it); what breaks a target
# lands in .build-fuzz/findings/ and, to become a regression test, goes into Tests/Fuzz/<target>/.
#   Tests/Fuzz/fuzz.sh [SECONDS] [TARGET...]   (targets: decode tracker json)
set -euo pipefail
# Why both flags: SwiftPM's --sanitize=fuzzer is what stops it naming a `main` of its own for the
# executable (libFuzzer brings one); the swift driver passes only the last of several -sanitize
# flags to the compiler, so the sanitizers go in as one flag, last, or the code is built without
# coverage and libFuzzer fuzzes blind.
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
if [ $# -gt 0 ]; then targets=("$@"); else targets=(decode tracker json); fi
scratch=.build-fuzz
FINWATCH_FUZZ=1 swift build -c release --scratch-path "$scratch" --product finwatch-fuzz \
  --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address 2>&1 | grep -vE "Cannot export local symbol|found 1 file\(s\) which are unhandled" >&2
python3 Tests/Fuzz/seeds.py "$scratch/seeds" >&2
mkdir -p "$scratch/findings"
failed=0
for target in "${targets[@]}"; do
  mkdir -p "$scratch/corpus/$target"
  log="$scratch/$target.log"
  # -timeout: one input taking 30 s is a hang (10 s was met by inputs that run in 1 ms, on a machine
  # so loaded the fuzzer got no CPU for 13 s), and a finding. -rss_limit_mb: the table is bounded.
  if FINWATCH_FUZZ_TARGET=$target "$scratch/release/finwatch-fuzz" -max_total_time="$seconds" \
       -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$scratch/findings/$target-" \
       "$scratch/corpus/$target" "$scratch/seeds/$target" >"$log" 2>&1 </dev/null; then
    status=clean
  else
    status=FAILED
    failed=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
  echo "fuzz $target: $status, ${seconds}s, ${runs:-?} inputs, $cov (log $log)"
  if grep -q "Is the code instrumented for coverage" "$log"; then
    echo "fuzz $target: the build has no coverage instrumentation: libFuzzer ran blind"
    failed=1
  fi
  [ "$status" = clean ] || grep -E "ERROR|invariant broken|Fatal error|Test unit written" "$log" | head -8
done
exit $failed
