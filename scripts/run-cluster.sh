#!/usr/bin/env bash
# Starts the three-node example cluster from dns-config.json and zone-files/.
# Nodes 1 and 2 run in the background (logs in data/node-X.log); node 0 runs
# in the foreground so you can type ADD:/REMOVE:/STATUS lines at it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DNSNODE_BIN:-build/src/node/dns-node}
[ -x "$bin" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
mkdir -p data
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for n in 1 2; do
  # End of input does not stop a node: it keeps serving until a signal.
  "$bin" -n "$n" -c dns-config.json -z "zone-files/zf$n.txt" < /dev/null 2> "data/node-$n.log" > "data/node-$n.out" &
  pids+=($!)
done
cat >&2 <<MSG
dns-node cluster: node 0 on 127.0.0.1:10053 (this terminal), node 1 on :10063, node 2 on :10073.
Try, in this terminal:   ADD: newhost.example.com A 192.0.2.77
and in another one:      dig -p 10063 @127.0.0.1 newhost.example.com A
Ctrl-C stops all three nodes.
MSG
"$bin" -n 0 -c dns-config.json -z zone-files/zf0.txt
