#!/usr/bin/env bash
# Query benchmark: dns-node vs Knot vs NSD vs the echo floor, UDP and TCP
# (bench/README.md). Usage: scripts/bench-queries.sh [--quick|--full] [--defaults] [query_bench.py options]
#   --quick (default): 10,000 records, 3 s per run, 3 runs (about 2 minutes)
#   --full:  10,000 and 1,000,000 records, 10 s per run, 3 runs (about 15 minutes)
#   --defaults: each server's default worker count, nothing pinned
# The report (Markdown) goes to stdout and to $OUT_DIR/queries-*.md.
source "$(dirname "$0")/bench-common.sh"
mode=(--records 10000 --seconds 3 --runs 3)
extra=()
for a in "$@"; do
  case "$a" in
    --quick) mode=(--records 10000 --seconds 3 --runs 3) ;;
    --full) mode=(--records 10000,1000000 --seconds 10 --runs 3) ;;
    *) extra+=("$a") ;;
  esac
done
bench_need dnsperf knotd nsd taskset g++
bench_build
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench}
WORK=$(mktemp -d /tmp/dnsnode-bench-queries.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
stamp=$(date -u +%Y%m%dT%H%M%SZ)
echo "# scripts/bench-queries.sh $* ($(date -u), load average $(cut -d' ' -f1-3 /proc/loadavg))" | tee "$OUT_DIR/queries-$stamp.md"
"$PY" "$ROOT/bench/query_bench.py" "${mode[@]}" --echo-bin "$ECHO_BIN" --workdir "$WORK" \
  --json "$OUT_DIR/queries-$stamp.json" "${extra[@]}" | tee -a "$OUT_DIR/queries-$stamp.md"
