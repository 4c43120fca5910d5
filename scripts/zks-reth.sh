#!/usr/bin/env bash
# zks-reth (zks inside a reth v2.5.0 node): formatting, clippy -D warnings, build and its tests,
# and the same for its workspace member reth-rlpx-bench (zks-reth/bench: a benchmark runner of
# reth's own RLPx stack; compiled and unit-tested here, never run as a benchmark),
# when reth's sources can be had: the vendored copy at ../shared/vendor (relative to the repository
# root; see its README), else GitHub. Otherwise prints `SKIPPED: zks-reth (<reason>)`; with
# ZKS_REQUIRE_RETH=1 (CI) a skip is a failure. Its interop tests drive target/release/zks when it
# is there (scripts/test.sh builds it first).
#
# zks-reth is its own workspace (reth: ~360 CPU-s cold, 1.4 GiB): its own lock, its own target/
# Clippy runs as the workspace wrapper of the test build, so reth is compiled once, not twice
# (a `cargo clippy` or `cargo doc` would check all of reth again; missing_docs is among the
# crate's lints, so undocumented public items fail here too).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

skip() {
  if [ "${ZKS_REQUIRE_RETH:-0}" = 1 ]; then
    echo "FAILED: zks-reth is required (ZKS_REQUIRE_RETH=1) but would be skipped: $1" >&2
    exit 1
  fi
  echo "SKIPPED: zks-reth ($1)"
  exit 0
}

# Canonical: the vendored path is part of cargo's fingerprints, so one spelling keeps caches warm.
vendor="$(cd "$root/../shared/vendor" 2>/dev/null && pwd -P || true)"
config=()
if [ -n "$vendor" ] && [ -f "$vendor/reth-v2.5.0.toml" ] && [ -d "$vendor/reth-v2.5.0" ]; then
  config=(--config "$vendor/reth-v2.5.0.toml")
  echo "zks-reth: reth v2.5.0 from the vendored sources ($vendor)"
elif timeout 20 git ls-remote --exit-code --tags https://github.com/paradigmxyz/reth v2.5.0 >/dev/null 2>&1; then
  echo "zks-reth: reth v2.5.0 from GitHub"
else
  skip "no vendored reth sources at ../shared/vendor/reth-v2.5.0 and GitHub is unreachable"
fi
command -v clippy-driver >/dev/null || skip "no clippy-driver (rustup component add clippy)"

cd zks-reth
export CARGO_TARGET_DIR="$root/zks-reth/target"
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"

cargo fmt --check
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Builds the test binary and the example with clippy's lints on zks-reth, and reth-rlpx-bench
# (its unit-test build covers all its code), both under the crates' [lints] (the main workspace's
# policy); any warning fails, as `clippy -D warnings` does. The same selection in both commands:
# one feature set, so reth is compiled once. --no-default-features leaves out the runner's
# asm-keccak (alloy-primitives' keccak-asm), which would unify into zks-reth's test build and
# change it: reth's MAC keccak in this unoptimised build would go from slow Rust to assembly,
# and then interop::a_devp2p_peer_that_reads_nothing_holds_back_a_reth_sender fails (reth
# sends its 4,097 frames within the 3 s stall: 16 KiB of zeros compress to under 1 KiB, and the
# socket buffers hold them all). What the runner still adds (nix: libc's extra_traits) changes
# no behaviour; it does give a plain `cargo test` (zks-reth alone) its own feature set.
sel=(--workspace --no-default-features)
cargo "${config[@]}" test --locked "${sel[@]}" --no-run 2>&1 | tee "$log"
if grep -qE '^(warning|error)' "$log"; then
  echo "zks-reth: warnings (see above)" >&2
  exit 1
fi
cargo "${config[@]}" test --locked "${sel[@]}"
