"""Hostile bytes on the Raft peer port: garbage, frames with a wrong MAC,
authenticated frames that do not decode and lying lengths are dropped and
counted (STATUS peer_auth_failures / peer_decode_failures), and the node
keeps replicating."""
import hashlib
import hmac
import json
import os
import random
import socket
import struct
import time

import pytest

from harness import Cluster


@pytest.fixture
def cluster3(tmp_path):
    c = Cluster(tmp_path, 3).start()
    yield c
    c.stop()


def secret_of(cluster):
    with open(cluster.config_path) as f:
        return json.load(f)["cluster"]["secret"].encode()


def frame(payload, mac):
    return struct.pack("<I", len(payload) + len(mac)) + payload + mac


def send(port, data, linger=0.3):
    """Sends `data` on a fresh connection and returns whether the peer closed it."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return True
        s.settimeout(linger)
        try:
            return s.recv(1) == b""
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


def counters(node):
    st = node.status()
    assert "peer_auth_failures" in st and "peer_decode_failures" in st, st
    return st["peer_auth_failures"], st["peer_decode_failures"]


def test_garbage_and_forged_frames_are_dropped_counted_and_harmless(cluster3):
    target = cluster3.nodes[0]
    auth0, decode0 = counters(target)
    rnd = random.Random(11)
    secret = secret_of(cluster3)

    # 1. Frames with a plausible length and payload but a wrong MAC: dropped, counted as auth failures.
    forged = b""
    for _ in range(20):
        payload = bytes([1, rnd.randint(1, 15)]) + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(8, 200)))
        forged += frame(payload, bytes(rnd.getrandbits(8) for _ in range(32)))
    send(target.raft_port, forged)

    # 2. Authenticated (right MAC) but undecodable payloads: counted as decode failures.
    bad_payloads = [bytes([99, 5]) + b"\x00" * 20,        # unknown codec version
                    bytes([1, 250]) + b"\x00" * 20,       # unknown message type
                    bytes([1, 5]) + b"\xff" * 40]         # varints running off the end
    for p in bad_payloads:
        send(target.raft_port, frame(p, hmac.new(secret, p, hashlib.sha256).digest()))

    # 3. Framing that cannot be trusted: the connection is closed.
    assert send(target.raft_port, struct.pack("<I", 0xFFFFFFFF) + b"x" * 100, linger=2), "a 4 GiB frame length must close"
    assert send(target.raft_port, struct.pack("<I", 3) + b"abc", linger=2), "a frame shorter than a MAC must close"

    # 4. Plain noise on many connections at once.
    socks = [socket.create_connection(("127.0.0.1", target.raft_port), timeout=3) for _ in range(50)]
    for s in socks:
        try:
            s.sendall(os.urandom(rnd.randint(1, 3000)))
        except OSError:
            pass
    for s in socks:
        s.close()

    auth1, decode1 = counters(target)
    assert auth1 >= auth0 + 20, (auth0, auth1)
    assert decode1 >= decode0 + len(bad_payloads), (decode0, decode1)

    # The attacked node still takes part: a change made on it reaches everyone.
    reply = target.command("ADD: hostile-ok.example.com A 192.0.2.77")
    assert reply.startswith("OK"), reply
    cluster3.wait_all_answer("hostile-ok.example.com.", {"192.0.2.77"}, timeout=10)
    assert all(n.alive() for n in cluster3.nodes)


def test_a_peer_announcing_a_huge_frame_and_sending_nothing_costs_little(cluster3):
    target = cluster3.nodes[1]
    holders = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", target.raft_port), timeout=3)
        s.sendall(struct.pack("<I", 60 << 20) + b"\x01\x05")  # promises 60 MiB, sends 2 bytes
        holders.append(s)
    time.sleep(0.5)
    rss_kb = int(next(line.split()[1] for line in open(f"/proc/{target.proc.pid}/status") if line.startswith("VmRSS")))
    try:
        assert rss_kb < 400 * 1024, f"{rss_kb} kB resident after 20 lying 60 MiB announcements"
        reply = cluster3.nodes[2].command("ADD: still-fine.example.com A 192.0.2.78")
        assert reply.startswith("OK"), reply
        cluster3.wait_all_answer("still-fine.example.com.", {"192.0.2.78"}, timeout=10)
    finally:
        for s in holders:
            s.close()
