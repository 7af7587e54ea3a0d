"""Replicated cluster: any node takes a change, every node serves it, no quorum needed to answer."""
import random
import threading
import time

import pytest

from harness import Cluster, shipped_cluster


@pytest.fixture
def cluster3(tmp_path):
    c = Cluster(tmp_path, 3).start()
    yield c
    c.stop()


def test_shipped_config_and_zone_files_form_a_cluster(tmp_path):
    c = shipped_cluster(tmp_path).start()
    try:
        mx = c.nodes[2].query("example.com.", "MX")
        assert mx.flags & 0x0400  # AA
        c.wait_all_answer("api.example.com.", {"192.0.2.30", "192.0.2.31"})
        def seeded_cleanly(n):
            with open(n.log_path) as f:
                return "0 rejected, 0 lines skipped" in f.read()
        for n in c.nodes:
            c.wait_until(lambda: seeded_cleanly(n), 20, f"node {n.id} loading its zone file with nothing rejected")
    finally:
        c.stop()


def test_status_reports_the_raft_state(cluster3):
    leader = cluster3.leader()
    follower = cluster3.follower()
    s = follower.status()
    for key in ("node", "role", "term", "leader", "commit_index", "applied_index", "log_first_index",
                "log_last_index", "peers"):
        assert key in s, key
    assert s["role"] == "follower"
    assert s["leader"] == str(leader.id)
    assert len(s["peers"]) == 2
    ls = leader.status()
    assert all(p["connected"] for p in ls["peers"].values()), ls
    assert all(p["match_index"] >= 1 for p in ls["peers"].values()), ls


def test_every_node_serves_every_zone_file(cluster3):
    for i in range(3):
        cluster3.wait_all_answer(f"seed{i}.example.com.", {f"10.0.0.{i + 1}"})


@pytest.mark.parametrize("size", [3, 5])
def test_change_on_a_follower_is_answered_by_every_node(tmp_path, size):
    c = Cluster(tmp_path, size).start()
    try:
        follower = c.follower()
        assert follower.command("ADD: fresh.example.com A 192.0.2.10").startswith("OK")
        # The node that took the change answers it at once, the rest shortly.
        assert follower.addresses("fresh.example.com.") == {"192.0.2.10"}
        c.wait_all_answer("fresh.example.com.", {"192.0.2.10"})
        assert follower.command("REMOVE: fresh.example.com A 192.0.2.10").startswith("OK")
        assert follower.addresses("fresh.example.com.") is None
        c.wait_all_answer("fresh.example.com.", None)
    finally:
        c.stop()


def test_killed_leader_is_replaced_and_catches_up_on_restart(cluster3):
    leader = cluster3.leader()
    assert leader.command("ADD: before.example.com A 192.0.2.1").startswith("OK")
    leader.kill()
    survivors = cluster3.live()
    new_leader = cluster3.leader(among=survivors)
    assert new_leader is not leader
    assert survivors[0].command("ADD: after.example.com A 192.0.2.2").startswith("OK")
    cluster3.wait_all_answer("after.example.com.", {"192.0.2.2"})
    leader.start()
    assert leader.addresses("before.example.com.") == {"192.0.2.1"}  # from its own data
    cluster3.wait_all_answer("after.example.com.", {"192.0.2.2"}, nodes=[leader])


def test_without_a_majority_queries_are_answered_and_changes_refused(cluster3):
    n0, n1, n2 = cluster3.nodes
    assert n0.command("ADD: kept.example.com A 192.0.2.3").startswith("OK")
    cluster3.wait_all_answer("kept.example.com.", {"192.0.2.3"})
    n1.kill()
    n2.kill()
    # Reads never need a quorum.
    assert n0.addresses("kept.example.com.") == {"192.0.2.3"}
    reply = n0.command("ADD: lost.example.com A 192.0.2.4", timeout=30)
    assert reply.startswith("ERROR:"), reply
    assert "no quorum" in reply or "timeout" in reply, reply
    assert n0.addresses("lost.example.com.") is None
    # The refused change is applied nowhere, ever: not after the others return either.
    n1.start()
    n2.start()
    cluster3.leader()
    assert n1.command("ADD: marker.example.com A 192.0.2.5").startswith("OK")
    cluster3.wait_all_answer("marker.example.com.", {"192.0.2.5"})
    if "no quorum" in reply:
        for n in cluster3.nodes:
            assert n.addresses("lost.example.com.") is None


