#!/usr/bin/env bash
# User-space instructions per UDP query inside the UDP worker, counted by
# callgrind: a figure that, unlike time, the load of a shared machine does
# not blur. dnsperf sends 20 passes over 1,000 names at 1,500 q/s.
# Usage: bench/udp_instructions.sh DNS_NODE_BIN ['RRL_JSON'] [LABEL]
#   bench/udp_instructions.sh build/src/node/dns-node '{"responses_per_second": 0}' rrl-off
set -euo pipefail
BIN=$1
RRL=${2:-'{"responses_per_second": 0}'}
LABEL=${3:-$BIN}
for t in valgrind dnsperf dig; do command -v "$t" >/dev/null || { echo "missing: $t" >&2; exit 1; }; done
W=$(mktemp -d /tmp/dnsnode-udp-instr.XXXXXX)
trap 'rm -rf "$W"' EXIT
read -r PORT RPORT < <(/usr/bin/python3 -c '
import socket
ps = []
for _ in range(2):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ps.append(s)
print(*[s.getsockname()[1] for s in ps])')
echo "{\"nodes\": {\"0\": {\"query_loc\": \"127.0.0.1:$PORT\", \"raft_loc\": \"127.0.0.1:$RPORT\"}}, \"udp_threads\": 1, \"rrl\": $RRL}" >"$W/cfg.json"
{
  echo 'bench.test. 3600 IN SOA ns1.bench.test. admin.bench.test. 1 7200 3600 1209600 300'
  echo 'bench.test. 3600 IN NS ns1.bench.test.'
  echo 'ns1.bench.test. 3600 IN A 192.0.2.53'
  for i in $(seq 0 999); do echo "h$i.bench.test. 3600 IN A 192.0.2.80"; done
} >"$W/z.zone"
for i in $(seq 0 999); do echo "h$i.bench.test. A"; done >"$W/q.txt"
valgrind --tool=callgrind --callgrind-out-file="$W/cg.out" --toggle-collect='server::UdpServer::worker*' \
  "$BIN" -n 0 -c "$W/cfg.json" -z "$W/z.zone" --data-dir "$W/data" </dev/null >/dev/null 2>"$W/err" &
VP=$!
for _ in $(seq 1 120); do
  dig +short +tries=1 +time=1 @127.0.0.1 -p "$PORT" ns1.bench.test A 2>/dev/null | grep -q 192.0.2.53 && break
  sleep 1
done
ANSWERED=$(dnsperf -s 127.0.0.1 -p "$PORT" -d "$W/q.txt" -n 20 -Q 1500 -c 1 -q 50 2>&1 | awk '/Queries completed/{print $3}')
kill -TERM "$VP"
wait "$VP" || true
IR=$(grep -hE '^(summary|totals):' "$W"/cg.out* | head -1 | awk '{print $NF}')
echo "$LABEL: $ANSWERED answered, $(( IR / ANSWERED )) instructions per query in the UDP worker"
