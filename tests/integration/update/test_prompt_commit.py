"""A committed change reaches every node without waiting for a heartbeat: the
leader tells the followers about a new commit index as soon as it has one.

The heartbeat interval is set far longer than the time allowed, so a node
that learnt the commit only from the next heartbeat would miss it by seconds,
whatever the machine's load."""
import base64
import time

import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest

from harness import Cluster

SECRET = base64.b64encode(b"prompt-commit-secret-0123456789a").decode()
CONFIG = {"tsig_keys": [{"name": "ddns-key.", "algorithm": "hmac-sha256", "secret": SECRET}]}
KEYRING = dns.tsigkeyring.from_text({"ddns-key.": (dns.tsig.HMAC_SHA256, SECRET)})

HEARTBEAT_S = 3.0
# Far below the heartbeat interval, far above what a loaded machine needs.
ALLOWED_S = HEARTBEAT_S / 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("prompt-commit"), 3, extra_config=CONFIG,
                cluster_settings={"heartbeat_ms": int(HEARTBEAT_S * 1000), "election_timeout_ms": int(HEARTBEAT_S * 2000),
                                  "propose_timeout_ms": 20000})
    c.start()
    yield c
    c.stop()


def add(node, owner, address):
    u = dns.update.UpdateMessage("example.com.", keyring=KEYRING, keyname="ddns-key.",
                                 keyalgorithm=dns.tsig.HMAC_SHA256)
    u.add(owner, 60, "A", address)
    return dns.query.tcp(u, "127.0.0.1", port=node.query_port, timeout=30)


def seen_everywhere_within(cluster, owner, address, seconds):
    """Whether every node answers owner A address within `seconds` of now."""
    deadline = time.monotonic() + seconds
    pending = list(cluster.nodes)
    while pending and time.monotonic() < deadline:
        pending = [n for n in pending if n.addresses(owner) != {address}]
    return not pending


@pytest.mark.parametrize("to", ["leader", "follower"])
def test_every_node_answers_a_change_before_the_next_heartbeat(cluster, to):
    leader = cluster.leader()
    node = leader if to == "leader" else next(n for n in cluster.nodes if n is not leader)
    # Several changes, so that none can ride on a heartbeat that happened to
    # be due: each must reach every node well inside one interval.
    for i in range(4):
        owner = f"prompt-{to}-{i}.example.com."
        address = f"192.0.2.{10 + i}"
        sent = time.monotonic()
        response = add(node, owner, address)
        assert response.rcode() == dns.rcode.NOERROR
        # A follower acknowledges only once it has applied the change, which
        # needs the commit index from the leader.
        assert time.monotonic() - sent < ALLOWED_S, f"change {i} was acknowledged only after a heartbeat"
        assert seen_everywhere_within(cluster, owner, address, ALLOWED_S), \
            f"change {i} was not answered by every node before the next heartbeat"
