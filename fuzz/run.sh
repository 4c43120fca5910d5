#!/usr/bin/env bash
# Coverage-guided fuzzing of one target on stable Rust (RUSTC_BOOTSTRAP=1 lets stable rustc take
# cargo-fuzz's -Z flags): ./run.sh TARGET SECONDS [MAX_RUNS] [SANITIZER]
#
# One libFuzzer process (-jobs=1 -workers=1), optimised build (-O) with AddressSanitizer by
# default (SANITIZER=none for a faster uninstrumented-memory run). Stops after SECONDS or MAX_RUNS
# executions (default 10,000,000), whichever comes first.
#   seeds (read only, committed):  corpus/TARGET, regressions/TARGET
#   grown corpus (not committed):  target/fuzz-corpus/TARGET
#   crashes (not committed):       artifacts/TARGET/
#   libFuzzer log and stats:       target/fuzz-logs/TARGET.log
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: run.sh TARGET SECONDS [MAX_RUNS] [SANITIZER]}
seconds=${2:?usage: run.sh TARGET SECONDS [MAX_RUNS] [SANITIZER]}
runs=${3:-10000000}
sanitizer=${4:-address}
work=target/fuzz-corpus/$target
logs=target/fuzz-logs
mkdir -p "$work" "$logs" "artifacts/$target" "regressions/$target"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O -s "$sanitizer" "$target"
start=$(date +%s)
# -jobs=1 makes libFuzzer run the fuzzing in one child process logging to fuzz-0.log; run it
# from the log directory so that file lands there.
bin=$PWD/target/x86_64-unknown-linux-gnu/release/$target
(
    cd "$logs"
    rm -f fuzz-0.log
    "$bin" -jobs=1 -workers=1 -runs="$runs" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$OLDPWD/artifacts/$target/" \
        "$OLDPWD/$work" "$OLDPWD/corpus/$target" "$OLDPWD/regressions/$target" || true
    mv fuzz-0.log "$target.log"
)
end=$(date +%s)
log=$logs/$target.log
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo '?')
crashes=$(find "artifacts/$target" -type f | wc -l)
corpus=$(find "$work" -type f | wc -l)
secs=$((end - start))
echo "RESULT target=$target execs=$execs seconds=$secs exec/s=$((${execs/\?/0} / (secs > 0 ? secs : 1))) corpus=$corpus crashes=$crashes"
grep -E '^(==[0-9]+==ERROR|SUMMARY|thread .* panicked|artifact_prefix|Test unit written)' "$log" | head -20 || true
