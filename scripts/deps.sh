#!/usr/bin/env bash
# Debian packages the build and the tests need beyond Rust and node: a C compiler (the RLPx
# MAC's assembly keccak, the examples' bundled SQLite), iproute2 (`ip`, `tc`: the
# network-namespace testbed) and prometheus (`promtool`: the metrics pages and the deployment
# kit's alert rules are checked with it). Installed only when missing, and only where we may (root with
# apt-get); otherwise says what is missing and leaves it to the build to fail or the testbed to
# skip.
set -euo pipefail
missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
{ command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1; } || missing+=(iproute2)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "deps: missing ${missing[*]} (install them: apt-get install ${missing[*]})" >&2
fi
