#!/usr/bin/env bash
# Shared by scripts/bench-*.sh: builds dns-node (Release with debug info) and
# the echo floor into $BUILD_DIR (default build-bench/), checks the tools.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
PY=${PYTHON:-/usr/bin/python3}

bench_need() {
  local missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing+=("$t"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing: ${missing[*]} (run scripts/install-deps.sh as root)" >&2
    exit 1
  fi
}

bench_build() {
  if [ -z "${DNSNODE_BIN:-}" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDNSNODE_TESTS=OFF >/dev/null
    ninja -C "$BUILD_DIR" -j "${BENCH_JOBS:-2}" dns-node >&2
    export DNSNODE_BIN="$BUILD_DIR/src/node/dns-node"
  fi
  mkdir -p "$BUILD_DIR/bench"
  ECHO_BIN="$BUILD_DIR/bench/echo_floor_standalone"
  if [ ! -x "$ECHO_BIN" ] || [ "$ROOT/bench/echo_floor.cpp" -nt "$ECHO_BIN" ]; then
    g++ -std=c++20 -O2 -Wall -Wextra -o "$ECHO_BIN" "$ROOT/bench/echo_floor.cpp"
  fi
  export ECHO_BIN
}