def test_whole_cluster_restart_keeps_every_change(cluster3):
    names = []
    for i in range(20):
        node = cluster3.nodes[i % 3]
        assert node.command(f"ADD: r{i}.example.com A 192.0.2.{i + 1}").startswith("OK")
        names.append((f"r{i}.example.com.", {f"192.0.2.{i + 1}"}))
    assert cluster3.nodes[1].command("REMOVE: seed0.example.com A 10.0.0.1").startswith("OK")
    for n in cluster3.nodes:
        n.kill()
    for n in cluster3.nodes:
        n.start()
    for n in cluster3.nodes:  # each from its own data, before any election
        for name, expected in names:
            assert n.addresses(name) == expected, (n.id, name)
        # A runtime removal survives restart: the unchanged zone file is not re-proposed.
        assert n.addresses("seed0.example.com.") is None


def test_node_down_past_the_prune_bound_catches_up_by_snapshot(tmp_path):
    c = Cluster(tmp_path, 3, {"prune_lag_entries": 50, "checkpoint_every_entries": 20,
                              "wal_segment_bytes": 16384}).start()
    try:
        leader = c.leader()
        down = next(n for n in c.nodes if n is not leader)
        down.kill()
        writer = next(n for n in c.live())
        for i in range(300):
            assert writer.command(f"ADD: bulk{i}.example.com A 198.51.100.{i % 250 + 1}").startswith("OK")
        for n in c.live():
            s = n.status()
            kept = s["log_last_index"] - s["log_first_index"] + 1
            assert kept < 300, f"node {n.id} keeps {kept} entries: {s}"
        down.start()
        c.wait_all_answer("bulk299.example.com.", {"198.51.100.50"}, nodes=[down])
        with open(down.log_path) as f:
            assert "installed snapshot" in f.read()
    finally:
        c.stop()


def _clients_write_and_read(cluster, clients=5, per_client=10):
    """MyDNS's correctness test: clients add distinct hostnames through
    different nodes; random reads from other nodes must see exactly them."""
    written = {}
    errors = []

    def client(k):
        node = cluster.nodes[k % len(cluster.nodes)]
        for i in range(per_client):
            name = f"host{k}-{i}.example.com."
            value = f"203.0.113.{k * per_client + i + 1}"
            reply = node.command(f"ADD: {name} A {value}", timeout=30)
            if reply.startswith("OK"):
                written[name] = value
            else:
                errors.append(reply)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return written, errors


def test_clients_on_different_nodes_read_exactly_what_was_written(cluster3):
    written, errors = _clients_write_and_read(cluster3)
    assert not errors
    assert len(written) == 50
    rng = random.Random(7)
    for name, value in written.items():
        reader = rng.choice(cluster3.nodes)
        cluster3.wait_all_answer(name, {value}, nodes=[reader])


def test_lossy_network_converges_and_loses_nothing_acknowledged(tmp_path):
    c = Cluster(tmp_path, 3, {"propose_timeout_ms": 10000}).start(["--unreliable", "drop=0.2"])
    try:
        written, errors = _clients_write_and_read(c, per_client=6)
        # Every acknowledged change is on every node once the cluster converges.
        for name, value in written.items():
            c.wait_all_answer(name, {value}, timeout=30)
        assert len(written) + len(errors) == 30
        assert len(written) >= 25, errors
    finally:
        c.stop()


def test_flood_reports_queries_and_changes(cluster3, capsys):
    sent = answered = 0
    changes_sent = changes_acked = 0
    stop_at = time.time() + 5
    rng = random.Random(1)
    i = 0
    while time.time() < stop_at and sent < 3000:
        node = rng.choice(cluster3.nodes)
        if i % 20 == 0:
            changes_sent += 1
            if node.command(f"ADD: flood{i}.example.com A 192.0.2.{i % 250 + 1}").startswith("OK"):
                changes_acked += 1
        sent += 1
        try:
            node.query("seed1.example.com.", timeout=0.5)
            answered += 1
        except Exception:
            pass
        i += 1
    lost = sent - answered
    with capsys.disabled():
        print(f"\nflood: queries sent {sent}, answered {answered}, lost {lost}; "
              f"changes sent {changes_sent}, acknowledged {changes_acked}")
    assert changes_acked == changes_sent
    assert lost <= sent * 0.01
