"""Changes that reach a node together are written to its log together: one
fsync for the lot (group commit), not one each.

The leader is paused (SIGSTOP) while a follower forwards K signed UPDATEs to
it, so that they wait in its socket together. Once it resumes, each node must
have synced far fewer log batches than K to commit and apply them all. The
count comes from STATUS (log_batches_synced), so the machine's load does not
change the outcome."""
import base64
import signal
import socket
import struct
import threading

import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update

from harness import Cluster
import pytest

SECRET = base64.b64encode(b"group-commit-secret-0123456789ab").decode()
CONFIG = {"tsig_keys": [{"name": "ddns-key.", "algorithm": "hmac-sha256", "secret": SECRET}]}
KEYRING = dns.tsigkeyring.from_text({"ddns-key.": (dns.tsig.HMAC_SHA256, SECRET)})

K = 40


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Long heartbeat and election timeouts: pausing the leader must not start
    # an election.
    c = Cluster(tmp_path_factory.mktemp("group-commit"), 3, extra_config=CONFIG,
                cluster_settings={"heartbeat_ms": 1000, "election_timeout_ms": 10000, "propose_timeout_ms": 60000})
    c.start()
    yield c
    c.stop()


def update_wire(i):
    u = dns.update.UpdateMessage("example.com.", keyring=KEYRING, keyname="ddns-key.",
                                 keyalgorithm=dns.tsig.HMAC_SHA256)
    u.add(f"batch-{i}.example.com.", 60, "A", f"192.0.2.{i + 1}")
    return u.to_wire()


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        data += chunk
    return data


def send_together(port, wires):
    """Writes every message on one TCP connection at once; returns the rcode of each answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
        rcodes = []
        for _ in wires:
            (length,) = struct.unpack("!H", read_exactly(s, 2))
            rcodes.append(read_exactly(s, length)[3] & 0xF)
    return rcodes


def test_changes_that_arrive_together_share_log_syncs_on_every_node(cluster):
    leader = cluster.leader()
    follower = next(n for n in cluster.nodes if n is not leader)
    before = {n.id: n.status()["log_batches_synced"] for n in cluster.nodes}
    forwarded_before = follower.status()["peer_frames_sent"]
    result = {}

    def client():
        result["rcodes"] = send_together(follower.query_port, [update_wire(i) for i in range(K)])

    thread = threading.Thread(target=client, daemon=True)
    leader.proc.send_signal(signal.SIGSTOP)
    try:
        thread.start()
        # Every change has left the follower (a Forward each) for the paused leader.
        cluster.wait_until(lambda: follower.status()["peer_frames_sent"] >= forwarded_before + K, timeout=30,
                           what=f"the follower forwarding {K} changes")
    finally:
        leader.proc.send_signal(signal.SIGCONT)
    thread.join(90)
    assert result.get("rcodes") == [dns.rcode.NOERROR] * K
    # Applied in log order, so the last name answered everywhere means all are.
    cluster.wait_all_answer(f"batch-{K - 1}.example.com.", {f"192.0.2.{K}"})
    synced = {n.id: n.status()["log_batches_synced"] - before[n.id] for n in cluster.nodes}
    # One batch for the entries, one for the commit index that follows, and
    # a few more for what arrives in between: far fewer than one per change.
    assert all(count <= K // 4 for count in synced.values()), \
        f"log batches synced per node for {K} changes sent together: {synced}"
