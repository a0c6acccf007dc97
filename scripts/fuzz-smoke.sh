#!/usr/bin/env bash
# Short fuzzing runs of every target (about a minute each by default), as
# CI's smoke test. Builds the targets the way `cargo fuzz build` does (the
# nightly toolchain with libFuzzer's coverage instrumentation), without
# needing cargo-fuzz installed. Crashes are saved under fuzz/artifacts/.
#
#   scripts/fuzz-smoke.sh [seconds-per-target]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-target}"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros.
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
cargo +nightly build --release --bins --target "$host"
for target in parse_command ingest; do
  mkdir -p "corpus/$target" "artifacts/$target"
  echo "==> fuzzing $target for ${secs}s"
  # A private copy of the corpus, so the smoke run leaves the tree clean.
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/"
  log="$work.log"
  status=0
  "$CARGO_TARGET_DIR/$host/release/$target" -max_total_time="$secs" -max_len=65536 \
    -rss_limit_mb=2048 -artifact_prefix="artifacts/$target/" -print_final_stats=1 \
    "$work" >"$log" 2>&1 || status=$?
  grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|panicked|ERROR|SUMMARY" "$log" || true
  if [ "$status" -ne 0 ]; then tail -40 "$log"; fi
  rm -f "$log"
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    echo "fuzz target $target failed; see fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
