#!/usr/bin/env bash
# Starts the three-node example cluster from dns-config.json and zone-files/,
# with a cluster secret of its own (data/cluster-secret, made on first run).
# Nodes 1 and 2 run in the background (logs in data/node-X.log); node 0 runs
# in the foreground so you can type ADD:/REMOVE:/STATUS lines at it.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DNSNODE_BIN:-build/src/node/dns-node}
[ -x "$bin" ] || { echo "build first: scripts/build.sh" >&2; exit 1; }
mkdir -p data
# The shipped dns-config.json holds a placeholder secret that every node
# refuses. The example cluster gets a secret of its own, made on the first
# run and kept under data/ (ignored by git), and runs on a copy of the config
# that carries it. A secret you put in dns-config.json yourself is kept.
secret_file=data/cluster-secret
if [ ! -s "$secret_file" ]; then
  command -v openssl >/dev/null || { echo "openssl is needed to make a cluster secret: scripts/install-deps.sh" >&2; exit 1; }
  (umask 077 && openssl rand -base64 32 > "$secret_file")
fi
config=data/dns-config.json
(umask 077 && sed "s|\"secret\": *\"change-me[^\"]*\"|\"secret\": \"$(cat "$secret_file")\"|" dns-config.json > "$config")
if grep -q '"change-me' "$config"; then
  echo "$config: could not put the secret from $secret_file into it; edit cluster.secret in dns-config.json" >&2
  exit 1
fi
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for n in 1 2; do
  # End of input does not stop a node: it keeps serving until a signal.
  "$bin" -n "$n" -c "$config" -z "zone-files/zf$n.txt" < /dev/null 2> "data/node-$n.log" > "data/node-$n.out" &
  pids+=($!)
done
cat >&2 <<MSG
dns-node cluster: node 0 on 127.0.0.1:10053 (this terminal), node 1 on :10063, node 2 on :10073.
Try, in this terminal:   ADD: newhost.example.com A 192.0.2.77
and in another one:      dig -p 10063 @127.0.0.1 newhost.example.com A
or reach any node with:  build/src/ctl/dns-nodectl -d data/node-1 status
Ctrl-C stops all three nodes.
MSG
"$bin" -n 0 -c "$config" -z zone-files/zf0.txt
