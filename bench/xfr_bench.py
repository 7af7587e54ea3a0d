#!/usr/bin/env python3
"""Zone transfer benchmarks: how fast a change reaches outside secondaries,
and what an AXFR of a large zone costs the server.

  propagation  a 3-node dns-node cluster with BIND, Knot and NSD as its
               secondaries (every node a primary, NOTIFY from the leader):
               from a change's OK on stdin to every secondary answering the
               new serial, over --changes changes; the same with a Knot
               primary (changes by RFC 2136 UPDATE, answered once Knot
               committed them) and the same three secondaries.
  axfr         a zone of --records records (bench/gen_zone.py) served by
               dns-node, knotd and nsd: wall time of one AXFR read by a raw
               TCP client, and the server's CPU time for it.

Usage: bench/xfr_bench.py [--changes 200] [--records 1000000] [--runs 3] [--skip-propagation] [--skip-axfr]
Prints a Markdown report on stdout.
"""
import argparse
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib
from benchlib import REPO, cpu_seconds, free_port, log

sys.path.insert(0, str(REPO / "tests" / "integration" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "integration" / "xfr"))
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.update  # noqa: E402
import xfr_harness  # noqa: E402

ZONE = "example.com."


def percentile(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def soa_packet(zone, qid):
    q = dns.message.make_query(zone, "SOA")
    q.id = qid
    return q.to_wire()


def wait_all(ports, zone, serial, timeout=30.0):
    """Polls the SOA of each server until all answer `serial`; returns the
    time.monotonic() at which the last one did."""
    socks = {}
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.05)
        socks[p] = s
    pending = set(ports)
    deadline = time.monotonic() + timeout
    done_at = None
    try:
        while pending and time.monotonic() < deadline:
            for p in list(pending):
                s = socks[p]
                s.sendto(soa_packet(zone, p & 0xFFFF), ("127.0.0.1", p))
                try:
                    data = s.recv(4096)
                except socket.timeout:
                    continue
                r = dns.message.from_wire(data)
                if r.answer and r.answer[0][0].serial == serial:
                    pending.discard(p)
                    done_at = time.monotonic()
            if pending:
                time.sleep(0.0005)
    finally:
        for s in socks.values():
            s.close()
    if pending:
        raise RuntimeError(f"serial {serial} not on ports {sorted(pending)} within {timeout}s")
    return done_at


def serial_of(port, zone):
    return xfr_harness.soa_serial(port, zone)


def propagation_dns_node(workdir, changes):
    (workdir / "cluster").mkdir(parents=True, exist_ok=True)
    cluster = xfr_harness.xfr_cluster(workdir / "cluster", http=False)
    primaries = [("127.0.0.1", n.query_port) for n in cluster.nodes]
    secs = [cls(workdir, primaries, [ZONE]) for cls in xfr_harness.SERVERS.values()]
    xfr_harness.set_notify(cluster, [s.target for s in secs])
    cluster.start()
    try:
        for s in secs:
            s.start()
        leader = cluster.leader()
        xfr_harness.wait_serial(secs[0].port, ZONE, serial_of(leader.query_port, ZONE), 30)
        for s in secs:
            xfr_harness.wait_serial(s.port, ZONE, serial_of(leader.query_port, ZONE), 30)
        delays = []
        for i in range(changes):
            reply = leader.command(f"ADD: b{i}.example.com 300 A 10.9.{i // 256 % 256}.{i % 256}")
            ok_at = time.monotonic()
            assert reply.startswith("OK"), reply
            serial = serial_of(leader.query_port, ZONE)
            delays.append(wait_all([s.port for s in secs], ZONE, serial) - ok_at)
        return delays
    finally:
        for s in secs:
            s.stop()
        cluster.stop()


def start_knot_primary(workdir, zone_file, notify_ports):
    d = workdir / "knot-primary"
    d.mkdir(parents=True, exist_ok=True)
    port = free_port()
    remotes = "".join(f"  - id: s{i}\n    address: 127.0.0.1@{p}\n" for i, p in enumerate(notify_ports))
    ids = ", ".join(f"s{i}" for i in range(len(notify_ports)))
    conf = d / "knot.conf"
    conf.write_text(f"""server:
  listen: 127.0.0.1@{port}
  rundir: {d}
log:
  - target: stderr
    any: info
database:
  storage: {d}
remote:
{remotes}acl:
  - id: local
    address: 127.0.0.0/8
    action: [transfer, update]
template:
  - id: default
    storage: {d}
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: {ZONE}
    file: {zone_file}
    notify: [{ids}]
    acl: local
""")
    return benchlib.Server("knot-primary", ["knotd", "-c", str(conf)], port, d, ZONE)


def propagation_knot(workdir, changes):
    workdir.mkdir(parents=True, exist_ok=True)
    zone_file = workdir / "knot-primary.zone"
    zone_file.write_text(f"$ORIGIN {ZONE}\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 127.0.0.1\n")
    # The secondaries first (their ports go into the primary's notify list).
    placeholder = [("127.0.0.1", 0)]
    secs = [cls(workdir / "knot-side", placeholder, [ZONE]) for cls in xfr_harness.SERVERS.values()]
    primary = start_knot_primary(workdir, zone_file, [s.port for s in secs])
    primary.wait_ready(30)
    for s in secs:
        s.primaries = [("127.0.0.1", primary.port)]
        s.start()
    try:
        for s in secs:
            xfr_harness.wait_serial(s.port, ZONE, 1, 30)
        delays = []
        for i in range(changes):
            u = dns.update.Update(ZONE)
            u.add(f"b{i}", 300, "A", f"10.9.{i // 256 % 256}.{i % 256}")
            r = dns.query.tcp(u, "127.0.0.1", port=primary.port, timeout=10)
            ok_at = time.monotonic()
            assert r.rcode() == 0, r
            delays.append(wait_all([s.port for s in secs], ZONE, serial_of(primary.port, ZONE)) - ok_at)
        return delays
    finally:
        for s in secs:
            s.stop()
        primary.stop()


