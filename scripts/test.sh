#!/usr/bin/env bash
# Builds everything and runs the whole test suite: unit tests, the Raft
# simulation, the integration tests against the real binary, and short fuzz runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
status=0

echo "== build (RelWithDebInfo, warnings as errors)"
BUILD_DIR=build scripts/build.sh -DDNSNODE_TESTS=ON

echo "== unit and simulation tests (ctest)"
(cd build && ctest --output-on-failure -j 2 --timeout 900) || status=1

echo "== integration and chaos tests (pytest, real processes on loopback)"
DNSNODE_BIN="$root/build/src/node/dns-node" DNSNODE_BUILD_DIR="$root/build" \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration tests/chaos || status=1

if [ "${SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== unit tests under AddressSanitizer and UBSan"
  BUILD_DIR=build-asan scripts/build.sh -DDNSNODE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 --timeout 900 -E 'Sim') || status=1
fi

if [ "${SKIP_FUZZ:-0}" != 1 ] && command -v clang++-14 >/dev/null; then
  echo "== short fuzz runs (libFuzzer)"
  # The gcc build above enforces warnings as errors; clang here hunts crashes.
  CC=clang-14 CXX=clang++-14 BUILD_DIR=build-fuzz scripts/build.sh -DDNSNODE_FUZZ=ON -DDNSNODE_TESTS=OFF -DDNSNODE_WERROR=OFF
  scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || status=1
fi

exit $status
