#!/usr/bin/env bash
# Runs every libFuzzer target in build-fuzz/ on its seed corpus, N seconds
# each (default 20, as CI does).
#   A long campaign by time:   scripts/fuzz.sh 3600
#   A campaign by executions:  FUZZ_RUNS=10000000 scripts/fuzz.sh
#   Only some targets:         FUZZ_TARGETS="fuzz_responder fuzz_update" scripts/fuzz.sh 60
# With FUZZ_KEEP=1 the grown corpus stays in build-fuzz/corpus/<target>.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
failed=0
ran=0
if [ -n "${FUZZ_RUNS:-}" ]; then limit=(-runs="$FUZZ_RUNS"); else limit=(-max_total_time="$seconds"); fi
for target in build-fuzz/tests/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]]; then continue; fi
  corpus=tests/fuzz/corpus/$name
  if [ "${FUZZ_KEEP:-0}" = 1 ]; then work=build-fuzz/corpus/$name; mkdir -p "$work"; else work=$(mktemp -d); fi
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  echo "-- $name (${limit[0]#-})"
  started=$(date +%s)
  if ! "$target" "${limit[@]}" -print_final_stats=1 -artifact_prefix="build-fuzz/$name-" "$work" 2>"build-fuzz/$name.log"; then
    echo "FAILED: $name (see build-fuzz/$name.log)"; tail -30 "build-fuzz/$name.log"; failed=$((failed+1))
  else
    echo "$(grep -E 'stat::number_of_executed_units' "build-fuzz/$name.log" || true) in $(( $(date +%s) - started )) s"
  fi
  ran=$((ran+1))
  [ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "$work"
done
echo "fuzz: $((ran-failed)) passed, $failed failed"
[ $failed -eq 0 ]
