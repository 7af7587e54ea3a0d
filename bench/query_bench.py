#!/usr/bin/env python3
"""Query benchmark: dns-node vs knotd vs nsd vs the echo floor, same zone,
same query mix, each server pinned to core 0 with one worker, dnsperf
pinned to core 1 (see bench/README.md).

For every server, transport (UDP, TCP) and load (saturation; a fixed rate
every server can carry) it reports the median over --runs of: queries/s,
server CPU time per answered query (time on CPU of the server's process
tree from /proc, before and after the run, divided by answered queries), µs above
the echo floor, average and max latency (dnsperf), p50/p99/p99.9 latency at
the fixed rate (from dnsperf -v), lost queries; and the ratios of dns-node to
Knot and to NSD. Servers run side by side and the runs interleave them, so
background load hits all of them alike.

Prints a Markdown report on stdout; raw runs go to --json.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as b

ORIGIN = "bench.test."


def ensure_zone(workdir, records, query_count):
    zone = Path(workdir) / f"zone-{records}.zone"
    queries = Path(workdir) / f"zone-{records}.queries"
    if not zone.exists() or not queries.exists():
        subprocess.run([sys.executable, str(Path(__file__).parent / "gen_zone.py"), "--records", str(records),
                        "--zone", str(zone), "--queries", str(queries), "--query-count", str(query_count),
                        "--origin", ORIGIN], check=True)
    return zone, queries


def start_all(names, workdir, zone, echo_bin, defaults):
    core = None if defaults else 0
    servers = {}
    for name in names:
        d = Path(workdir) / ("defaults" if defaults else "pinned")
        if name == "echo":
            servers[name] = b.start_echo(d, ORIGIN, echo_bin, core=core)
        elif name == "dns-node":
            servers[name] = b.start_dns_node(d, ORIGIN, zone, core=core, udp_threads=0 if defaults else 1)
        elif name == "knot":
            servers[name] = b.start_knot(d, ORIGIN, zone, core=core, one_worker=not defaults)
        elif name == "nsd":
            servers[name] = b.start_nsd(d, ORIGIN, zone, core=core, one_worker=not defaults)
    for name, s in servers.items():
        if name == "echo":
            time.sleep(0.2)
            continue
        t = s.wait_ready(timeout=600, poll=0.05)
        b.log(f"  {name} ready in {t:.2f}s (pid {s.pid}, port {s.port})")
    return servers


def measure(server, queries, seconds, mode, clients, outstanding, qps_limit, client_core, want_pcts):
    la = b.loadavg()
    vfile = None
    if want_pcts:
        vfile = Path(server.workdir) / f"dnsperf-v-{mode}.txt"
    c0 = b.cpu_seconds(server.pid)
    r = b.run_dnsperf(server.port, queries, seconds, mode=mode, clients=clients, outstanding=outstanding,
                      qps_limit=qps_limit, core=client_core, verbose_file=vfile)
    c1 = b.cpu_seconds(server.pid)
    r["cpu_s"] = c1 - c0
    r["cpu_us_per_q"] = (c1 - c0) / r["completed"] * 1e6 if r["completed"] else None
    r["loadavg"] = la
    if vfile:
        r.update(b.latency_percentiles(vfile.read_text()))
        vfile.unlink()
    return r


def fmt(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, int) or abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def report(results, names, args, title):
    out = []
    med = {}
    for key, runs_by_server in results.items():
        for name, runs in runs_by_server.items():
            m = {k: b.median([r.get(k) for r in runs]) for k in
                 ("qps", "cpu_us_per_q", "avg_lat_s", "max_lat_s", "lost", "p50", "p99", "p99.9", "completed")}
            m["loads"] = ", ".join(r["loadavg"].split()[0] for r in runs)
            m["n"] = len(runs)
            m["rcodes"] = runs[-1]["rcodes"]
            m["argv"] = runs[-1]["argv"]
            med[(key, name)] = m
    out.append(f"### {title}\n")
    for key in results:
        records, mode, load = key
        out.append(f"#### {records:,} records, {mode.upper()}, {load}\n")
        out.append("| server | queries/s | CPU µs/query | µs above echo floor | avg latency µs | max latency µs "
                   "| p50 / p99 / p99.9 µs | lost (median) | runs (1-min load avg) |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        floor = med.get((key, "echo"), {}).get("cpu_us_per_q")
        for name in names:
            m = med.get((key, name))
            if not m:
                continue
            above = m["cpu_us_per_q"] - floor if (floor is not None and m["cpu_us_per_q"] is not None
                                                  and name != "echo") else None
            pcts = "-" if m["p50"] is None else f"{m['p50']:.0f} / {m['p99']:.0f} / {m['p99.9']:.0f}"
            out.append(f"| {name} | {fmt(m['qps'])} | {fmt(m['cpu_us_per_q'], 2)} | {fmt(above, 2)} "
                       f"| {fmt(m['avg_lat_s'] * 1e6 if m['avg_lat_s'] is not None else None, 0)} "
                       f"| {fmt(m['max_lat_s'] * 1e6 if m['max_lat_s'] is not None else None, 0)} | {pcts} "
                       f"| {fmt(m['lost'], 0)} | {m['n']} ({m['loads']}) |")
        ours = med.get((key, "dns-node"))
        for other in ("knot", "nsd"):
            o = med.get((key, other))
            if ours and o and o["cpu_us_per_q"] and o["qps"] and ours["cpu_us_per_q"] is not None:
                out.append(f"\ndns-node / {other}: CPU per query {ours['cpu_us_per_q'] / o['cpu_us_per_q']:.2f}, "
                           f"queries/s {ours['qps'] / o['qps']:.2f}")
        if ours:
            out.append(f"\nResponse codes (dns-node, last run): {ours['rcodes']}  ")
            out.append(f"dnsperf: `{ours['argv']}`\n")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", default="10000", help="comma-separated zone sizes")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--transports", default="udp,tcp")
    ap.add_argument("--servers", default="echo,dns-node,knot,nsd")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--outstanding", type=int, default=500)
    ap.add_argument("--fixed-qps", type=int, default=20000, help="the fixed-rate load (0: skip)")
    ap.add_argument("--query-count", type=int, default=200000)
    ap.add_argument("--defaults", action="store_true",
                    help="each server's default workers, no pinning (server and dnsperf share both cores)")
    ap.add_argument("--echo-bin", required=True)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None, help="write every run here")
    args = ap.parse_args()

    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dnsnode-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    client_core = None if args.defaults else 1
    mach = b.machine()
    b.log(f"machine: {mach}; workdir {workdir}")
    results = {}
    loads = [("saturation", None)] + ([(f"fixed {args.fixed_qps:,} q/s", args.fixed_qps)] if args.fixed_qps else [])
    for records in [int(x) for x in args.records.split(",")]:
        zone, queries = ensure_zone(workdir, records, args.query_count)
        b.log(f"{records} records: starting {names}")
        servers = start_all(names, workdir, zone, args.echo_bin, args.defaults)
        try:
            for run in range(args.runs):
                for mode in [t.strip() for t in args.transports.split(",")]:
                    for load, qps in loads:
                        key = (records, mode, load)
                        # Rotate the order each run so no server always goes first.
                        order = names[run % len(names):] + names[:run % len(names)]
                        for name in order:
                            r = measure(servers[name], queries, args.seconds, mode, args.clients,
                                        args.outstanding, qps, client_core, want_pcts=qps is not None)
                            r.update({"server": name, "records": records, "mode": mode, "load": load, "run": run})
                            results.setdefault(key, {}).setdefault(name, []).append(r)
                            b.log(f"  run {run} {mode} {load} {name}: {r['qps']:.0f} q/s, "
                                  f"{r['cpu_us_per_q'] or 0:.2f} µs/q, lost {r['lost']}, load {r['loadavg']}")
        finally:
            for s in servers.values():
                s.stop()
    title = ("Each server's defaults, no pinning" if args.defaults
             else "Server pinned to core 0 with one worker, dnsperf pinned to core 1")
    print(f"Machine: {mach['nproc']} CPUs, {mach['cpu']}, Linux {mach['kernel']}. "
          f"{args.seconds:g} s per run, median of {args.runs} runs, dnsperf -c {args.clients} -q {args.outstanding}.\n")
    print(report(results, names, args, title))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": mach, "args": vars(args),
                       "runs": [r for v in results.values() for rs in v.values() for r in rs]}, f, indent=1)


if __name__ == "__main__":
    main()
