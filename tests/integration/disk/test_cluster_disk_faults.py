"""Disk faults on one node of a 3-node cluster: the node stops replicating or
refuses to start with a message that names the fault, never serves damaged
data, and the cluster loses no acknowledged change; once the operator fixes
the disk (or replaces the node) every node holds the same store (DIGEST).
The single-node cases are in tests/integration/hostile/test_disk_faults.py."""
import glob
import os
import re
import shutil
import subprocess
import time

import dns.message
import dns.query
import pytest

from harness import BIN, Cluster

TXT = " ".join('"' + ("d%03d" % j) * 60 + '"' for j in range(8))  # ~2 KB of TXT per record
DIGEST = re.compile(r"^OK ([0-9a-f]{64}) (\d+) (\d+)$")


def digest(node):
    m = DIGEST.match(node.command("DIGEST"))
    assert m, "DIGEST gave no digest"
    return m.group(1), int(m.group(3))


def txt_present(node, name):
    r = dns.query.tcp(dns.message.make_query(name, "TXT"), "127.0.0.1", port=node.query_port, timeout=3)
    return bool(r.answer)


def add(nodes, name, value, attempts=20):
    """Adds a record through the given nodes in turn until one acknowledges it
    (a retry is safe: the change is the same); True once acknowledged."""
    for i in range(attempts):
        n = nodes[i % len(nodes)]
        if n.alive() and n.command(f"ADD: {name} {value}", timeout=15).startswith("OK"):
            return True
        time.sleep(0.2)
    return False


def assert_converged(c, acked, timeout=30):
    """Every acknowledged name on every node, and one DIGEST everywhere."""
    c.wait_until(lambda: len({digest(n) for n in c.nodes}) == 1, timeout, "every node giving the same DIGEST")
    for n in c.nodes:
        missing = [name for name in acked if not txt_present(n, name)]
        assert not missing, f"node {n.id} lacks {len(missing)} acknowledged changes: {missing[:5]}"


def replace(c, node, through):
    """What the refusal message tells the operator: remove the node, add it
    back, start it empty with --join."""
    c.wait_until(lambda: through.command(f"MEMBER REMOVE {node.id}").startswith("OK"), 20,
                 f"MEMBER REMOVE {node.id} accepted")
    c.wait_until(lambda: str(node.id) not in through.status()["voters"], 30, f"node {node.id} removed")
    reply = through.command(f"MEMBER ADD {node.id} 127.0.0.1:{node.query_port} 127.0.0.1:{node.raft_port}")
    assert reply.startswith("OK"), reply
    shutil.rmtree(node.data_dir)
    node.start(["--join", f"127.0.0.1:{through.raft_port}"])
    c.wait_until(lambda: through.members().get(str(node.id), {}).get("role") == "voter", 30,
                 f"node {node.id} a voter again")


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def start_refused(c, node):
    """Starts `node` expecting it to exit by itself; returns (rc, stderr)."""
    p = subprocess.run([BIN, "-n", str(node.id), "-c", node.config_path or c.config_path, "-z", node.zone_file,
                        "--data-dir", node.data_dir], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30)
    return p.returncode, p.stderr


