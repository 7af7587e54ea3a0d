"""A node restarted with an empty data directory must not vote or count
toward a quorum until it has caught up (or must refuse to start and say how
to replace it). Otherwise an acknowledged change can be lost: the change is
on the old leader and one follower; the follower loses its disk, the old
leader dies, and the wiped follower votes for the third node, which never
had the change."""
import os
import shutil
import signal


from harness import Cluster


def test_wiped_follower_cannot_help_elect_a_leader_that_lacks_acknowledged_changes(tmp_path):
    c = Cluster(tmp_path, 3).start()
    try:
        leader = c.leader()
        f1, f2 = [n for n in c.nodes if n is not leader]
        f2.kill()  # f2 misses the next change (a stopped process would still find it in its socket buffer)
        reply = leader.command("ADD: acked-before-wipe.example.com A 192.0.2.201")
        assert reply.startswith("OK"), reply  # committed on leader + f1 only
        leader.kill()
        f1.kill()
        shutil.rmtree(f1.data_dir)
        # It serves queries from nothing at once, but takes no part until
        # enough members have told it whether it held data before.
        f1.start()
        assert f1.status()["role"] == "starting"
        refused = f1.command("ADD: while-starting.example.com A 192.0.2.203", timeout=10)
        assert refused.startswith("ERROR: no quorum"), refused
        f2.start()
        # f2 remembers that f1 held data: f1 stops, saying how to replace it.
        c.wait_until(lambda: not f1.alive(), 15, "the wiped node refusing to take part")
        assert f1.proc.returncode != 0
        with open(f1.log_path) as f:
            log = f.read()
        assert "data was lost" in log and "MEMBER REMOVE" in log and "--join" in log, log[-2000:]
        leader.start()
        for n in (leader, f2):
            c.wait_all_answer("acked-before-wipe.example.com.", {"192.0.2.201"}, nodes=[n])
        assert f2.command("ADD: after-wipe.example.com A 192.0.2.202").startswith("OK")
    finally:
        for n in c.nodes:
            if n.alive():
                os.kill(n.proc.pid, signal.SIGCONT)
        c.stop()


def test_wiped_voter_restarted_with_join_instead_of_being_replaced_cannot_lose_a_change(tmp_path):
    # The same loss as above, reached by an operator who skips MEMBER
    # REMOVE/ADD and starts the wiped node with --join straight away.
    c = Cluster(tmp_path, 3).start()
    try:
        leader = c.leader()
        f1, f2 = [n for n in c.nodes if n is not leader]
        f2.kill()
        reply = leader.command("ADD: acked-before-join.example.com A 192.0.2.211")
        assert reply.startswith("OK"), reply  # committed on leader + f1 only
        f1.kill()
        shutil.rmtree(f1.data_dir)
        # Had it joined with the voter set from the answer, it could help
        # elect a leader that lacks the change once the old leader dies.
        f1.start(["--join", f"127.0.0.1:{leader.raft_port}"], wait=False)
        c.wait_until(lambda: not f1.alive(), 15, "the wiped node refusing to join as the voter it was")
        assert f1.proc.returncode != 0
        with open(f1.log_path) as f:
            log = f.read()
        assert "data was lost" in log and "MEMBER REMOVE" in log, log[-2000:]
        f2.start()
        for n in (leader, f2):
            c.wait_all_answer("acked-before-join.example.com.", {"192.0.2.211"}, nodes=[n])
    finally:
        for n in c.nodes:
            if n.alive():
                os.kill(n.proc.pid, signal.SIGCONT)
        c.stop()



def test_a_node_starting_without_raft_state_counts_as_having_voted_in_the_current_term(tmp_path):
    # A node with an empty data directory that the cluster does not know as
    # holding data may still have voted before it lost its disk (§5.2: one
    # vote per term). It starts in the newest term the members report, as if
    # it had voted in it, so it cannot vote a second time there.
    c = Cluster(tmp_path, 5)
    # A fresh node waits for answers from enough members to meet every quorum
    # (here 3 of the other 4), so four start first and the fifth later.
    first, late = c.nodes[:4], c.nodes[4]
    try:
        for n in first:
            n.start()
        leader = c.leader(among=first)
        term = leader.status()["term"]
        assert term >= 1
        late.start()  # never started before: it held no data, so it may take part
        c.wait_until(lambda: late.status().get("role") == "follower", 15, "the new node following")
        s = late.status()
        assert s["term"] == term, s
        assert s["vote"] == str(late.id), s  # without this it would be free to vote in the current term
        # It starts in step with the cluster: no election was needed.
        assert c.leader() is leader and leader.status()["term"] == term
        name, expected = c.seed_names[late.id]
        c.wait_all_answer(name, expected)
    finally:
        c.stop()
