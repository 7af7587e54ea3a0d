#!/usr/bin/env python3
"""Generates a benchmark zone (RFC 1035 master format) and a dnsperf query file.

The zone holds SOA, NS, A, AAAA, MX, TXT, CNAME and SRV records: one record per
generated name, the type chosen by the name's number (h<i>, i % 10: 0-3 A,
4-5 AAAA, 6 MX, 7 TXT, 8 CNAME to an A name, 9 SRV). The query file is
mostly hits (the name with its own type; a CNAME name asked for A), some
NXDOMAIN (names that do not exist) and some NODATA (an A name asked for TXT).

Usage: gen_zone.py --records N --zone out.zone --queries out.queries
                   [--origin bench.test.] [--query-count 200000] [--seed 1]
"""
import argparse
import random
import sys

KINDS = ["A", "A", "A", "A", "AAAA", "AAAA", "MX", "TXT", "CNAME", "SRV"]
SERIAL = 2026112201


def record(i, origin):
    """Returns (owner, type, rdata) for generated name number i."""
    kind = KINDS[i % 10]
    owner = f"h{i}"
    if kind == "A":
        return owner, "A", f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    if kind == "AAAA":
        return owner, "AAAA", f"2001:db8::{(i >> 16) & 0xffff:x}:{i & 0xffff:x}"
    if kind == "MX":
        return owner, "MX", f"10 mx{i % 7}.{origin}"
    if kind == "TXT":
        return owner, "TXT", f'"v=bench1 id={i}" "k=some-text-of-moderate-length"'
    if kind == "CNAME":
        return owner, "CNAME", f"h{i - 8}"  # i % 10 == 0: an A name
    return owner, "SRV", f"10 5 5060 h{i - 9}"  # i % 10 == 0: an A name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, required=True, help="total records in the zone")
    ap.add_argument("--zone", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--origin", default="bench.test.")
    ap.add_argument("--query-count", type=int, default=200000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hit", type=float, default=0.85, help="share of queries that hit")
    ap.add_argument("--nxdomain", type=float, default=0.10, help="share of NXDOMAIN queries (rest NODATA)")
    a = ap.parse_args()
    origin = a.origin if a.origin.endswith(".") else a.origin + "."
    # Apex: SOA, 2 NS, their 2 A records, 7 MX hosts = 11 records.
    fixed = 11
    n = max(10, a.records - fixed)
    with open(a.zone, "w") as z:
        w = z.write
        w(f"$ORIGIN {origin}\n$TTL 3600\n")
        w(f"@ IN SOA ns1 hostmaster {SERIAL} 3600 900 604800 300\n")
        w("@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n")
        for m in range(7):
            w(f"mx{m} IN A 192.0.2.{10 + m}\n")
        lines = []
        for i in range(n):
            owner, t, rdata = record(i, origin)
            lines.append(f"{owner} IN {t} {rdata}\n")
            if len(lines) >= 10000:
                w("".join(lines))
                lines.clear()
        w("".join(lines))
    rng = random.Random(a.seed)
    with open(a.queries, "w") as q:
        out = []
        for _ in range(a.query_count):
            r = rng.random()
            i = rng.randrange(n)
            if r < a.hit:
                owner, t, _ = record(i, origin)
                if t == "CNAME":
                    t = "A"
                out.append(f"{owner}.{origin} {t}\n")
            elif r < a.hit + a.nxdomain:
                out.append(f"nx{i}.{origin} A\n")
            else:
                i -= i % 10  # an A name
                out.append(f"h{i}.{origin} TXT\n")
        q.write("".join(out))
    print(f"{a.zone}: {n + fixed} records; {a.queries}: {a.query_count} queries", file=sys.stderr)


if __name__ == "__main__":
    main()
