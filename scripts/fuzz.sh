#!/bin/bash
# Coverage-guided fuzzing (issue #6) with cargo-fuzz on the stable toolchain: `-s none`
# (no sanitizer, which would need nightly), libFuzzer's own limits for hangs and memory.
#   scripts/fuzz.sh TARGET [RUNS [SECONDS]]   TARGET: trace_reader | splat | engine_ops
# It stops after RUNS executions (default 10M) or SECONDS (default: no limit).
# The corpus (fuzz/corpus/TARGET, not committed) starts from the repository's scenarios or
# Linux reports; findings go to fuzz/artifacts/TARGET. Needs `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?target}
runs=${2:-10000000}
secs=${3:-0}
corpus=fuzz/corpus/$target
mkdir -p "$corpus"
case $target in
  trace_reader) cp -n scenarios/*.jsonl tests/scenarios/*.jsonl "$corpus"/ ;;
  splat) cp -n crates/trace/tests/splats/*.txt "$corpus"/ ;;
  engine_ops) ;;
esac
cd fuzz
exec cargo fuzz run -s none "$target" "corpus/$target" -- \
  -runs="$runs" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
