#!/usr/bin/env python3
"""Zone-count benchmark: start time and memory from 1 to 10,000 zones at a
fixed total number of records, dns-node beside knotd and nsd.

For each zone count in --zones, the --records records are spread evenly over
that many zones z00000.zones.test. ... (one file each, in one directory; each
zone holds its SOA, one NS, the NS name's A record and its share of A
records; the first zones take one more when the division leaves a
remainder). Then for each server, --runs times: start it on a fresh data
directory (pinned to core 0, one worker, memory_bench's configs; this script
pins itself to core 1) with every zone configured (dns-node: the directory
with -z, its files load in name order; knotd and nsd: one zone statement
each), poll the last generated name of the LAST zone every 5 ms until it is
answered (the time from process start to that first answer; the SOA and last
name of zones spread over the whole set must then answer too, or the run
fails), wait --settle seconds, read the sum of Pss over the server's process
tree (/proc; NSD serves from forked children), and stop it. Prints a
Markdown report; medians of the runs.
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import benchlib as b

PARENT = "zones.test."
QTYPE_A = 1
QTYPE_SOA = 6
FIXED = 3  # SOA, NS and the NS name's A record in every zone


def shares(records, zones):
    """Records per zone: `records` spread evenly, the first zones taking one
    more when the division leaves a remainder."""
    base, extra = divmod(records, zones)
    return [base + (1 if i < extra else 0) for i in range(zones)]


def zone_origin(i, zones):
    return f"z{i:0{max(5, len(str(zones - 1)))}d}.{PARENT}"


def last_name(origin, share):
    """The last A name generated in a zone holding `share` records."""
    return f"h{share - FIXED - 1}.{origin}"


def write_zone(path, origin, share):
    lines = [f"$ORIGIN {origin}\n$TTL 3600\n",
             f"@ IN SOA ns1 hostmaster {b.ZONE_SERIAL} 3600 900 604800 300\n",
             "@ IN NS ns1\n", "ns1 IN A 192.0.2.1\n"]
    for i in range(share - FIXED):
        lines.append(f"h{i} IN A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
    Path(path).write_text("".join(lines))


def ensure_zones(workdir, zones, records):
    """Writes (once) the directory of `zones` zone files holding `records`
    records in all; returns (directory, [(origin, file, share)] in name order)."""
    zdir = Path(workdir) / f"zones-{zones}x{records}"
    done = zdir / "complete"
    out = []
    for i, share in enumerate(shares(records, zones)):
        origin = zone_origin(i, zones)
        out.append((origin, zdir / f"{origin.rstrip('.')}.zone", share))
    if not done.exists():
        zdir.mkdir(parents=True, exist_ok=True)
        for origin, path, share in out:
            write_zone(path, origin, share)
        done.write_text("")  # a directory left half-written by an interrupted run is rewritten
        b.log(f"{zdir}: {zones} zones, {records} records")
    return zdir, out


def sample_queries(zone_list, count=8):
    """SOA and last name of zones spread over the whole set, for checking that
    the first answer came from a completely loaded set of zones."""
    n = len(zone_list)
    picks = sorted({k * (n - 1) // max(1, count - 1) for k in range(count)})
    out = []
    for k in picks:
        origin, _, share = zone_list[k]
        out += [(origin, QTYPE_SOA), (last_name(origin, share), QTYPE_A)]
    return out


def one_run(name, workdir, zdir, zone_list, settle, timeout):
    last_origin, _, last_share = zone_list[-1]
    pairs = [(origin, path) for origin, path, _ in zone_list]
    if name == "dns-node":
        s = b.start_dns_node(workdir, last_origin, zdir, core=0)
    elif name == "knot":
        s = b.start_knot(workdir, last_origin, None, core=0, zones=pairs)
    else:
        s = b.start_nsd(workdir, last_origin, None, core=0, zones=pairs)
    qname = last_name(last_origin, last_share)
    try:
        t_first = s.wait_ready(timeout=timeout, qname=qname, qtype=QTYPE_A)
        missing = [q for q, t in sample_queries(zone_list) if not b.answered(s.port, q, t, 0.5)]
        if missing:
            raise RuntimeError(f"{name} answered {qname} but not {', '.join(missing)}: zones only partly loaded")
        time.sleep(settle)
        rss, pss = b.memory_kb(s.pid)
        return {"server": name, "zones": len(zone_list), "records": sum(z[2] for z in zone_list),
                "first_answer_s": t_first, "rss_kb": rss, "pss_kb": pss, "loadavg": b.loadavg(),
                "argv": " ".join(s.argv)}
    finally:
        s.stop()


def zones_text(n):
    return f"{n:,} zone" + ("s" if n != 1 else "")


def positive_ints(text):
    try:
        xs = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not xs or min(xs) < 1:
        raise argparse.ArgumentTypeError(f"zone counts must be at least 1: {text!r}")
    return xs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zones", type=positive_ints, default=[1, 10, 100, 1000, 10000],
                    help="comma-separated zone counts (default 1,10,100,1000,10000)")
    ap.add_argument("--records", type=int, default=100000, help="total records over all zones (default 100000)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--servers", default="dns-node,knot,nsd")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds between first answer and reading memory")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds a server may take to answer")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = [n for n in names if n not in ("dns-node", "knot", "nsd")]
    if unknown or not names:
        ap.error(f"--servers: unknown server {', '.join(unknown) or '(none)'}; choose from dns-node, knot, nsd")
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    too_many = [z for z in args.zones if args.records < FIXED * z]
    if too_many:
        ap.error(f"--records {args.records} is too few for {too_many[0]} zones: each zone needs at least "
                 f"{FIXED} records (SOA, NS, the NS name's A)")
    try:
        os.sched_setaffinity(0, {1})
    except OSError:
        pass
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dnsnode-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    mach = b.machine()
    runs = []
    for zones in args.zones:
        zdir, zone_list = ensure_zones(workdir, zones, args.records)
        for run in range(args.runs):
            for name in names:
                r = one_run(name, workdir / "zones-run", zdir, zone_list, args.settle, args.timeout)
                r["run"] = run
                runs.append(r)
                b.log(f"  {zones} zones {name} run {run}: first answer {r['first_answer_s']:.3f}s, "
                      f"PSS {r['pss_kb'] / 1024:.1f} MiB, load {r['loadavg']}")
    med = {}
    for zones in args.zones:
        for name in names:
            rs = [r for r in runs if r["server"] == name and r["zones"] == zones]
            med[(name, zones)] = {k: b.median([r[k] for r in rs]) for k in ("first_answer_s", "rss_kb", "pss_kb")}
            med[(name, zones)]["loads"] = ", ".join(r["loadavg"].split()[0] for r in rs)
    print(f"Machine: {mach['nproc']} CPUs, {mach['cpu']}, Linux {mach['kernel']}. {args.records:,} records "
          f"spread evenly over the zones; median of {args.runs} runs; memory read {args.settle:g} s after the "
          f"first answer from the last zone.\n")
    print("| server | zones | records | start to first answer in the last zone (s) | Pss (tree) MiB "
          "| bytes/record (Pss) | runs (1-min load avg) |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        for zones in args.zones:
            m = med[(name, zones)]
            print(f"| {name} | {zones:,} | {args.records:,} | {m['first_answer_s']:.3f} | {m['pss_kb'] / 1024:.1f} "
                  f"| {m['pss_kb'] * 1024 / args.records:.0f} | {args.runs} ({m['loads']}) |")
    lo, hi = min(args.zones), max(args.zones)
    if hi > lo:
        print()
        for name in names:
            a, z = med[(name, lo)], med[(name, hi)]
            print(f"{name}, from {zones_text(lo)} to {zones_text(hi)}: {(z['pss_kb'] - a['pss_kb']) * 1024 / (hi - lo):,.0f} bytes "
                  f"and {(z['first_answer_s'] - a['first_answer_s']) * 1e6 / (hi - lo):,.0f} us of start per added zone")
    for zones in args.zones:
        ours = med.get(("dns-node", zones))
        for other in ("knot", "nsd"):
            o = med.get((other, zones))
            if ours and o:
                print(f"\nAt {zones_text(zones)}, dns-node / {other}: memory {ours['pss_kb'] / o['pss_kb']:.2f}, "
                      f"start to first answer {ours['first_answer_s'] / o['first_answer_s']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": mach, "args": vars(args), "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
