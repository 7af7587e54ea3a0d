#!/usr/bin/env bash
# Memory and load-time benchmark: resident memory after loading the zone and
# time from start to first answer, dns-node vs Knot vs NSD (bench/README.md).
# Usage: scripts/bench-memory.sh [--quick|--full] [memory_bench.py options]
#   --quick (default): 10,000 and 1,000,000 records, 3 runs   --full: the same with 5 runs
source "$(dirname "$0")/bench-common.sh"
mode=(--records 10000,1000000 --runs 3)
extra=()
for a in "$@"; do
  case "$a" in
    --quick) mode=(--records 10000,1000000 --runs 3) ;;
    --full) mode=(--records 10000,1000000 --runs 5) ;;
    *) extra+=("$a") ;;
  esac
done
bench_need knotd nsd taskset
bench_build
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench}
WORK=$(mktemp -d /tmp/dnsnode-bench-memory.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
stamp=$(date -u +%Y%m%dT%H%M%SZ)
echo "# scripts/bench-memory.sh $* ($(date -u), load average $(cut -d' ' -f1-3 /proc/loadavg))" | tee "$OUT_DIR/memory-$stamp.md"
"$PY" "$ROOT/bench/memory_bench.py" "${mode[@]}" --workdir "$WORK" --json "$OUT_DIR/memory-$stamp.json" "${extra[@]}" \
  | tee -a "$OUT_DIR/memory-$stamp.md"