@pytest.mark.parametrize("damage", ["wal", "checkpoint"])
def test_a_damaged_node_refuses_to_start_and_the_cluster_loses_nothing(tmp_path, damage):
    # Checkpoints every 40 entries for the checkpoint case; none for the WAL case,
    # so that the damaged WAL record is one recovery needs.
    every = 40 if damage == "checkpoint" else 100000
    c = Cluster(tmp_path, 3, cluster_settings={"checkpoint_every_entries": every}).start()
    try:
        leader = c.leader()
        victim = c.follower()
        others = [n for n in c.nodes if n is not victim]
        acked = []
        for i in range(60):
            name = f"before{i}.example.com."
            assert add(others, name, f"TXT before-{i}"), name
            acked.append(name)
        c.wait_until(lambda: all(txt_present(victim, n) for n in acked[-3:]), 15, "the victim caught up")
        victim.stop()
        raft_dir = os.path.join(victim.data_dir, "raft")
        pattern = "wal-*.log" if damage == "wal" else "snap-*.snap"
        files = sorted(glob.glob(os.path.join(raft_dir, pattern)), key=os.path.getsize)
        assert files, f"no {pattern} in {os.listdir(raft_dir)}"
        damaged = files[-1]
        flip_byte(damaged, os.path.getsize(damaged) // 2)

        rc, err = start_refused(c, victim)
        assert rc != 0, err[-2000:]
        assert os.path.basename(damaged) in err, err[-2000:]
        assert "serving" not in err, "a node with a damaged store must not serve it"

        # The two others keep a quorum: changes go on being acknowledged.
        for i in range(30):
            name = f"after{i}.example.com."
            assert add(others, name, f"TXT after-{i}"), name
            acked.append(name)
        # The operator replaces the node; it catches up with everything.
        replace(c, victim, leader if leader is not victim else others[0])
        assert_converged(c, acked)
    finally:
        c.stop()


@pytest.fixture
def tmpfs_data_dirs(tmp_path):
    """Every node's data directory on a tmpfs of its own, so that one can be
    shrunk while the node runs (mount needs root: skipped otherwise)."""
    mounted = []

    def mount(node):
        os.makedirs(node.data_dir, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", node.data_dir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
        mounted.append(node.data_dir)
    yield mount
    for m in mounted:
        subprocess.run(["umount", "-l", m], capture_output=True)


def shrink_to_almost_full(path, headroom_kb=1536):
    st = os.statvfs(path)
    used_kb = (st.f_blocks - st.f_bfree) * st.f_frsize // 1024
    subprocess.run(["mount", "-o", f"remount,size={used_kb + headroom_kb}k", path], check=True)


@pytest.mark.parametrize("role", ["leader", "follower"])
def test_a_full_disk_on_one_node_stops_it_replicating_and_the_cluster_loses_nothing(tmp_path, tmpfs_data_dirs, role):
    c = Cluster(tmp_path, 3, cluster_settings={"checkpoint_every_entries": 200})
    for n in c.nodes:
        tmpfs_data_dirs(n)
    c.start()
    try:
        victim = c.leader() if role == "leader" else c.follower()
        others = [n for n in c.nodes if n is not victim]
        shrink_to_almost_full(victim.data_dir)
        acked, unknown = [], []
        failed_at = None
        for i in range(2000):
            name = f"big{i}.example.com."
            # Through every node in turn, the victim included: its refusals are
            # retried elsewhere, as a client would.
            if add([c.nodes[i % 3]] + others, name, f"TXT {TXT}", attempts=8):
                acked.append(name)
            else:
                unknown.append(name)
            if i % 10 == 0 and victim.status().get("storage_failed"):
                failed_at = i
                break
        assert failed_at is not None, "the shrunk disk never filled"
        # The full node says why it refuses changes, and still answers queries.
        reply = victim.command("ADD: refused.example.com A 192.0.2.1")
        assert reply.startswith("ERROR: ") and "storage" in reply, reply
        assert victim.alive()
        assert victim.query("example.com.", "SOA").answer
        with open(victim.log_path) as f:
            assert "stops replicating and refuses changes" in f.read()
        # The two others go on acknowledging changes (after an election if the leader filled up).
        for i in range(20):
            name = f"after-full{i}.example.com."
            assert add(others, name, "TXT after-full", attempts=30), name
            acked.append(name)
        # The operator frees space and restarts the node: it catches up, nothing is lost.
        victim.kill()
        subprocess.run(["mount", "-o", "remount,size=64m", victim.data_dir], check=True)
        victim.start()
        assert_converged(c, acked, timeout=60)
        for n in c.nodes:
            assert not n.status().get("storage_failed")
    finally:
        c.stop()
