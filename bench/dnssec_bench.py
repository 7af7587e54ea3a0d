#!/usr/bin/env python3
"""Online signing: server CPU per signed UDP answer, dns-node against Knot's
onlinesign module on the same zone (bench/gen_zone.py, 10,000 records).

Each server runs one UDP worker. dnsperf sends every query with DO set; the
server's CPU time (user + system, from /proc/PID/stat) is read before and
after each run and divided by the answers received, so the figure does not
depend on how busy the machine is. Runs:
  cold: each name of the zone asked once (every answer signed anew);
  warm: the same queries again (dns-node's signature cache; Knot signs each
        answer, as its onlinesign module keeps no cache of RRSIGs);
  saturation: dnsperf as fast as it can for --seconds, answers per second.

Usage: bench/dnssec_bench.py --dns-node build/src/node/dns-node [--records 10000] [--seconds 10]
Prints a Markdown table.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from node_harness import free_port  # noqa: E402

import dns.message  # noqa: E402
import dns.query  # noqa: E402

ORIGIN = "bench.test."


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def dnsperf(port, queries, extra):
    out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-D", "-d", queries] + extra,
                         capture_output=True, text=True, check=True).stdout
    completed = int(re.search(r"Queries completed:\s+(\d+)", out).group(1))
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    return completed, qps


def wait_signed(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            q = dns.message.make_query(f"h0.{ORIGIN}", "A", want_dnssec=True)
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
            if any(rrset.rdtype == 46 for rrset in r.answer):
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no signed answer on port {port}")


def measure(label, pid, port, queries, seconds):
    rows = []
    for run, extra in (("cold", ["-n", "1"]), ("warm", ["-n", "1"]), ("saturation", ["-l", str(seconds), "-c", "4"])):
        before = cpu_seconds(pid)
        done, qps = dnsperf(port, queries, extra)
        used = cpu_seconds(pid) - before
        rows.append((label, run, done, qps, used * 1e6 / max(done, 1)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dns-node", required=True)
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="dnsnode-dnssec-bench-")
    here = os.path.dirname(os.path.abspath(__file__))
    zone, queries = os.path.join(work, "bench.zone"), os.path.join(work, "names")
    subprocess.run([sys.executable, os.path.join(here, "gen_zone.py"), "--records", str(args.records), "--zone", zone,
                    "--queries", os.path.join(work, "mixed"), "--origin", ORIGIN], check=True)
    with open(queries, "w") as f:  # every name once, for its own type: each answer a new signature
        for i in range(args.records):
            f.write(f"h{i}.{ORIGIN} {['A', 'A', 'A', 'A', 'AAAA', 'AAAA', 'MX', 'TXT', 'A', 'SRV'][i % 10]}\n")
    procs, rows = [], []
    try:
        # dns-node, alone, one UDP thread, online policy.
        port = free_port()
        cfg = {"nodes": {"0": {"query_loc": f"127.0.0.1:{port}", "raft_loc": f"127.0.0.1:{free_port()}"}},
               "udp_threads": 1, "rrl": {"responses_per_second": 0},
               "zones": {ORIGIN: {"dnssec": {"policy": "online", "algorithm": "ecdsap256sha256"}}}}
        with open(os.path.join(work, "dns-config.json"), "w") as f:
            json.dump(cfg, f)
        node = subprocess.Popen([args.dns_node, "-n", "0", "-c", os.path.join(work, "dns-config.json"), "-z", zone,
                                 "--data-dir", os.path.join(work, "data"), "--log-level", "warn"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(node)
        wait_signed(port)
        rows += measure("dns-node", node.pid, port, queries, args.seconds)
        # Knot with mod-onlinesign, one UDP worker, the same algorithm.
        kport = free_port()
        kdir = os.path.join(work, "knot")
        os.mkdir(kdir)
        with open(os.path.join(kdir, "knot.conf"), "w") as f:
            f.write(f"""server:
    listen: 127.0.0.1@{kport}
    rundir: {kdir}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: {kdir}
policy:
  - id: online
    algorithm: ecdsap256sha256
    single-type-signing: on
mod-onlinesign:
  - id: default
    policy: online
template:
  - id: default
    storage: {kdir}
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: {ORIGIN}
    file: {zone}
    module: mod-onlinesign/default
log:
  - target: stderr
    any: error
""")
        knot = subprocess.Popen([shutil.which("knotd") or "/usr/sbin/knotd", "-c", os.path.join(kdir, "knot.conf")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(knot)
        wait_signed(kport)
        rows += measure("knotd onlinesign", knot.pid, kport, queries, args.seconds)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)
    print(f"| server | run | answers | answers/s | server CPU per answer (µs) |")
    print("|---|---|---:|---:|---:|")
    for label, run, done, qps, us in rows:
        print(f"| {label} | {run} | {done} | {qps:,.0f} | {us:.1f} |")


if __name__ == "__main__":
    main()
