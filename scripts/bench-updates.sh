#!/usr/bin/env bash
# Update benchmark: committed changes/s and p50/p99 latency at 1, 10 and 100 in
# flight through dns-node clusters (client at the leader and at a follower), a
# Knot primary and a 3-member etcd cluster; propagation from acknowledgement to
# every node, idle or under query load (bench/README.md).
# Usage: scripts/bench-updates.sh [--quick|--full] [update_bench.py options]
#   --quick (default): 3 s per level, 3 runs, 1,000 dns-node propagation samples per row (20 for Knot)
#   --full: 10 s per level, 3 runs, 2,000 dns-node propagation samples per row (100 for Knot)
# e.g. scripts/bench-updates.sh --full --nodes 3,5,7 --load
source "$(dirname "$0")/bench-common.sh"
mode=(--seconds 3 --runs 3 --prop-samples 1000 --knot-prop-samples 20)
extra=()
need=(knotd etcd)
for a in "$@"; do
  case "$a" in
    --quick) mode=(--seconds 3 --runs 3 --prop-samples 1000 --knot-prop-samples 20) ;;
    --full) mode=(--seconds 10 --runs 3 --prop-samples 2000 --knot-prop-samples 100) ;;
    --load*) need+=(dnsperf); extra+=("$a") ;;
    *) extra+=("$a") ;;
  esac
done
bench_need "${need[@]}"
bench_build
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench}
WORK=$(mktemp -d /tmp/dnsnode-bench-updates.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
stamp=$(date -u +%Y%m%dT%H%M%SZ)
echo "# scripts/bench-updates.sh $* ($(date -u), load average $(cut -d' ' -f1-3 /proc/loadavg))" | tee "$OUT_DIR/updates-$stamp.md"
"$PY" "$ROOT/bench/update_bench.py" "${mode[@]}" --workdir "$WORK" --json "$OUT_DIR/updates-$stamp.json" "${extra[@]}" \
  | tee -a "$OUT_DIR/updates-$stamp.md"
