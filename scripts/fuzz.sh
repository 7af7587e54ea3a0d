#!/usr/bin/env bash
# Runs every libFuzzer target in build-fuzz/ for N seconds each (default 20) on its seed corpus.
# A long campaign: scripts/fuzz.sh 3600
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
failed=0
ran=0
for target in build-fuzz/tests/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  corpus=tests/fuzz/corpus/$name
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  echo "-- $name for ${seconds}s"
  if ! "$target" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="build-fuzz/$name-" "$work" 2>"build-fuzz/$name.log"; then
    echo "FAILED: $name (see build-fuzz/$name.log)"; tail -30 "build-fuzz/$name.log"; failed=$((failed+1))
  else
    grep -E 'stat::number_of_executed_units' "build-fuzz/$name.log" || true
  fi
  ran=$((ran+1))
  rm -rf "$work"
done
echo "fuzz: $((ran-failed)) passed, $failed failed"
[ $failed -eq 0 ]
