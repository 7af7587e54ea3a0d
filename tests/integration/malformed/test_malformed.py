"""Malformed packets: silence where no header can be read, FORMERR where it
can, and the server keeps answering afterwards."""
import socket
import struct

import dns.message
import dns.rcode
import pytest

from node_harness import rrset_texts


def udp_exchange(node, payload, timeout=0.5):
    """Sends raw bytes; returns the raw answer or None on silence."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, (node.host, node.port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def assert_still_serving(node):
    assert rrset_texts(node.query("www.example.com.", "A")) == ["www.example.com. A 192.0.2.10"]


@pytest.mark.parametrize("payload", [b"", b"\x12", b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00"])
def test_short_header_gets_silence(node, payload):
    assert udp_exchange(node, payload) is None
    assert_still_serving(node)


def test_a_response_is_not_answered(node):
    q = dns.message.make_query("www.example.com.", "A")
    wire = bytearray(q.to_wire())
    wire[2] |= 0x80  # QR: this is a response, answering it could start a loop
    assert udp_exchange(node, bytes(wire)) is None
    assert_still_serving(node)


def formerr_id(raw):
    assert raw is not None, "no answer"
    qid, flags = struct.unpack("!HH", raw[:4])
    assert flags & 0x8000, "not a response"
    return qid, flags & 0xF


def test_garbage_after_a_header_is_formerr(node):
    raw = udp_exchange(node, header(qid=0xBEEF) + b"\xff\xfe\xfd garbage")
    assert formerr_id(raw) == (0xBEEF, dns.rcode.FORMERR)
    assert_still_serving(node)


def test_truncated_question_is_formerr(node):
    q = dns.message.make_query("www.example.com.", "A").to_wire()
    raw = udp_exchange(node, q[:-3])
    assert formerr_id(raw)[1] == dns.rcode.FORMERR
    assert_still_serving(node)


def test_compression_loop_is_formerr(node):
    # The question name is a pointer to itself (offset 12).
    raw = udp_exchange(node, header(qid=0x0A0A) + b"\xc0\x0c" + b"\x00\x01\x00\x01")
    assert formerr_id(raw) == (0x0A0A, dns.rcode.FORMERR)
    # Two pointers pointing at each other.
    raw = udp_exchange(node, header(qid=0x0B0B) + b"\x03www\xc0\x11\xc0\x0c" + b"\x00\x01\x00\x01")
    assert formerr_id(raw)[1] == dns.rcode.FORMERR
    assert_still_serving(node)


def test_label_running_past_the_end_is_formerr(node):
    raw = udp_exchange(node, header(qid=0x0C0C) + b"\x3fabc")
    assert formerr_id(raw) == (0x0C0C, dns.rcode.FORMERR)
    assert_still_serving(node)


def test_many_bad_packets_then_good(node):
    import random
    rng = random.Random(7)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(500):
            n = rng.randint(0, 80)
            s.sendto(bytes(rng.getrandbits(8) for _ in range(n)), (node.host, node.port))
    assert_still_serving(node)
    assert node.proc.poll() is None


def test_malformed_over_tcp_then_good_on_same_connection(node):
    with socket.create_connection((node.host, node.port), timeout=3) as s:
        bad = header(qid=0x7777) + b"\xc0\x0c\x00\x01\x00\x01"
        good = dns.message.make_query("www.example.com.", "A")
        gw = good.to_wire()
        s.sendall(struct.pack("!H", len(bad)) + bad + struct.pack("!H", len(gw)) + gw)
        answers = {}
        for _ in range(2):
            (n,) = struct.unpack("!H", s.recv(2, socket.MSG_WAITALL))
            raw = s.recv(n, socket.MSG_WAITALL)
            qid, rcode = struct.unpack("!HH", raw[:4])
            answers[qid] = (rcode & 0xF, raw)
        assert answers[0x7777][0] == dns.rcode.FORMERR
        assert answers[good.id][0] == dns.rcode.NOERROR
