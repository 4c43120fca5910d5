#!/usr/bin/env bash
# Checks the statements of the READMEs that a machine can check: the crate table lists every
# workspace member; every `zks` command, flag and ZKS_* variable they name is in the binary's
# --help; every metric they name is the node's, and every metric of the node is named; the quick
# start is the two commands the scripts run; every example is listed; every repository path they
# name exists; their Rust code is doc-tested; no doc comment cites a document readers do not have.
# Runs the `zks` binary the workspace tests build: after ./scripts/test.sh (as in .ci/run) that
# build is already there and nothing is compiled.
set -euo pipefail
cd "$(dirname "$0")/.."

failures=0
fail() {
  echo "check-docs: $*" >&2
  failures=$((failures + 1))
}

# The lines of $1 from the heading matching $2 up to (not including) the next heading of that
# level or higher.
section() {
  awk -v start="$2" '
    BEGIN { level = 0 }
    /^#+ / {
      n = index($0, " ") - 1
      if (level && n <= level) exit
      if (!level && index($0, start) == 1) { level = n; next }
    }
    level { print }
  ' "$1"
}

readmes=(README.md */README.md)

# 1. The crate table names every workspace member (as `name` or `name/`).
members=$(sed -n 's/^members *= *\[\(.*\)\]/\1/p' Cargo.toml | tr -d '" ' | tr ',' '\n')
crate_table=$(section README.md '## Architecture' | grep '^| `')
for member in $members; do
  if ! grep -qE "^\| \`${member}/?\` \|" <<<"$crate_table"; then
    fail "README.md: workspace member '$member' is missing from the crate table"
  fi
done

# 2. Commands, flags and variables of the `zks` binary.
if ! build=$(cargo test -q --workspace --no-run 2>&1); then
  echo "$build" >&2
  exit 1
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
zks="$target_dir/debug/zks"
help_of() { "$zks" "$@" --help 2>&1; }

