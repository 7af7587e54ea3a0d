"""No amplification from the query port: UDP answers are capped at
max_udp_payload (1232 by default) whatever EDNS size the client claims, and
response rate limiting is on by default, so a flood of queries with a
victim's (spoofed) addresses draws a bounded stream of answers."""
import os
import re
import shutil
import socket
import subprocess
import urllib.request

import dns.flags
import dns.message
import pytest

from node_harness import ZONE_DIR, config_for, free_port

# A TXT RRset of about 8 KB: before the cap, a 44-octet query with EDNS
# 65535 drew all of it (about 196 times its size).
BIG_ZONE = "".join(f'big.example.com TXT "{i:02d}{"x" * 200}"\n' for i in range(40))
with open(os.path.join(ZONE_DIR, "zf0.txt")) as _f:
    EXAMPLE_COM = _f.read()  # the zone (SOA, NS) the big RRset lives in
ZONES = {"zf0.txt": EXAMPLE_COM, "big.txt": BIG_ZONE}


def dig_udp(node, *args):
    """dig over UDP only (+ignore: no retry over TCP on TC); returns its output."""
    dig = shutil.which("dig") or "/usr/bin/dig"
    out = subprocess.run([dig, f"@{node.host}", "-p", str(node.port), "+ignore", "+tries=1", "+time=3", *args],
                         capture_output=True, text=True, timeout=20).stdout
    return out


def kdig_udp(node, *args):
    """kdig over UDP only (+ignore: no retry over TCP on TC); returns its output."""
    kdig = shutil.which("kdig") or "/usr/bin/kdig"
    out = subprocess.run([kdig, f"@{node.host}", "-p", str(node.port), "+ignore", "+retry=0", "+timeout=3", *args],
                         capture_output=True, text=True, timeout=20).stdout
    return out


def flags_and_size(out):
    """(flags, answer size) from dig's or kdig's output."""
    flags = re.search(r";; [Ff]lags: ([a-z ]*);", out).group(1).split()
    size = re.search(r";; MSG SIZE\s+rcvd: (\d+)", out) or re.search(r";; Received (\d+) B", out)
    return flags, int(size.group(1))


def test_huge_edns_size_gets_a_truncated_answer_within_1232(start_node):
    node = start_node(zones=ZONES)
    # kdig sends the 44-octet query claiming 65535 octets that drew 8 KB
    # before the cap; dig 9.18 replaces a +bufsize above its own limit with
    # 1232, so it is checked too but proves less.
    for out in (kdig_udp(node, "+bufsize=65535", "big.example.com", "TXT"),
                dig_udp(node, "+bufsize=65535", "big.example.com", "TXT")):
        flags, size = flags_and_size(out)
        assert "tc" in flags, out
        assert size <= 1232, out
        # The OPT is kept and advertises the cap.
        assert re.search(r"EDNS: version: 0, flags:; udp: 1232|UDP size: 1232 B", out), out
    # Over TCP the whole RRset comes back.
    dig = shutil.which("dig") or "/usr/bin/dig"
    tcp = subprocess.run([dig, f"@{node.host}", "-p", str(node.port), "+tcp", "big.example.com", "TXT"],
                         capture_output=True, text=True, timeout=20).stdout
    assert len(re.findall(r"^big\.example\.com\.\s+\d+\s+IN\s+TXT", tcp, re.M)) == 40, tcp


def test_max_udp_payload_moves_the_cap(start_node):
    node = start_node(config_for(extra={"max_udp_payload": 4096}), zones=ZONES)
    flags, size = flags_and_size(kdig_udp(node, "+bufsize=65535", "big.example.com", "TXT"))
    assert "tc" in flags and size <= 4096  # 8 KB does not fit 4096 either
    # A smaller RRset, truncated under 1232, passes whole under 4096.
    mid = "".join(f'mid.example.com TXT "{i}{"y" * 200}"\n' for i in range(8))  # about 1,700 octets
    node2 = start_node(config_for(extra={"max_udp_payload": 4096}), zones={"zf0.txt": EXAMPLE_COM, "mid.txt": mid})
    flags, size = flags_and_size(kdig_udp(node2, "+bufsize=65535", "mid.example.com", "TXT"))
    assert "tc" not in flags and 1232 < size <= 4096
    node3 = start_node(zones={"zf0.txt": EXAMPLE_COM, "mid.txt": mid})
    flags, size = flags_and_size(kdig_udp(node3, "+bufsize=65535", "mid.example.com", "TXT"))
    assert "tc" in flags and size <= 1232


