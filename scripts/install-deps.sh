#!/usr/bin/env bash
# Installs what dns-node needs to build, run and test on Debian 12 (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
[ "${SKIP_APT_UPDATE:-0}" = 1 ] || apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  g++ cmake ninja-build make pkg-config \
  libboost-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libssl-dev zlib1g-dev libcli11-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  clang-14 libfuzzer-14-dev libclang-rt-14-dev \
  python3 python3-dnspython python3-pytest \
  bind9-dnsutils knot-dnsutils knot nsd dnsperf etcd-server curl iproute2 procps util-linux linux-perf >/dev/null
# DNSSEC: dnssec-keygen and dnssec-signzone sign the zones of the DNSSEC tests.
apt-get install -y -qq --no-install-recommends bind9-utils >/dev/null
# The packaged knot, nsd and etcd services are not wanted: tests start their own on high ports.
for svc in knot nsd etcd; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