# Every command heading `### \`zks <words> ...\`` names a command whose --help lists the flags of
# the heading and of the section's shell blocks.
all_help=$(help_of)
while IFS= read -r heading; do
  words=()
  for word in $heading; do
    [[ $word =~ ^[a-z][a-z-]*$ ]] || break
    words+=("$word")
  done
  if ! help=$(help_of "${words[@]}"); then
    fail "README.md: 'zks ${words[*]}' is not a command"
    continue
  fi
  all_help+=$'\n'"$help"
  usage=$(echo "$heading"; section README.md "### \`zks ${heading}\`" | sed -n '/^```sh$/,/^```$/p')
  flags=$(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$usage" | sort -u)
  for flag in $flags; do
    grep -qE -- "(^|[ ,])${flag}([ =,]|$)" <<<"$help" || fail "README.md: 'zks ${words[*]}' has no flag $flag"
  done
done < <(sed -n 's/^### `zks \(.*\)`$/\1/p' README.md)
for command in $(section README.md '## The `zks` binary' | grep -oE '`zks [a-z][a-z-]*' | cut -c6- | sort -u); do
  help_of "$command" >/dev/null || fail "README.md: 'zks $command' is not a command"
done

# Flags named anywhere in the binary's sections exist in some --help; so do ZKS_* variables.
binary_docs=$( (section README.md '## The `zks` binary'; cat zks-node/README.md) )
for flag in $(grep -oE -- '--[a-z][a-z0-9-]*' <<<"$binary_docs" | sort -u); do
  grep -qE -- "(^|[ ,])${flag}([ =,]|$)" <<<"$all_help" || fail "README: flag $flag is in no 'zks' --help"
done
for var in $(grep -ohE 'ZKS_[A-Z][A-Z_]*' "${readmes[@]}" | sort -u); do
  grep -q "\[env: ${var}=" <<<"$all_help" || fail "README: variable $var is in no 'zks' --help"
done

# 3. Metrics: the README's table and the node's metrics module name the same set.
named=$(section README.md '### Metrics' | grep -oE '^\| `zks_[a-z0-9_]+`' | grep -oE 'zks_[a-z0-9_]+' | sort -u)
defined=$(grep -oE '"zks_[a-z0-9_]+"' zks-node/src/metrics.rs | tr -d '"' | sort -u)
for metric in $(comm -23 <(echo "$named") <(echo "$defined")); do
  fail "README.md: metric $metric is not in zks-node/src/metrics.rs"
done
for metric in $(comm -13 <(echo "$named") <(echo "$defined")); do
  fail "README.md: metric $metric of zks-node/src/metrics.rs is missing from the metrics table"
done
for metric in $(grep -ohE '`zks_[a-z0-9_]+_(total|seconds|blocks|links|head)`' "${readmes[@]}" | tr -d '`' | sort -u); do
  grep -qx "$metric" <<<"$defined" || fail "README: metric $metric is not in zks-node/src/metrics.rs"
done

# 4. The quick start is exactly the demo and the test script, and both are what they claim.
quick=$(section README.md '## Quick start' | sed -n '/^```sh$/,/^```$/p' | grep -v '^```' | sed 's/ *#.*//')
expected=$'cargo run --release -p zks-node -- demo\n./scripts/test.sh'
[[ $quick == "$expected" ]] || fail "README.md: the quick start is not the two commands"$'\n'"$expected"$'\n'"got:"$'\n'"$quick"
[[ -x scripts/test.sh ]] || fail "scripts/test.sh is missing or not executable"
grep -qx './scripts/test.sh' .ci/run || fail ".ci/run does not run ./scripts/test.sh"
help_of demo >/dev/null || fail "'zks demo' is not a command"

# 5. The examples section lists every example binary, and each file exists.
examples=$(section README.md '## Examples')
for bin in $(awk '/^\[\[bin\]\]$/ { bin = 1; next } /^\[/ { bin = 0 } bin && /^name = / { gsub(/"/, "", $3); print $3 }' examples/Cargo.toml); do
  grep -q "\`$bin\`" <<<"$examples" || fail "README.md: example '$bin' is not in the examples section"
  [[ -f examples/$bin.rs ]] || fail "examples/$bin.rs is missing"
  grep -q -- "--bin $bin" "examples/$bin.rs" || fail "examples/$bin.rs does not say how to run it"
done

# 6. Repository paths named in backticks exist (relative to the README or the root; {a,b}
# alternatives expanded).
for readme in "${readmes[@]}" BENCHMARKS.md; do
  dir=$(dirname "$readme")
  for path in $(grep -oE '`[A-Za-z0-9_.{},/-]+/[A-Za-z0-9_.{},/-]*\.(rs|md|json|sh|toml)`' "$readme" | tr -d '`' | sort -u); do
    for one in $(eval echo "$path"); do
      [[ -e $one || -e $dir/$one ]] || fail "$readme: $one does not exist"
    done
  done
done

# 7. The READMEs' Rust blocks are doc tests: each README with one is included by
# examples/lib.rs, and none is ignored.
for readme in "${readmes[@]}"; do
  if grep -q '^```rust' "$readme"; then
    grep -qF "include_str!(\"../$readme\")" examples/lib.rs ||
      fail "$readme has Rust code that examples/lib.rs does not doc-test"
    ! grep -n '^```rust,ignore' "$readme" || fail "$readme: a Rust block is ignored, not compiled"
  fi
done

# 8. Doc comments say the thing itself instead of citing documents readers do not have.
if grep -rniE --include='*.rs' \
  '\bthe brief\b|design sketch|DESIGN\.md|shared[/ ]spec|\bthe issue (asks|says|predicted|requires|wants)|from the issue' \
  --exclude-dir=target --exclude-dir=.git .; then
  fail "source cites a document readers do not have (see above)"
fi

# 9. Verification is not a zks/3 thing: it runs on zks_2fa/1 beside zks/5 (and in-band on
# zks/3–4). A crate's docs or a README that ties it to zks/3 alone is stale.
stale=$(grep -rnE --include='*.rs' --include='*.md' \
  '\(zks/3\)|zks/3 (link|batch|verification)|used by external nodes on zks/3' \
  --exclude-dir=target --exclude-dir=.git --exclude-dir=node_modules --exclude-dir=tests . |
  grep -vE 'zks/4|zks/5|zks_2fa|seed' || true)
if [ -n "$stale" ]; then
  echo "$stale" >&2
  fail "docs tie verification to zks/3 alone (see above): it runs on zks_2fa/1 beside zks/5 too"
fi

if ((failures)); then
  echo "check-docs: $failures problem(s)" >&2
  exit 1
fi
echo "check-docs: READMEs agree with the code"
