"""Grow, shrink and replace nodes of a running cluster (MEMBER ADD/REMOVE, --join)."""
import threading
import time

import pytest

from harness import Cluster


@pytest.fixture
def cluster3(tmp_path):
    c = Cluster(tmp_path, 3).start()
    yield c
    c.stop()


class Writer:
    """Adds records through the cluster until stopped; remembers what was acknowledged."""

    def __init__(self, cluster, prefix):
        self.cluster, self.prefix = cluster, prefix
        self.acked, self.failed = {}, []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        i = 0
        while not self.stop_flag.is_set() and i < 400:
            node = self.cluster.nodes[0]
            name, value = f"{self.prefix}{i}.example.com.", f"198.51.100.{i % 250 + 1}"
            reply = node.command(f"ADD: {name} A {value}", timeout=30)
            (self.acked.__setitem__(name, value) if reply.startswith("OK") else self.failed.append(reply))
            i += 1
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join()


def member_roles(node):
    return {nid: m.get("role") for nid, m in node.members().items()}


def add_member(cluster, via, new):
    reply = via.command(f"MEMBER ADD {new.id} 127.0.0.1:{new.query_port} 127.0.0.1:{new.raft_port}")
    assert reply.startswith("OK"), reply
    new.start(["--join", f"127.0.0.1:{via.raft_port}"])
    cluster.wait_until(lambda: member_roles(via).get(str(new.id)) == "voter", 30, f"node {new.id} promoted")


def remove_member(cluster, via, node_id):
    cluster.wait_until(lambda: via.command(f"MEMBER REMOVE {node_id}").startswith("OK"), 20,
                       f"MEMBER REMOVE {node_id} accepted")
    cluster.wait_until(lambda: str(node_id) not in via.status()["voters"], 30, f"node {node_id} removed")


def test_grow_to_five_and_shrink_back_to_three_under_writes(cluster3):
    n0 = cluster3.nodes[0]
    with Writer(cluster3, "grow") as w:
        n3 = cluster3.new_node(3)
        add_member(cluster3, n0, n3)
        n4 = cluster3.new_node(4)
        add_member(cluster3, n0, n4)
        assert len(n0.status()["voters"]) == 5
        remove_member(cluster3, n0, 4)
        remove_member(cluster3, n0, 3)
    assert not w.failed, w.failed[:3]
    assert len(w.acked) > 10
    assert sorted(n0.status()["voters"]) == ["0", "1", "2"]
    # Nothing acknowledged is lost, and every member answers every record.
    for name, value in w.acked.items():
        cluster3.wait_all_answer(name, {value}, nodes=cluster3.nodes[:3])
    # The removed node says so and refuses changes, but still answers queries.
    n3 = cluster3.nodes[3]
    cluster3.wait_until(lambda: n3.status().get("removed") is True, 15, "node 3 knows it was removed")
    assert n3.command("ADD: late.example.com A 192.0.2.99").startswith("ERROR:")


def test_members_lists_the_committed_membership(cluster3):
    roles = member_roles(cluster3.nodes[1])
    assert roles == {"0": "voter", "1": "voter", "2": "voter"}
    reply = cluster3.nodes[1].command("MEMBER ADD 1 127.0.0.1:1 127.0.0.1:2")
    assert reply.startswith("ERROR:") and "already a member" in reply, reply
    assert cluster3.nodes[1].command("MEMBER REMOVE 9").startswith("ERROR:")
    assert cluster3.nodes[1].command("MEMBER ADD x 1.2.3.4:5 1.2.3.4:6").startswith("ERROR: line")


def test_a_failed_node_is_replaced_by_a_new_one_with_an_empty_data_dir(cluster3):
    n0, n1, n2 = cluster3.nodes
    assert n0.command("ADD: before.example.com A 192.0.2.1").startswith("OK")
    n2.kill()
    remove_member(cluster3, n0, 2)
    n5 = cluster3.new_node(5)
    add_member(cluster3, n0, n5)
    assert n5.addresses("before.example.com.") == {"192.0.2.1"}
    assert n1.command("ADD: after.example.com A 192.0.2.2").startswith("OK")
    cluster3.wait_all_answer("after.example.com.", {"192.0.2.2"}, nodes=[n0, n1, n5])
    # With node 2 gone for good the cluster still has a majority of its three voters.
    assert sorted(n0.status()["voters"]) == ["0", "1", "5"]


def test_removing_the_leader_moves_leadership_first_and_writes_continue(cluster3):
    leader = cluster3.leader()
    other = next(n for n in cluster3.nodes if n is not leader)
    remove_member(cluster3, other, leader.id)
    new_leader = cluster3.leader(among=[n for n in cluster3.nodes if n is not leader])
    assert new_leader is not leader
    assert other.command("ADD: continued.example.com A 192.0.2.3").startswith("OK")
    cluster3.wait_all_answer("continued.example.com.", {"192.0.2.3"},
                             nodes=[n for n in cluster3.nodes if n is not leader])
