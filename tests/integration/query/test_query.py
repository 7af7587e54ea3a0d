"""Queries over UDP and TCP against the shipped zones: answers, flags,
pipelining on one TCP connection, idle timeout, connection cap, IPv6."""
import os
import socket
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from node_harness import ZONE_DIR, config_for, rrset_texts


def test_udp_answer_is_authoritative(node):
    r = node.query("www.example.com.", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert rrset_texts(r) == ["www.example.com. A 192.0.2.10"]


def test_records_of_every_zone_file_are_served(node):
    r = node.query("www.example.org.", "A")
    assert rrset_texts(r) == ["www.example.org. A 198.51.100.10"]
    r = node.query("example.com.", "MX")
    assert rrset_texts(r) == ["example.com. MX 10 mail.example.com.", "example.com. MX 20 mail2.example.com."]


def test_tcp_answer_matches_udp(node):
    udp = node.query("example.com.", "NS")
    tcp = node.query("example.com.", "NS", tcp=True)
    assert tcp.flags & dns.flags.AA
    assert rrset_texts(tcp) == rrset_texts(udp) == ["example.com. NS ns1.example.com.", "example.com. NS ns2.example.com."]


def test_nxdomain_and_nodata(node):
    r = node.query("nope.example.com.", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.flags & dns.flags.AA
    assert [rs.rdtype for rs in r.authority] == [dns.rdatatype.SOA]
    r = node.query("www.example.com.", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer


def test_name_outside_every_zone_is_refused(node):
    r = node.query("example.net.", "A")
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.flags & dns.flags.AA


@pytest.mark.parametrize("transport", [[], ["+tcp"]])
def test_dig_mx(node, transport):
    out = subprocess.run(["dig", "-p", str(node.port), "@127.0.0.1", "example.com", "MX", "+norecurse"] + transport,
                         capture_output=True, text=True, timeout=10).stdout
    assert "status: NOERROR" in out
    assert " aa" in out.split("flags:")[1].split(";")[0]
    assert "MX\t10 mail.example.com." in out
    assert "MX\t20 mail2.example.com." in out


def tcp_connect(node):
    s = socket.create_connection((node.host, node.port), timeout=3)
    return s


def framed(msg):
    wire = msg.to_wire()
    return struct.pack("!H", len(wire)) + wire


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_framed(sock):
    (n,) = struct.unpack("!H", read_exact(sock, 2))
    return dns.message.from_wire(read_exact(sock, n))


def test_pipelined_queries_on_one_connection(node):
    names = ["www.example.com.", "mail.example.com.", "ftp.example.com.", "nope.example.com.", "www.example.org."]
    queries = [dns.message.make_query(n, "A") for n in names]
    with tcp_connect(node) as s:
        # All queries in one write; answers may come in any order (RFC 7766 §6.2.1.1).
        s.sendall(b"".join(framed(q) for q in queries))
        answers = {}
        for _ in queries:
            r = read_framed(s)
            answers[r.id] = r
        for q in queries:
            r = answers[q.id]
            assert r.question[0].name == q.question[0].name
        assert answers[queries[3].id].rcode() == dns.rcode.NXDOMAIN
        assert rrset_texts(answers[queries[0].id]) == ["www.example.com. A 192.0.2.10"]
        # The connection stays usable after the batch.
        q = dns.message.make_query("example.com.", "SOA")
        s.sendall(framed(q))
        assert read_framed(s).id == q.id


def test_query_split_across_writes(node):
    q = dns.message.make_query("www.example.com.", "A")
    data = framed(q)
    with tcp_connect(node) as s:
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            time.sleep(0.001)
        assert rrset_texts(read_framed(s)) == ["www.example.com. A 192.0.2.10"]


def test_idle_tcp_connection_is_closed(start_node):
    node = start_node(config=config_for(extra={"tcp": {"idle_timeout_ms": 500}}))
    with tcp_connect(node) as s:
        q = dns.message.make_query("www.example.com.", "A")
        s.sendall(framed(q))
        assert read_framed(s).id == q.id
        s.settimeout(5)
        start = time.time()
        assert s.recv(1) == b""  # closed by the server
        elapsed = time.time() - start
        assert 0.3 < elapsed < 3, elapsed


def test_connection_cap_refuses_the_newest(start_node):
    node = start_node(config=config_for(extra={"tcp": {"max_connections": 2}}))
    a, b = tcp_connect(node), tcp_connect(node)
    try:
        # Make sure both are accepted before the third arrives.
        for s in (a, b):
            q = dns.message.make_query("www.example.com.", "A")
            s.sendall(framed(q))
            assert read_framed(s).id == q.id
        c = tcp_connect(node)
        c.settimeout(3)
        try:
            c.sendall(framed(dns.message.make_query("www.example.com.", "A")))
            assert c.recv(2) == b""
        except (ConnectionResetError, BrokenPipeError):
            pass
        finally:
            c.close()
        # The first two are still served.
        q = dns.message.make_query("mail.example.com.", "A")
        a.sendall(framed(q))
        assert read_framed(a).id == q.id
    finally:
        a.close()
        b.close()
    # Once they are gone, new connections are accepted again.
    deadline = time.time() + 3
    while True:
        try:
            r = node.query("www.example.com.", "A", tcp=True)
            assert r.rcode() == dns.rcode.NOERROR
            break
        except (EOFError, ConnectionResetError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def test_ipv6_listener(start_node):
    node = start_node(host="::1")
    assert node.host == "::1"
    r = node.query("www.example.com.", "A")
    assert rrset_texts(r) == ["www.example.com. A 192.0.2.10"]
    r = node.query("www.example.com.", "A", tcp=True)
    assert rrset_texts(r) == ["www.example.com. A 192.0.2.10"]


def test_master_format_zone_file(start_node):
    node = start_node(zones=[os.path.join(ZONE_DIR, "example.com.zone")])
    r = node.query("example.com.", "MX")
    assert rrset_texts(r) == ["example.com. MX 10 mail.example.com."]
    assert r.flags & dns.flags.AA
    r = node.query("example.com.", "SOA")
    assert "2017120101" in rrset_texts(r)[0]


def test_query_log_only_when_asked(start_node):
    quiet = start_node()
    quiet.query("www.example.com.", "A")
    loud = start_node(args=["--query-log"])
    loud.query("www.example.com.", "A")
    time.sleep(0.2)
    assert "www.example.com. A" not in quiet.stderr
    assert "www.example.com. A -> NOERROR" in loud.stderr


def test_client_that_does_not_read_gets_every_answer_later(start_node):
    # Output is bounded per connection: the server stops reading from a client
    # that does not read its answers, and loses none of them.
    import threading
    node = start_node(config=config_for(extra={"tcp": {"max_buffered_output": 65537}}))
    count = 8000
    template = dns.message.make_query("nope.example.com.", "A").to_wire()
    stream = b"".join(struct.pack("!HH", len(template), i) + template[2:] for i in range(count))
    with tcp_connect(node) as s:
        s.settimeout(20)
        sender = threading.Thread(target=lambda: s.sendall(stream))
        sender.start()
        time.sleep(0.3)  # the server fills its bound while nobody reads
        # Other clients are served meanwhile.
        assert node.query("www.example.com.", "A", tcp=True).rcode() == dns.rcode.NOERROR
        seen = set()
        for _ in range(count):
            (n,) = struct.unpack("!H", read_exact(s, 2))
            qid, flags = struct.unpack("!HH", read_exact(s, n)[:4])
            assert flags & 0xF == dns.rcode.NXDOMAIN
            seen.add(qid)
        sender.join()
        assert seen == set(range(count))
