"""Hostile bytes on the Raft peer port. Without credentials nothing gets past
the TLS handshake: garbage, plaintext frames and lying lengths are refused and
counted (STATUS peer_auth_failures). Behind a member's certificate, frames
that do not decode are dropped (peer_decode_failures), lying lengths close
the link, and the node keeps replicating."""
import os
import random
import socket
import struct
import time

import pytest

from harness import Cluster
from peer_wire import VOTE, Pki, cert_cluster, frame, message, send_and_see_closed, tls_client


@pytest.fixture
def cluster3(tmp_path):
    c = Cluster(tmp_path, 3).start()
    yield c
    c.stop()


@pytest.fixture
def cert_cluster3(tmp_path):
    pki = Pki(tmp_path / "pki", range(3))
    c = cert_cluster(tmp_path / "nodes", 3, pki).start()
    c.pki = pki
    yield c
    c.stop()


def counters(node):
    st = node.status()
    assert "peer_auth_failures" in st and "peer_decode_failures" in st, st
    return st["peer_auth_failures"], st["peer_decode_failures"]


def test_unauthenticated_bytes_never_get_past_the_handshake(cluster3):
    target = cluster3.nodes[0]
    auth0, decode0 = counters(target)
    rnd = random.Random(11)

    # 1. Well-formed frames in clear, as the frame format alone would allow.
    forged = b"".join(frame(message(VOTE, 2, 1, 50 + i)) for i in range(20))
    with socket.create_connection(("127.0.0.1", target.raft_port), timeout=3) as s:
        assert send_and_see_closed(s, forged), "plaintext frames must end the connection"

    # 2. Lying lengths and plain noise, on many connections at once.
    socks = [socket.create_connection(("127.0.0.1", target.raft_port), timeout=3) for _ in range(30)]
    for i, s in enumerate(socks):
        try:
            s.sendall(struct.pack("<I", 0xFFFFFFFF) + b"x" * 100 if i % 2 else os.urandom(rnd.randint(1, 3000)))
        except OSError:
            pass
    time.sleep(0.5)
    for s in socks:
        s.close()

    cluster3.wait_until(lambda: counters(target)[0] >= auth0 + 31, timeout=10, what="31 refused handshakes counted")
    _, decode1 = counters(target)
    assert decode1 == decode0, "nothing unauthenticated may reach the frame decoder"
    assert target.status()["peer_frames_received"] > 0

    # The attacked node still takes part: a change made on it reaches everyone.
    reply = target.command("ADD: hostile-ok.example.com A 192.0.2.77")
    assert reply.startswith("OK"), reply
    cluster3.wait_all_answer("hostile-ok.example.com.", {"192.0.2.77"}, timeout=10)
    assert all(n.alive() for n in cluster3.nodes)


def test_a_member_sending_garbage_is_dropped_and_counted(cert_cluster3):
    c = cert_cluster3
    target = c.nodes[0]
    auth0, decode0 = counters(target)

    # Frames that do not decode, from a link that authenticated as node 1
    # (Raft id 2): dropped one by one, the link stays up.
    bad_payloads = [bytes([99, 5]) + b"\x00" * 20,        # unknown codec version
                    bytes([1, 250]) + b"\x00" * 20,       # unknown message type
                    bytes([1, 5]) + b"\xff" * 40]         # varints running off the end
    with tls_client(target.raft_port, c.pki, as_node=1, server_node=0) as s:
        s.sendall(b"".join(frame(p) for p in bad_payloads))
        c.wait_until(lambda: counters(target)[1] >= decode0 + len(bad_payloads), timeout=10,
                     what="decode failures counted")
        # Framing that cannot be trusted closes the link.
        assert send_and_see_closed(s, struct.pack("<I", 0xFFFFFFFF) + b"x" * 100), "a 4 GiB frame length must close"
    with tls_client(target.raft_port, c.pki, as_node=1, server_node=0) as s:
        assert send_and_see_closed(s, struct.pack("<I", 1) + b"a"), "a frame shorter than a header must close"
    assert counters(target)[0] == auth0, "a member's own certificate is not an authentication failure"

    reply = target.command("ADD: member-garbage-ok.example.com A 192.0.2.79")
    assert reply.startswith("OK"), reply
    c.wait_all_answer("member-garbage-ok.example.com.", {"192.0.2.79"}, timeout=10)


def test_a_member_announcing_a_huge_frame_and_sending_nothing_costs_little(cert_cluster3):
    c = cert_cluster3
    target = c.nodes[1]
    holders = []
    # A member may hold one link; strangers are refused before any frame is read.
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", target.raft_port), timeout=3)
        s.sendall(struct.pack("<I", 60 << 20) + b"\x01\x05")  # promises 60 MiB, sends 2 bytes
        holders.append(s)
    member = tls_client(target.raft_port, c.pki, as_node=2, server_node=1)
    member.sendall(struct.pack("<I", 60 << 20) + b"\x01\x05")
    holders.append(member)
    time.sleep(0.5)
    rss_kb = int(next(line.split()[1] for line in open(f"/proc/{target.proc.pid}/status") if line.startswith("VmRSS")))
    try:
        assert rss_kb < 400 * 1024, f"{rss_kb} kB resident after lying 60 MiB announcements"
        reply = c.nodes[2].command("ADD: still-fine.example.com A 192.0.2.78")
        assert reply.startswith("OK"), reply
        c.wait_all_answer("still-fine.example.com.", {"192.0.2.78"}, timeout=10)
    finally:
        for s in holders:
            s.close()
