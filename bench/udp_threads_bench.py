#!/usr/bin/env python3
"""UDP worker count: dns-node's default (udp_threads 0: one per CPU the
process may use) against one thread, each in two placements:

- unpinned: server and dnsperf share every core (a busy machine);
- pinned: server under `taskset -c 0`, dnsperf under `taskset -c 1`; here the
  default now picks one thread, and `--pinned-threads N` shows what N threads
  on one core cost (what the default gave before it read the affinity mask).

Reports, per configuration, the median over --runs of server CPU µs per
answered query (the figure a loaded machine blurs least), queries/s and the
1-minute load average. Runs interleave the configurations.
Usage: DNSNODE_BIN=build/src/node/dns-node /usr/bin/python3 bench/udp_threads_bench.py [--runs 5] [--seconds 5]
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import benchlib as b

ORIGIN = "bench.test."


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--pinned-threads", type=int, default=2)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="dnsnode-udp-threads."))
    zone, queries = work / "zone.zone", work / "zone.queries"
    subprocess.run([sys.executable, str(Path(__file__).parent / "gen_zone.py"), "--records", str(args.records),
                    "--zone", str(zone), "--queries", str(queries), "--query-count", "100000",
                    "--origin", ORIGIN], check=True)
    configs = [  # (label, server core, udp_threads (0: default), dnsperf core)
        ("unpinned, default", None, 0, None),
        ("unpinned, 1 thread", None, 1, None),
        ("pinned, default", 0, 0, 1),
        ("pinned, 1 thread", 0, 1, 1),
        (f"pinned, {args.pinned_threads} threads", 0, args.pinned_threads, 1),
    ]
    results = {c[0]: [] for c in configs}
    threads = {}
    for run in range(args.runs):
        order = configs[run % len(configs):] + configs[:run % len(configs)]
        for label, core, n, client_core in order:
            s = b.start_dns_node(work / label.replace(" ", "_").replace(",", ""), ORIGIN, zone, core=core,
                                 udp_threads=n)
            try:
                s.wait_ready(timeout=120, poll=0.05)
                log = s.logpath.read_text()
                threads[label] = log.split(" udp threads)")[0].rsplit("(", 1)[-1] if " udp threads)" in log else "?"
                la = b.loadavg()
                c0 = b.cpu_seconds(s.pid)
                r = b.run_dnsperf(s.port, queries, args.seconds, core=client_core)
                c1 = b.cpu_seconds(s.pid)
                us = (c1 - c0) / r["completed"] * 1e6 if r["completed"] else None
                results[label].append((us, r["qps"], la.split()[0]))
                b.log(f"run {run + 1} {label}: {us:.2f} us/query, {r['qps']:.0f} q/s, load {la}")
            finally:
                s.stop()
    m = b.machine()
    print(f"Machine: {m['nproc']} CPUs, {m['cpu']}. {args.records} records, {args.seconds:g} s per run, "
          f"median of {args.runs}; dnsperf -c 8 -q 500 (saturation).\n")
    print("| configuration | UDP threads | CPU µs/query | queries/s | runs (1-min load avg) |")
    print("|---|---|---|---|---|")
    for label, *_ in configs:
        rs = results[label]
        print(f"| {label} | {threads.get(label, '?')} | {b.median([r[0] for r in rs]):.2f} | "
              f"{b.median([r[1] for r in rs]):,.0f} | {len(rs)} ({', '.join(r[2] for r in rs)}) |")


if __name__ == "__main__":
    main()