def axfr_read(port, zone, expected_records, timeout=600):
    """Reads one AXFR over TCP until `expected_records` answers arrived; returns seconds."""
    q = dns.message.make_query(zone, "AXFR")
    wire = q.to_wire()
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        got = 0
        buf = b""

        def read(n):
            nonlocal buf
            while len(buf) < n:
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise RuntimeError(f"connection closed after {got} records")
                buf += chunk
            out, buf = buf[:n], buf[n:]
            return out
        while got < expected_records:
            (n,) = struct.unpack("!H", read(2))
            msg = read(n)
            rcode = msg[3] & 0xF
            if rcode:
                raise RuntimeError(f"AXFR answered rcode {rcode}")
            got += struct.unpack("!H", msg[6:8])[0]
    return time.monotonic() - start


def axfr_bench(workdir, records, runs):
    zone_file = workdir / "axfr.zone"
    origin = "bench.test."
    subprocess.run([sys.executable, str(REPO / "bench" / "gen_zone.py"), "--records", str(records), "--zone",
                    str(zone_file), "--queries", str(workdir / "axfr.queries"), "--query-count", "10", "--origin",
                    origin], check=True)
    count = sum(1 for line in zone_file.read_text().splitlines() if line and not line.startswith("$"))
    results = {}
    starters = {
        "dns-node": lambda: benchlib.start_dns_node(workdir, origin, zone_file, core=None,
                                                    extra_cfg={"transfer": {"allow": ["127.0.0.0/8"]}}),
        "knot": lambda: benchlib.start_knot(workdir, origin, zone_file, core=None),
        "nsd": lambda: benchlib.start_nsd(workdir, origin, zone_file, core=None),
    }
    for name, start in starters.items():
        server = start()
        if name == "knot":
            conf = server.workdir / "knot.conf"
            server.stop()
            text = conf.read_text().replace("zone:\n", "acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\nzone:\n", 1)
            text = text.replace(f"    file: {zone_file}\n", f"    file: {zone_file}\n    acl: xfr\n")
            conf.write_text(text)
            server = benchlib.Server("knot", ["knotd", "-c", str(conf)], server.port, server.workdir, origin)
        if name == "nsd":
            conf = server.workdir / "nsd.conf"
            server.stop()
            conf.write_text(conf.read_text() + "    provide-xfr: 127.0.0.0/8 NOKEY\n")
            server = benchlib.Server("nsd", ["nsd", "-d", "-c", str(conf)], server.port, server.workdir, origin)
        try:
            server.wait_ready(600)
            time.sleep(1)
            rows = []
            for _ in range(runs):
                cpu0 = cpu_seconds(server.pid)
                secs = axfr_read(server.port, origin, count + 1)
                rows.append((secs, cpu_seconds(server.pid) - cpu0))
            results[name] = rows
            log(f"{name}: {rows}")
        finally:
            server.stop()
    return count, results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-propagation", action="store_true")
    ap.add_argument("--skip-axfr", action="store_true")
    ap.add_argument("--workdir", help="keep every file here (default: a temporary directory, removed)")
    a = ap.parse_args()
    out = ["## Zone transfers", "", f"machine: {benchlib.machine()}, load average at start {benchlib.loadavg()}", ""]
    with tempfile.TemporaryDirectory(prefix="xfr-bench-") as tmp:
        tmp = Path(a.workdir) if a.workdir else Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        if not a.skip_propagation:
            out += [f"From a change's OK to BIND, Knot and NSD secondaries all answering its serial, {a.changes} "
                    "changes one after the other:", "",
                    "| primary | p50 ms | p99 ms | max ms |", "|---|---|---|---|"]
            for name, fn in (("dns-node, 3 nodes (stdin ADD on the leader)", propagation_dns_node),
                             ("knotd (RFC 2136 UPDATE)", propagation_knot)):
                d = fn(tmp / ("propagation-" + name.split()[0].strip(",")), a.changes)
                d = [x * 1000 for x in d]
                out.append(f"| {name} | {percentile(d, 50):.1f} | {percentile(d, 99):.1f} | {max(d):.1f} |")
                log(f"{name}: p50 {percentile(d, 50):.1f} ms p99 {percentile(d, 99):.1f} ms")
            out.append("")
        if not a.skip_axfr:
            count, results = axfr_bench(tmp, a.records, a.runs)
            out += [f"One AXFR of {count} records read by a raw TCP client, median of {a.runs}:", "",
                    "| server | seconds | server CPU s |", "|---|---|---|"]
            for name, rows in results.items():
                out.append(f"| {name} | {statistics.median(r[0] for r in rows):.2f} | "
                           f"{statistics.median(r[1] for r in rows):.2f} |")
            out.append("")
    out.append(f"load average at end {benchlib.loadavg()}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
