"""DIGEST: one line naming the store's content (SHA-256), applied index and
record count; equal on every node of a cluster once they applied the same
log, different as soon as the records differ."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cluster"))

from harness import Cluster  # noqa: E402

DIGEST = re.compile(r"^OK ([0-9a-f]{64}) (\d+) (\d+)$")


def digest(node):
    reply = node.command("DIGEST")
    m = DIGEST.match(reply)
    assert m, reply
    return m.group(1), int(m.group(2)), int(m.group(3))


def test_digest_follows_the_records_and_agrees_with_status(node):
    d0, index0, count0 = digest(node)
    status = json.loads(node.command("STATUS")[3:])
    # The store's applied index: the last entry that reached the store
    # (membership entries, which Raft also applies, do not).
    assert count0 == status["records"] and 1 <= index0 <= status["applied_index"]
    assert node.command("ADD: digest.example.com A 10.7.7.7").startswith("OK")
    d1, index1, count1 = digest(node)
    assert d1 != d0 and count1 == count0 + 1 and index1 > index0
    assert node.command("REMOVE: digest.example.com A 10.7.7.7").startswith("OK")
    d2, index2, count2 = digest(node)
    # The zone's SOA serial moved with each change: a third content.
    assert d2 not in (d0, d1) and count2 == count0 and index2 > index1
    assert node.command("DIGEST now").startswith("ERROR: line ")
    assert "DIGEST" in node.command("HELP")


def test_every_node_of_a_cluster_gives_the_same_digest(tmp_path):
    c = Cluster(tmp_path, 3).start()
    try:
        leader = c.leader()
        follower = c.follower()
        for i in range(5):
            assert follower.command(f"ADD: d{i}.example.com A 10.8.0.{i + 1}").startswith("OK")
        assert leader.command("REMOVE: d0.example.com A 10.8.0.1").startswith("OK")
        c.wait_all_answer("d0.example.com.", None)
        c.wait_all_answer("d4.example.com.", {"10.8.0.5"})

        def same():
            ds = [digest(n) for n in c.nodes]
            return len(set(ds)) == 1
        c.wait_until(same, 10, "every node giving the same DIGEST")
        before = digest(leader)[0]
        # A node down during a change comes back with the old records, then
        # catches up to the same digest.
        lagging = c.follower()
        lagging.kill()
        assert leader.command("ADD: d9.example.com A 10.8.0.9").startswith("OK")
        live = [n for n in c.nodes if n.alive()]
        c.wait_until(lambda: len({digest(n) for n in live}) == 1, 10, "the live nodes agreeing")
        after = digest(leader)[0]
        assert after != before
        lagging.start()
        c.wait_until(lambda: {digest(n)[0] for n in c.nodes} == {after}, 15, "the restarted node catching up")
        assert len({digest(n) for n in c.nodes}) == 1
    finally:
        c.stop()