@pytest.mark.parametrize("value", [511, 4097, "1232"])
def test_max_udp_payload_out_of_range_is_refused_at_start(start_node, value):
    node = start_node(config_for(extra={"max_udp_payload": value}), wait=False)
    assert node.proc.wait(timeout=10) != 0
    assert "max_udp_payload: " in node.stderr, node.stderr


SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]  # one /24, as a spoofed flood "from" a victim's network
PER_SOURCE = 150


def spoofed_flood(node):
    """Sends PER_SOURCE queries from each of SOURCES (one /24), interleaved,
    and counts the full, truncated (slipped) and missing answers."""
    socks = []
    for src in SOURCES:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.bind((src, 0))
        socks.append(s)
    wire = dns.message.make_query("www.example.com.", "A").to_wire()
    for i in range(PER_SOURCE):
        for s in socks:
            s.sendto(wire, (node.host, node.port))
    full = truncated = 0
    for s in socks:
        s.settimeout(1.0)
        while True:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                break
            r = dns.message.from_wire(data)
            if r.flags & dns.flags.TC:
                truncated += 1
            else:
                full += 1
        s.close()
    sent = PER_SOURCE * len(SOURCES)
    return sent, full, truncated


def rrl_metrics(node, http_port):
    """dnsnode_rrl_limited_total by action, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {a: int(n) for a, n in re.findall(r'^dnsnode_rrl_limited_total\{action="(\w+)"\} (\d+)', text, re.M)}


def test_rrl_limits_a_spoofed_flood_by_default(start_node):
    cfg = config_for()
    del cfg["rrl"]  # the defaults: 100 answers per second per /24, slip 2
    http_port = free_port()
    cfg["nodes"]["0"]["http_loc"] = f"127.0.0.1:{http_port}"
    node = start_node(cfg)
    sent, full, truncated = spoofed_flood(node)
    print(f"\ndefault RRL: {sent} queries from {len(SOURCES)} addresses of one /24 -> "
          f"{full} answered, {truncated} truncated, {sent - full - truncated} dropped")
    # One second's burst (100) and whatever refilled while the flood lasted.
    assert full <= 300, f"{full} full answers to a {sent}-query flood from one /24"
    assert full >= 50
    # slip 2: about every other limited answer goes out truncated, the rest is dropped.
    limited = sent - full
    assert 0.3 * limited <= truncated <= 0.7 * limited, (full, truncated)
    # /metrics counts what RRL did (a datagram lost on the way counts there, not here).
    m = rrl_metrics(node, http_port)
    assert m["slipped"] >= truncated and m["dropped"] > 0, m
    assert m["slipped"] + m["dropped"] + full >= sent * 0.98, m


def test_rrl_off_answers_the_whole_flood(start_node):
    node = start_node(config_for(extra={"rrl": {"responses_per_second": 0}}))
    sent, full, truncated = spoofed_flood(node)
    assert truncated == 0
    assert full >= sent * 0.98, f"only {full} of {sent} answered with RRL off"


def test_exempt_clients_are_not_limited_but_their_neighbours_are(start_node):
    node = start_node(config_for(extra={"rrl": {"exempt_clients": ["127.0.0.2/31", "127.0.0.4/30"]}}))
    sent, full, truncated = spoofed_flood(node)
    # 127.0.0.2-7 exempt (6 of 8 sources); 127.0.0.8 and .9 share the default budget.
    exempt_answers = 6 * PER_SOURCE
    assert exempt_answers * 0.98 <= full <= exempt_answers + 300, full
    assert truncated > 0
