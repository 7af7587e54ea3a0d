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
  bind9-dnsutils knot-dnsutils knot nsd dnsperf etcd-server curl iproute2 procps util-linux linux-perf \
  openssl >/dev/null
# The HTTP status page's test (tests/integration/http) drives headless Chromium.
apt-get install -y -qq --no-install-recommends chromium >/dev/null
# DNSSEC: dnssec-keygen and dnssec-signzone sign the zones of the DNSSEC tests;
# unbound validates the answers of online-signed zones (tests/integration/dnssec).
apt-get install -y -qq --no-install-recommends bind9-utils unbound >/dev/null
# The packaged unbound service is not wanted either: the test starts its own on a high port.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now unbound >/dev/null 2>&1 || true; fi
# The packaged knot, nsd and etcd services are not wanted: tests start their own on high ports.
for svc in knot nsd etcd; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
# The Debian package and its service: cpack's dependency list (dpkg-shlibdeps),
# the maintainer scripts' adduser, systemd-analyze to verify the units.
apt-get install -y -qq --no-install-recommends dpkg-dev adduser systemd >/dev/null
# The clients people use, tested against the node (tests/integration/clients):
# ddclient (and the Perl socket module it needs even on IPv4), inadyn, certbot
# with its rfc2136 plugin, lego, pebble (the ACME test server), promtool.
# Their packaged daemons must never start: ddclient's would reach out to a
# provider. policy-rc.d (exit 101) keeps apt from starting any service.
own_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  own_policy=1
fi
apt-get install -y -qq --no-install-recommends ddclient libio-socket-inet6-perl inadyn certbot \
  python3-certbot-dns-rfc2136 lego pebble prometheus openssl >/dev/null
# BIND 9 as a secondary and as a primary of the cluster (tests/integration/xfr); its named
# service must not start either.
apt-get install -y -qq --no-install-recommends bind9 >/dev/null
if [ "$own_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
for svc in ddclient inadyn prometheus named; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
