#!/usr/bin/env bash
# Builds the Debian package from a build tree (cpack -G DEB), installs it with
# apt-get as an operator would, checks the units with systemd-analyze verify,
# runs the installed dns-node as the package's user against the shipped
# example config and zone (systemd itself cannot run here), asks it with dig
# and dns-nodectl, then purges the package and checks nothing is left.
# Run as root on a machine where no dns-node package is installed yet.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
unit_dir=/usr/lib/systemd/system
node_pid=

fail() { echo "test-package: FAILED: $*" >&2; exit 1; }
cleanup() {
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# A package left by an earlier run that stopped half-way would hide what this one installs.
if dpkg-query -W -f='${Status}' dns-node 2>/dev/null | grep -q installed; then
  DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y -qq dns-node >/dev/null
fi

echo "-- cpack -G DEB"
rm -f "$build_dir"/dns-node_*.deb
(cd "$build_dir" && cpack -G DEB >/dev/null 2>&1) || fail "cpack -G DEB"
deb=$(ls "$build_dir"/dns-node_*.deb)
dpkg-deb -I "$deb" | grep -E '^ (Package|Version|Depends):'

echo "-- apt-get install $deb"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" >/dev/null
for f in /usr/bin/dns-node /usr/bin/dns-nodectl /usr/bin/dns-register "$unit_dir/dns-node@.service" \
         "$unit_dir/dns-register.service" /etc/dns-node/dns-config.json /etc/dns-node/zones/example.com.zone; do
  [ -e "$f" ] || fail "$f is not installed"
done
getent passwd dns-node >/dev/null || fail "the dns-node user was not created"
[ "$(stat -c '%U:%G %a' /var/lib/dns-node)" = "dns-node:dns-node 750" ] || fail "/var/lib/dns-node: $(stat -c '%U:%G %a' /var/lib/dns-node)"
[ "$(stat -c '%U:%G %a' /etc/dns-node/dns-config.json)" = "root:dns-node 640" ] || fail "config mode $(stat -c '%U:%G %a' /etc/dns-node/dns-config.json)"
grep -q '^ExecStart=/usr/bin/dns-node ' "$unit_dir/dns-node@.service" || fail "the unit does not start /usr/bin/dns-node"
/usr/bin/dns-node --help | grep -q -- '--control-socket' || fail "dns-node --help"
for page in dns-node dns-nodectl dns-register; do
  zcat "/usr/share/man/man8/$page.8.gz" | grep -q "^\.TH ${page^^} 8" || fail "no manual page for $page"
done
/usr/bin/dns-nodectl --help | grep -q 'zone' || fail "dns-nodectl --help"

echo "-- systemd-analyze verify"
# Works without systemd running; any output (a warning included) fails.
out=$(systemd-analyze verify "$unit_dir/dns-node@.service" "$unit_dir/dns-register.service" 2>&1) || fail "$out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
# The sandbox stays tight: systemd's exposure score of the unit (0 to 10) at most 2.0.
systemd-analyze security --offline=true --threshold=20 "$unit_dir/dns-node@.service" >/dev/null 2>&1 \
  || fail "$(systemd-analyze security --offline=true "$unit_dir/dns-node@.service" 2>&1 | tail -1)"

echo "-- the installed dns-node, as the unit starts it"
port=$(sed -n 's/.*"query_loc": *"127.0.0.1:\([0-9]*\)".*/\1/p' /etc/dns-node/dns-config.json)
[ -n "$port" ] || fail "no query_loc in the shipped config"
if ss -Hlnu "sport = :$port" | grep -q .; then fail "port $port is taken: cannot run the shipped example"; fi
# StateDirectory=dns-node/0 would create this for the unit.
install -d -o dns-node -g dns-node -m 0750 /var/lib/dns-node/0
log=$(mktemp)
# The unit's own ExecStart (continuation lines joined, %i = 0), so the test
# runs exactly what systemctl start dns-node@0 would.
exec_start=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$unit_dir/dns-node@.service" | sed -n 's/^ExecStart=//p' | sed 's/%i/0/g')
[ -n "$exec_start" ] || fail "no ExecStart in the unit"
echo "   $exec_start"
# setpriv execs the node itself (as the unit's User= and Group=), so its PID is the node's.
# shellcheck disable=SC2086  # the unit's words, split as systemd splits them (no quoting there)
setpriv --reuid=dns-node --regid=dns-node --init-groups $exec_start </dev/null 2>"$log" &
node_pid=$!
for _ in $(seq 1 100); do
  if dig +time=1 +tries=1 +short -p "$port" @127.0.0.1 www.example.com A 2>/dev/null | grep -q .; then break; fi
  kill -0 "$node_pid" 2>/dev/null || { cat "$log" >&2; fail "dns-node exited"; }
  sleep 0.1
done
answer=$(dig +short -p "$port" @127.0.0.1 www.example.com A)
[ "$answer" = "192.0.2.10" ] || { cat "$log" >&2; fail "dig www.example.com: '$answer'"; }
dns-nodectl status | grep -q '^OK {.*"role":"leader"' || fail "dns-nodectl status: $(dns-nodectl status)"
dns-nodectl add pkg.example.com A 192.0.2.99 | grep -q '^OK added' || fail "dns-nodectl add"
[ "$(dig +short -p "$port" @127.0.0.1 pkg.example.com A)" = "192.0.2.99" ] || fail "the added record is not served"
dns-nodectl zones | grep -q '^example.com. ' || fail "dns-nodectl zones"
# A member of the dns-node group may use the socket; another user may not.
[ "$(stat -c '%U:%G %a' /var/lib/dns-node/0/control.sock)" = "dns-node:dns-node 660" ] || fail "socket mode"
gid=$(getent group dns-node | cut -d: -f3)
setpriv --reuid=nobody --regid=nogroup --groups="$gid" dns-nodectl status | grep -q '^OK {' \
  || fail "a member of group dns-node cannot use dns-nodectl"
rc=0; setpriv --reuid=nobody --regid=nogroup --clear-groups dns-nodectl status >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "dns-nodectl as nobody exited $rc, not 2"
kill -TERM "$node_pid"
wait "$node_pid" || fail "dns-node did not stop cleanly: $(tail -3 "$log")"
node_pid=
grep -q 'control socket: /var/lib/dns-node/0/control.sock' "$log" || fail "no control socket line in the log"
rm -f "$log"

echo "-- apt-get remove --purge dns-node"
DEBIAN_FRONTEND=noninteractive apt-get remove --purge -y -qq dns-node >/dev/null
dpkg-query -W -f='${Status}\n' dns-node 2>/dev/null | grep -q 'install ok' && fail "still installed"
for f in /usr/bin/dns-node /usr/bin/dns-nodectl /usr/bin/dns-register "$unit_dir/dns-node@.service" \
         "$unit_dir/dns-register.service" /etc/dns-node /var/lib/dns-node /usr/share/doc/dns-node \
         /usr/share/man/man8/dns-node.8.gz; do
  [ ! -e "$f" ] || fail "$f is left after purge"
done
getent passwd dns-node >/dev/null && fail "the dns-node user is left after purge"
getent group dns-node >/dev/null && fail "the dns-node group is left after purge"
echo "test-package: 1 passed, 0 failed"
