#!/usr/bin/env bash
# Builds everything and runs the whole test suite: unit tests, the Raft
# simulation, the integration tests against the real binary, and short fuzz runs.
# It ends with a summary: each stage's result, the runners' own summary lines,
# and the name of every test that failed, so the tail of a CI log says it all.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
logs=$(mktemp -d)
stages=()

# stage NAME COMMAND...: runs one stage, its output to the terminal and to a log.
stage() {
  local name=$1; shift
  echo "== $name"
  if "$@" 2>&1 | tee "$logs/${#stages[@]}.log"; then
    stages+=("passed  $name")
  else
    stages+=("FAILED  $name")
  fi
}

run_ctest() { (cd "$1" && shift && ctest --output-on-failure -j 2 --timeout 900 "$@"); }

echo "== build (RelWithDebInfo, warnings as errors)"
BUILD_DIR=build scripts/build.sh -DDNSNODE_TESTS=ON

stage "unit and simulation tests (ctest)" run_ctest build

stage "integration and chaos tests (pytest, real processes on loopback)" \
  env DNSNODE_BIN="$root/build/src/node/dns-node" DNSNODE_BUILD_DIR="$root/build" \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfE tests/integration tests/chaos

# Needs root (apt-get install of the package); CI runs as root.
stage "Debian package (cpack -G DEB, apt-get install, run, purge)" scripts/test-package.sh build

if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== build with AddressSanitizer and UBSan"
  BUILD_DIR=build-asan scripts/build.sh -DDNSNODE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  ASAN_OPTIONS=detect_leaks=1 stage "unit tests under AddressSanitizer and UBSan (ctest)" run_ctest build-asan -E Sim
fi

if [ "${SKIP_FUZZ:-0}" != 1 ] && command -v clang++-14 >/dev/null; then
  echo "== build the libFuzzer targets"
  # The gcc build above enforces warnings as errors; clang here hunts crashes.
  CC=clang-14 CXX=clang++-14 BUILD_DIR=build-fuzz scripts/build.sh -DDNSNODE_FUZZ=ON -DDNSNODE_TESTS=OFF -DDNSNODE_WERROR=OFF
  stage "short fuzz runs (libFuzzer)" scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi

echo
echo "== summary"
status=0
for i in "${!stages[@]}"; do
  echo "${stages[$i]}"
  [[ ${stages[$i]} == passed* ]] || status=1
  # ctest's and pytest's own summary lines, then each failed test by name.
  grep -E '^[0-9]+% tests passed|^=* *[0-9]+ (passed|failed|error)|^fuzz: ' "$logs/$i.log" | sed 's/^/        /' || true
  grep -E '^FAILED |^ERROR |^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess aborted|Exception|Not Run)' \
    "$logs/$i.log" | sed 's/^/        /' || true
done
rm -rf "$logs"
exit $status
