#!/usr/bin/env bash
# Runs a real crate's test suite with std::sync replaced by lockdep::sync (issue #3).
#
#   scripts/real-crate.sh [CRATE] [VERSION]      (default: threadpool 1.8.1)
#   LOCKDEP_BASELINE=1 scripts/real-crate.sh     the same suite on std::sync, for comparison
#   LOCKDEP_UNOPT=1 scripts/real-crate.sh        validator built without optimization
#
# The crate is fetched from crates.io into a temporary directory (nothing is committed),
# every `std::sync` path in its sources is rewritten to `lockdep::sync`, `lockdep` (this
# workspace's) is added as a path dependency, and its tests run with validation on
# (LOCKDEP=warn: reports are printed, the run goes on). Prints the test summary and every
# lockdep report raised.
set -euo pipefail
crate=${1:-threadpool}
version=${2:-1.8.1}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Fetch the exact version through a throwaway project.
mkdir -p "$work/fetch/src"
cat > "$work/fetch/Cargo.toml" <<TOML
[package]
name = "fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
$crate = "=$version"
TOML
echo 'fn main() {}' > "$work/fetch/src/main.rs"
(cd "$work/fetch" && cargo fetch -q)
src=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 2 -type d -name "$crate-$version" | head -1)
[ -n "$src" ] || { echo "could not fetch $crate $version"; exit 2; }
cp -r "$src" "$work/$crate"
cd "$work/$crate"

# LOCKDEP_BASELINE=1: run the crate's suite as published (std::sync), for the time ratio.
if [ -n "${LOCKDEP_BASELINE:-}" ]; then
    CARGO_TARGET_DIR="$repo/target/real-crate-baseline" cargo test -q 2>&1 | grep -E "^test result" || true
    exit 0
fi

# std::sync -> lockdep::sync in code (not in doc comments: doc examples use the crate's own
# API and stay as they are).
files=$(grep -rl "std::sync" --include=*.rs . || true)
lines=0
for f in $files; do
    n=$(grep -cE '^[[:space:]]*[^/[:space:]].*std::sync|^[[:space:]]*use std::sync' "$f" || true)
    lines=$((lines + n))
    sed -i -E '/^[[:space:]]*\/\/[\/!]/!s/std::sync/lockdep::sync/g' "$f"
done
echo "rewrote std::sync on $lines code lines of $crate $version"

# Edition 2015 crates need `extern crate` to name a dependency.
if ! grep -qE '^edition *= *"20(18|21|24)"' Cargo.toml; then
    for root in src/lib.rs src/main.rs; do
        [ -f "$root" ] || continue
        # After the leading inner doc comments and crate attributes.
        first=$(awk '!/^[[:space:]]*(\/\/|#!\[|$)/ {print NR; exit}' "$root")
        sed -i "${first:-1}i extern crate lockdep;" "$root"
    done
fi

# Depend on this workspace's lockdep; keep the crate out of any parent workspace.
printf '\n[dependencies.lockdep]\npath = "%s/crates/lockdep"\n\n[workspace]\n' "$repo" >> Cargo.toml
# As the README recommends: the validator optimized even in test builds (the crate under
# test stays as it is). LOCKDEP_UNOPT=1 leaves the validator unoptimized, for comparison.
if [ -z "${LOCKDEP_UNOPT:-}" ]; then
    printf '\n[profile.dev.package.lockdep-core]\nopt-level = 3\n[profile.dev.package.lockdep]\nopt-level = 3\n' >> Cargo.toml
fi

set +e
LOCKDEP=warn CARGO_TARGET_DIR="$repo/target/real-crate${LOCKDEP_UNOPT:+-unopt}" cargo test -q 2> "$work/stderr.txt" > "$work/stdout.txt"
status=$?
set -e
grep -E "^test result|passed|failed" "$work/stdout.txt" | tail -5 || true
grep -E "^error" -A6 "$work/stderr.txt" | head -30 || true
reports=$(grep -cE "^(ERROR|WARNING): " "$work/stderr.txt" || true)
echo "lockdep reports: $reports"
grep -E "^(ERROR|WARNING): |^possible|^kind:" "$work/stderr.txt" | head -40 || true
echo "cargo test exit status: $status"
exit $status
