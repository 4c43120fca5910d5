#!/usr/bin/env bash
# Builds reth's RLPx benchmark runner (zks-reth/bench, binary reth-rlpx-bench) optimised, from
# the vendored reth v2.5.0 sources at ../shared/vendor when they are there (else GitHub), and
# prints its path. `zks bench versus-reth --runner <that path>` runs it beside zks-devp2p.
# Cold: ~6 min of CPU (reth's networking crates at opt-level 3); not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
vendor="$(cd "$root/../shared/vendor" 2>/dev/null && pwd -P || true)"
config=()
if [ -n "$vendor" ] && [ -f "$vendor/reth-v2.5.0.toml" ]; then
  config=(--config "$vendor/reth-v2.5.0.toml")
fi
cd zks-reth
CARGO_TARGET_DIR="$root/zks-reth/target" cargo "${config[@]}" build --release --locked -p reth-rlpx-bench >&2
echo "$root/zks-reth/target/release/reth-rlpx-bench"
