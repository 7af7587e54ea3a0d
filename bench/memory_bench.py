#!/usr/bin/env python3
"""Memory and load-time benchmark: dns-node vs knotd vs nsd on the same zone.

For each server and zone size, --runs times: start the server (pinned to core
0, one worker, the query benchmark's configs; this script pins itself to core
1), poll the zone's last generated name every 5 ms until it is answered (the
time from process start to that first answer; names spread over the whole
zone must then answer too, or the run fails), wait --settle seconds, then
read the largest VmRSS in the server's process tree and the sum of Pss over its process tree
(/proc; NSD serves from forked children that share the parent's pages).
Bytes per record = memory / records, and the marginal figure between the
smallest and largest zone. Prints a Markdown report; medians of the runs.

--restarts N: after each dns-node run, N restarts on the same data directory
with the zone file unchanged, timed the same way (exec to the first answer
for the last name, the whole zone then answering).
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import benchlib as b

sys.path.insert(0, str(Path(__file__).parent))
import gen_zone  # noqa: E402
from query_bench import ensure_zone, ORIGIN  # noqa: E402

QTYPES = {"A": 1, "AAAA": 28, "MX": 15, "TXT": 16, "CNAME": 5, "SRV": 33}


def last_name(records):
    n = max(10, records - 11)
    owner, t, _ = gen_zone.record(n - 1, ORIGIN)
    return f"{owner}.{ORIGIN}", QTYPES[t]


def sample_names(records, count=8):
    """Names spread over the whole generated zone, for checking that the
    first answer came from a completely loaded zone."""
    n = max(10, records - 11)
    out = []
    for k in range(count):
        owner, t, _ = gen_zone.record(k * (n - 1) // max(1, count - 1), ORIGIN)
        out.append((f"{owner}.{ORIGIN}", QTYPES[t]))
    return out


def first_answer(s, name, records):
    """Seconds from exec to the first answer for the zone's last name, once
    the whole zone answers."""
    qname, qtype = last_name(records)
    t_first = s.wait_ready(timeout=900, qname=qname, qtype=qtype)
    # The first answer counts only if the whole zone is served by then:
    # names from its start to its end must all be answered already.
    missing = [q for q, t in sample_names(records) if not b.answered(s.port, q, t, 0.5)]
    if missing:
        raise RuntimeError(f"{name} answered {qname} but not {', '.join(missing)}: zone only partly loaded")
    return t_first


def restart_times(workdir, zone, records, restarts):
    out = []
    for _ in range(restarts):
        s = b.start_dns_node(workdir, ORIGIN, zone, core=0, restart=True)
        try:
            out.append(first_answer(s, "dns-node (restarted)", records))
        finally:
            s.stop()
    return out


def one_run(name, workdir, zone, records, settle):
    starters = {"dns-node": b.start_dns_node, "knot": b.start_knot, "nsd": b.start_nsd}
    s = starters[name](workdir, ORIGIN, zone, core=0)
    try:
        t_first = first_answer(s, name, records)
        time.sleep(settle)
        rss, pss = b.memory_kb(s.pid)
        return {"server": name, "records": records, "first_answer_s": t_first, "rss_kb": rss, "pss_kb": pss,
                "loadavg": b.loadavg(), "argv": " ".join(s.argv)}
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", default="10000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--servers", default="dns-node,knot,nsd")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds between first answer and reading memory")
    ap.add_argument("--restarts", type=int, default=0, help="dns-node restarts on the same data after each run")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {1})
    except OSError:
        pass
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dnsnode-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    sizes = [int(x) for x in args.records.split(",")]
    mach = b.machine()
    runs = []
    for records in sizes:
        zone, _ = ensure_zone(workdir, records, 1000)
        for run in range(args.runs):
            for name in names:
                r = one_run(name, workdir / "mem", zone, records, args.settle)
                r["run"] = run
                if name == "dns-node" and args.restarts > 0:
                    r["restarts_s"] = restart_times(workdir / "mem", zone, records, args.restarts)
                    b.log(f"  {records} dns-node run {run}: restarts " +
                          ", ".join(f"{t:.3f}s" for t in r["restarts_s"]))
                runs.append(r)
                b.log(f"  {records} {name} run {run}: first answer {r['first_answer_s']:.3f}s, "
                      f"RSS {r['rss_kb'] / 1024:.1f} MiB, PSS {r['pss_kb'] / 1024:.1f} MiB, load {r['loadavg']}")
    med = {}
    for records in sizes:
        for name in names:
            rs = [r for r in runs if r["server"] == name and r["records"] == records]
            med[(name, records)] = {k: b.median([r[k] for r in rs]) for k in ("first_answer_s", "rss_kb", "pss_kb")}
            med[(name, records)]["loads"] = ", ".join(r["loadavg"].split()[0] for r in rs)
    print(f"Machine: {mach['nproc']} CPUs, {mach['cpu']}, Linux {mach['kernel']}. Median of {args.runs} runs; "
          f"memory read {args.settle:g} s after the first answer.\n")
    print("| server | records | start to first answer (s) | VmRSS MiB (largest process) | Pss (tree) MiB | bytes/record (Pss) "
          "| marginal bytes/record | runs (1-min load avg) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        for records in sizes:
            m = med[(name, records)]
            marginal = "-"
            if records != sizes[0]:
                lo = med[(name, sizes[0])]
                marginal = f"{(m['pss_kb'] - lo['pss_kb']) * 1024 / (records - sizes[0]):.0f}"
            print(f"| {name} | {records:,} | {m['first_answer_s']:.3f} | {m['rss_kb'] / 1024:.1f} "
                  f"| {m['pss_kb'] / 1024:.1f} | {m['pss_kb'] * 1024 / records:.0f} | {marginal} "
                  f"| {args.runs} ({m['loads']}) |")
    big = sizes[-1]
    ours = med.get(("dns-node", big))
    for other in ("knot", "nsd"):
        o = med.get((other, big))
        if ours and o:
            print(f"\nAt {big:,} records, dns-node / {other}: memory {ours['pss_kb'] / o['pss_kb']:.2f}, "
                  f"start to first answer {ours['first_answer_s'] / o['first_answer_s']:.2f}")
    for records in sizes:
        restarts = [t for r in runs if r["server"] == "dns-node" and r["records"] == records
                    for t in r.get("restarts_s", [])]
        if not restarts:
            continue
        line = (f"\nAt {records:,} records, dns-node restarted on its data directory, zone file unchanged: "
                f"median {b.median(restarts):.3f} s over {len(restarts)} restarts "
                f"({', '.join(f'{t:.3f}' for t in restarts)})")
        starts = [med[(o, records)]["first_answer_s"] for o in ("knot", "nsd") if (o, records) in med]
        if starts:
            line += f"; {b.median(restarts) / min(starts):.2f} x the faster of Knot's and NSD's start"
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": mach, "args": vars(args), "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
