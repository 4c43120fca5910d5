#!/usr/bin/env bash
# Bounded fuzz smoke for the normal test suite, plain stable Rust (no sanitizer, no coverage):
# builds every target and runs each committed seed (corpus/TARGET) and crash reproducer
# (regressions/TARGET) through it once. Fails if any input panics.
#
# SMOKE_MUTATIONS=N additionally runs N blind (uninstrumented) mutations per target, starting
# from a scratch copy of the seeds, so nothing under fuzz/ is written.
set -euo pipefail
cd "$(dirname "$0")"
# Our own target dir, whatever the caller set: the binaries are run from ./target below.
export CARGO_TARGET_DIR="$PWD/target"
cargo build --quiet --bins
mkdir -p target/smoke-artifacts
mutations=${SMOKE_MUTATIONS:-0}
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^zks-fuzz$')
for t in $targets; do
    mapfile -t inputs < <(find "corpus/$t" "regressions/$t" -type f ! -name '.*' 2>/dev/null | sort)
    if [ "${#inputs[@]}" -eq 0 ]; then
        echo "smoke: $t has no seeds" >&2
        exit 1
    fi
    "./target/debug/$t" -artifact_prefix=target/smoke-artifacts/ "${inputs[@]}" >"target/smoke-$t.log" 2>&1 ||
        { tail -40 "target/smoke-$t.log" >&2; echo "smoke: $t failed" >&2; exit 1; }
    if [ "$mutations" -gt 0 ]; then
        scratch=$(mktemp -d)
        cp "${inputs[@]}" "$scratch/"
        "./target/debug/$t" -artifact_prefix=target/smoke-artifacts/ -runs="$mutations" -seed=1 "$scratch" >>"target/smoke-$t.log" 2>&1 ||
            { rm -rf "$scratch"; tail -40 "target/smoke-$t.log" >&2; echo "smoke: $t failed" >&2; exit 1; }
        rm -rf "$scratch"
    fi
    echo "smoke: $t ok (${#inputs[@]} inputs, $mutations mutations)"
done
