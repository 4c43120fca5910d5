#!/usr/bin/env bash
# The test command of the README: everything a clean machine needs, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh

# The independent RLPx peer used by the interop tests (pinned by package-lock.json).
if [ -f tests/interop/package-lock.json ]; then
  npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
# Multi-host scenarios on network namespaces (root; says SKIPPED otherwise, fails instead with
# ZKS_REQUIRE_NETNS=1): real release binaries, so the report they print is seen here.
cargo build --release -p zks-node
cargo run --release -p zks-netns
# zks inside a reth node (its own workspace; SKIPPED without reth's sources, a failure then with
# ZKS_REQUIRE_RETH=1). After the release build: its interop tests drive target/release/zks.
./scripts/zks-reth.sh
# nextest does not run doc tests.
cargo test --workspace --doc
# Every fuzz target replays its committed seeds and crash reproducers, plus a few thousand
# blind mutations (bounded; the long coverage-guided runs are in fuzz/README.md).
SMOKE_MUTATIONS=2000 fuzz/smoke.sh
