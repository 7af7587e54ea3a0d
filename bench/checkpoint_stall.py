#!/usr/bin/env python3
"""Checkpoint stall: what writing a checkpoint of a large store costs the
changes and queries that arrive meanwhile.

A one-node dns-node (fsync on) loads a generated zone of --records records,
then takes --updates RFC 2136 UPDATEs one at a time (TSIG, one TCP
connection) while a second thread asks one UDP query every millisecond.
Every --checkpoint-every applied entries the node writes a checkpoint of the
whole store; its log (debug level) gives each checkpoint's time. The report
gives the update and query latencies (p50, p99, max) and the slowest updates
with the checkpoint nearest to each (its log line is written when it ends).
Bounded: the loop stops after --updates changes or
--max-seconds, whichever comes first.

Usage: DNSNODE_BIN=build/src/node/dns-node /usr/bin/python3 bench/checkpoint_stall.py
           [--records 1000000] [--updates 3000] [--checkpoint-every 1000]
"""
import argparse
import json
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import benchlib as b
import update_bench as u

HERE = Path(__file__).resolve().parent


def udp_query(sock, port, qname):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in qname.rstrip(".").split(".")) + b"\0"
    msg_id = int(time.monotonic_ns() & 0xFFFF)
    sock.sendto(struct.pack("!HHHHHH", msg_id, 0x0100, 1, 0, 0, 0) + wire + struct.pack("!HH", 1, 1),
                ("127.0.0.1", port))
    data, _ = sock.recvfrom(4096)
    return len(data) >= 12


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--updates", type=int, default=3000)
    ap.add_argument("--checkpoint-every", type=int, default=1000)
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="dnsnode-ckpt-"))
    work.mkdir(parents=True, exist_ok=True)
    zone, queries = work / "zone", work / "queries"
    subprocess.run(["/usr/bin/python3", str(HERE / "gen_zone.py"), "--records", str(args.records), "--zone", str(zone),
                    "--queries", str(queries), "--query-count", "10"], check=True, stdout=subprocess.DEVNULL)
    port = b.free_port()
    cfg = {"nodes": {"0": {"query_loc": f"127.0.0.1:{port}", "raft_loc": f"127.0.0.1:{b.free_port()}"}},
           "rrl": {"responses_per_second": 0}, "cluster": {"checkpoint_every_entries": args.checkpoint_every},
           "tsig_keys": [{"name": u.KEY_NAME, "secret": u.KEY_SECRET, "algorithm": "hmac-sha256"}]}
    (work / "cfg.json").write_text(json.dumps(cfg))
    log = open(work / "node.log", "w")
    argv = [b.dns_node_bin(), "-n", "0", "-c", str(work / "cfg.json"), "-z", str(zone), "--data-dir",
            str(work / "data"), "--log-level", "debug"]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        qsock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        qsock.settimeout(5)
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dns-node did not start; see {work / 'node.log'}")
            try:
                if udp_query(qsock, port, "h0.bench.test."):
                    break
            except OSError:
                time.sleep(0.05)
        time.sleep(1)
        stop = threading.Event()
        query_lat = []

        def asker():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5)
            i = 0
            while not stop.is_set() and len(query_lat) < 10_000_000:
                t = time.monotonic()
                try:
                    udp_query(s, port, f"h{i % args.records}.bench.test.")
                    query_lat.append((t, (time.monotonic() - t) * 1000))
                except OSError:
                    query_lat.append((t, 5000.0))
                i += 1
                time.sleep(0.001)

        th = threading.Thread(target=asker, daemon=True)
        th.start()
        client = u.DnsUpdateClient(port)
        lat = []  # (wall time, ms)
        t_end = time.monotonic() + args.max_seconds
        for i in range(args.updates):
            if time.monotonic() > t_end:
                break
            wall = time.time()
            t = time.monotonic()
            ok = client.put(f"stall{i}", f"10.9.{(i >> 8) & 255}.{i & 255}", i)
            lat.append((wall, (time.monotonic() - t) * 1000, ok))
        client.close()
        stop.set()
        th.join(timeout=10)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()

    # Checkpoints from the log: "<ISO time> debug node 0: checkpoint at index N (M ms)".
    ckpts = []
    for line in (work / "node.log").read_text().splitlines():
        m = re.match(r"(\S+) \S+ .*checkpoint at index (\d+)(?: \((\d+) ms\))?$", line)
        if m:
            ckpts.append((datetime.fromisoformat(m.group(1)).timestamp(), int(m.group(2)), m.group(3)))
    ok = [ms for _, ms, good in lat if good]
    errors = sum(1 for _, _, good in lat if not good)
    print(f"dns-node, one node, {args.records:,} records, checkpoint every {args.checkpoint_every} entries; "
          f"load average {b.loadavg()}")
    print(f"updates: {len(ok)} ok, {errors} errors; p50 {pct(ok, 50):.2f} ms, p99 {pct(ok, 99):.2f} ms, "
          f"p99.9 {pct(ok, 99.9):.2f} ms, max {max(ok, default=float('nan')):.2f} ms")
    q = [ms for _, ms in query_lat]
    print(f"queries (one per ms, UDP): {len(q)}; p50 {pct(q, 50):.3f} ms, p99 {pct(q, 99):.3f} ms, "
          f"max {max(q, default=float('nan')):.2f} ms")
    took = ", ".join(f"index {i}: {ms} ms" for _, i, ms in ckpts if ms is not None)
    print(f"checkpoints written during the run: {len(ckpts)}" + (f" ({took}, capture to publication)" if took else ""))
    print("slowest updates (ms, seconds from the update to the nearest checkpoint's log line, written when it "
          "is published; + means during or before it):")
    for wall, ms, _ in sorted(lat, key=lambda x: -x[1])[:5]:
        near = min(ckpts, key=lambda c: abs(c[0] - wall), default=None)
        where = f"{near[0] - wall:+.3f} s (index {near[1]})" if near else "none"
        print(f"  {ms:9.2f}  {where}")


if __name__ == "__main__":
    main()
