"""A UDP flood from one network is met by response rate limiting (RRL): past
its rate a source gets every slip-th answer truncated (TC=1, so a real client
retries over TCP) and the rest dropped, while other networks and TCP are
served normally."""
import socket
import time

import dns.flags
import dns.message
import dns.query

from node_harness import config_for

RATE = 20


def flood(node, count, source="127.0.0.1"):
    """Sends `count` queries from one socket, then counts full and truncated answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    wire = []
    for i in range(count):
        q = dns.message.make_query("www.example.com.", "A")
        q.id = i
        wire.append(q.to_wire())
    for w in wire:
        s.sendto(w, (node.host, node.port))
    full = truncated = 0
    s.settimeout(1.0)
    while True:
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            break
        r = dns.message.from_wire(data)
        if r.flags & dns.flags.TC:
            assert not r.answer
            truncated += 1
        else:
            full += 1
    s.close()
    return full, truncated


def test_flood_from_one_source_is_rate_limited_with_slip(start_node):
    node = start_node(config_for(extra={"rrl": {"responses_per_second": RATE, "slip": 2, "window": 2}}))
    full, truncated = flood(node, 400)
    print(f"\nRRL {RATE}/s, slip 2: 400 queries -> {full} answered, {truncated} truncated, {400 - full - truncated} dropped")
    assert full <= RATE * 3, f"{full} full answers to a 400-query burst with a limit of {RATE}/s"
    assert full >= RATE // 2, f"only {full} full answers: the first second's budget must be served"
    assert 100 <= truncated <= 250, f"slip=2 should truncate about half of the limited answers, got {truncated}"
    # Another network is not affected, and TCP is never limited.
    other = dns.query.udp(dns.message.make_query("www.example.com.", "A"), node.host, port=node.port,
                          timeout=2, source="127.0.1.1")
    assert other.answer and not other.flags & dns.flags.TC
    r = dns.query.tcp(dns.message.make_query("www.example.com.", "A"), node.host, port=node.port, timeout=2)
    assert r.answer
    # Once the flood stops for longer than the window, the source is served again.
    time.sleep(3.5)
    again = dns.query.udp(dns.message.make_query("www.example.com.", "A"), node.host, port=node.port, timeout=2)
    assert again.answer and not again.flags & dns.flags.TC


def test_without_rrl_a_burst_is_answered_in_full(start_node):
    node = start_node(config_for(extra={"rrl": {"responses_per_second": 0}}))
    full, truncated = flood(node, 200)
    assert truncated == 0
    assert full >= 190, f"only {full} of 200 answered with RRL off"
