"""The Raft peer port against an attacker on the network: a lone node opens
no peer port, weak secrets are refused at start, forged, misattributed and
replayed traffic changes nothing (no entry appended, no term moved) and is
counted, a removed member is shut out, and a flood of idle connections costs
neither the quorum nor a member's rejoin."""
import json
import os
import resource
import socket
import threading
import time
import urllib.request

import pytest

from harness import Cluster
from node_harness import ZONE_DIR, DnsNode, config_for, free_port, run_to_exit
from peer_wire import HEARTBEAT, Pki, cert_cluster, forged_append, frame, message, send_and_see_closed, tls_client


def raft_id(node):
    return node.id + 1


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if predicate():
                return
        except Exception:  # a node between elections may not answer at once
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout}s")


def metric(http_port, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} missing from /metrics")


class LinkTap:
    """A TCP relay between a node and one peer that records what the node sends."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.recorded = bytearray()
        self.lock = threading.Lock()
        self.stopping = False
        self.socks = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stopping:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:  # the peer is not up yet: the node will retry
                down.close()
                continue
            up.settimeout(None)
            self.socks += [down, up]
            with self.lock:
                self.recorded = bytearray()  # keep only the newest connection's bytes
            threading.Thread(target=self.pump, args=(down, up, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(up, down, False), daemon=True).start()

    def pump(self, src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    with self.lock:
                        self.recorded += data
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopping = True
        for s in [self.listener] + self.socks:
            s.close()


def test_a_node_alone_without_a_secret_opens_no_peer_port(tmp_path):
    cfg = config_for()  # the README's minimum config: one node, no secret
    raft_port = int(cfg["nodes"]["0"]["raft_loc"].rsplit(":", 1)[1])
    node = DnsNode(tmp_path, cfg, [os.path.join(ZONE_DIR, "zf0.txt")]).wait_ready()
    try:
        term = json.loads(node.command("STATUS")[3:])["term"]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", raft_port), timeout=2)
        assert json.loads(node.command("STATUS")[3:])["term"] == term
        assert "no peer port" in node.stderr
    finally:
        node.stop()


@pytest.mark.parametrize("secret, words", [
    ("change-me-uav7XnEq2uviuYwCkyn2CkkNRHTtFBy8", ["cluster.secret", "example", "openssl rand -base64 32"]),
    ("change-me: run openssl rand -base64 32 and put its output here, the same on every node",
     ["cluster.secret", "example", "openssl rand -base64 32"]),
    ("0123456789", ["cluster.secret", "10 bytes", "openssl rand -base64 32"]),
], ids=["published-example", "shipped-placeholder", "ten-bytes"])
def test_weak_secrets_are_refused_at_start_with_how_to_make_one(tmp_path, secret, words):
    ports = [free_port() for _ in range(4)]
    cfg = {"nodes": {str(i): {"query_loc": f"127.0.0.1:{ports[2 * i]}", "raft_loc": f"127.0.0.1:{ports[2 * i + 1]}"}
                     for i in range(2)},
           "cluster": {"secret": secret}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    rc, out, err = run_to_exit(["-n", "0", "-c", str(tmp_path / "cfg.json"), "-z", os.path.join(ZONE_DIR, "zf0.txt"),
                                "--data-dir", str(tmp_path / "data")], tmp_path)
    assert rc != 0 and out == ""
    for w in words:
        assert w in err, f"{w!r} missing from: {err}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[1]))  # the peer port was never opened


def test_forged_and_replayed_traffic_on_a_secret_cluster_changes_nothing(tmp_path):
    c = Cluster(tmp_path, 3)
    http_ports = {n.id: free_port() for n in c.nodes}
    with open(c.config_path) as f:
        cfg = json.load(f)
    for n in c.nodes:
        cfg["nodes"][str(n.id)]["http_loc"] = f"127.0.0.1:{http_ports[n.id]}"
    with open(c.config_path, "w") as f:
        json.dump(cfg, f)
    # Node 0 reaches its peers through taps that record what it sends.
    taps = {n.id: LinkTap(n.raft_port) for n in c.nodes[1:]}
    own = json.loads(json.dumps(cfg))
    for nid, tap in taps.items():
        own["nodes"][str(nid)]["raft_loc"] = f"127.0.0.1:{tap.port}"
    c.nodes[0].config_path = os.path.join(str(tmp_path), "config-0.json")
    with open(c.nodes[0].config_path, "w") as f:
        json.dump(own, f)
    c.start()
    try:
        assert c.nodes[0].command("ADD: tapped.example.com A 192.0.2.50").startswith("OK")
        c.wait_all_answer("tapped.example.com.", {"192.0.2.50"})
        # Node 0 sends to the leader (answers), or as leader to everyone: the
        # target is a node whose tapped link carries Raft traffic.
        leader = c.leader()
        target = leader if leader is not c.nodes[0] else c.nodes[1]
        sender = next(n for n in c.nodes if n is not target and n is not c.nodes[0])
        assert c.nodes[0].command("ADD: tapped-again.example.com A 192.0.2.51").startswith("OK")
        c.wait_all_answer("tapped-again.example.com.", {"192.0.2.51"})
        before = target.status()
        http_port = http_ports[target.id]
        auth_metric = metric(http_port, "dnsnode_peer_auth_failures_total")

        # 1. An Append a leader would send, higher term, in clear: bare, with
        # an all-zero 32-byte trailer (the old insecure MAC) and with a random one.
        body = forged_append(before, frm=raft_id(sender), to=raft_id(target))
        for attempt in (body, body + b"\0" * 32, body + os.urandom(32)):
            with socket.create_connection(("127.0.0.1", target.raft_port), timeout=3) as s:
                assert send_and_see_closed(s, attempt), "a plaintext frame must end the connection"

        # 2. What node 0 really sent target on their link (handshake and
        # records carrying Raft traffic), replayed on a new connection.
        with taps[target.id].lock:
            recorded = bytes(taps[target.id].recorded)
        assert len(recorded) > 1000, len(recorded)
        with socket.create_connection(("127.0.0.1", target.raft_port), timeout=3) as s:
            assert send_and_see_closed(s, recorded), "a replayed conversation must end the connection"

        wait_for(lambda: target.status()["peer_auth_failures"] >= before["peer_auth_failures"] + 4, 10,
                 "four refusals counted in STATUS")
        wait_for(lambda: metric(http_port, "dnsnode_peer_auth_failures_total") >= auth_metric + 4, 10,
                 "four refusals counted in /metrics")
        after = target.status()
        assert after["term"] == before["term"], (before["term"], after["term"])
        assert after["log_last_index"] == before["log_last_index"], "nothing may be appended"
        assert target.addresses("evil.example.com.") is None
    finally:
        c.stop()
        for tap in taps.values():
            tap.close()


def test_a_certificate_speaks_only_for_its_own_node_and_a_removed_member_is_refused(tmp_path):
    pki = Pki(tmp_path / "pki", range(3))
    c = cert_cluster(tmp_path / "nodes", 3, pki).start()
    try:
        leader = c.leader()
        target, other = [n for n in c.nodes if n is not leader]
        before = target.status()

        # Node `other`'s certificate, frames claiming to be from the leader.
        with tls_client(target.raft_port, pki, as_node=other.id, server_node=target.id) as s:
            forged = forged_append(before, frm=raft_id(leader), to=raft_id(target))
            assert send_and_see_closed(s, forged), "a frame claiming another node's id must end the link"
        wait_for(lambda: target.status()["peer_auth_failures"] > before["peer_auth_failures"], 10,
                 "the forgery counted")
        after = target.status()
        assert after["term"] == before["term"] and after["log_last_index"] == before["log_last_index"]

        # The same certificate speaking for its own node is heard (the frames
        # above were refused for their sender, not their form): a heartbeat
        # with a higher term moves the target's term. The real node holds
        # the same credential and its reconnection may displace this link
        # (the newer link of a member wins) before the frame is read: retry.
        for _ in range(10):
            with tls_client(target.raft_port, pki, as_node=other.id, server_node=target.id) as s:
                s.sendall(frame(message(HEARTBEAT, raft_id(other), raft_id(target), after["term"] + 3,
                                        commit=after["commit_index"])))
                time.sleep(0.3)
            if target.status()["term"] >= after["term"] + 3:
                break
        assert target.status()["term"] >= after["term"] + 3, "the member's own heartbeat must be heard"

        # A member is removed; its certificate is still valid, but it speaks
        # for no member any more.
        leader = c.leader(timeout=20)
        victim = next(n for n in c.nodes if n is not leader)
        target = next(n for n in c.nodes if n is not leader and n is not victim)
        reply = leader.command(f"MEMBER REMOVE {victim.id}")
        assert reply.startswith("OK"), reply
        wait_for(lambda: str(victim.id) not in target.members(), 15, "the removal applied on the target")
        refused = target.status()["peer_auth_failures"]
        term = target.status()["term"]
        try:
            s = tls_client(target.raft_port, pki, as_node=victim.id, server_node=target.id)
        except OSError:
            pass  # refused during the handshake itself
        else:
            with s:
                assert send_and_see_closed(s, forged_append(target.status(), frm=raft_id(victim),
                                                            to=raft_id(target))), "a removed member must be refused"
        wait_for(lambda: target.status()["peer_auth_failures"] > refused, 10, "the removed member's attempt counted")
        assert target.status()["term"] == term
        assert target.addresses("evil.example.com.") is None
    finally:
        c.stop()


def test_a_node_joins_a_certificate_cluster_with_its_own_certificate(tmp_path):
    # The joining node knows no member's id yet: it accepts any node of the
    # cluster CA at its --join address, and lets in members it has not
    # learnt of, each proving the id its first frame names.
    pki = Pki(tmp_path / "pki", range(4))
    c = cert_cluster(tmp_path / "nodes", 3, pki).start()
    try:
        via = c.nodes[0]
        new = c.new_node(3)
        reply = via.command(f"MEMBER ADD 3 127.0.0.1:{new.query_port} 127.0.0.1:{new.raft_port}")
        assert reply.startswith("OK"), reply
        new.start(["--join", f"127.0.0.1:{via.raft_port}"])
        c.wait_until(lambda: via.members().get("3", {}).get("role") == "voter", 30, "node 3 promoted")
        assert via.command("ADD: joined-by-cert.example.com A 192.0.2.64").startswith("OK")
        c.wait_all_answer("joined-by-cert.example.com.", {"192.0.2.64"})
        assert "certificates of the cluster CA" in new.tail_log(200)
    finally:
        c.stop()


def test_two_thousand_idle_connections_cost_neither_the_quorum_nor_a_rejoin(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    # The election timeout spans the transport's longest reconnect backoff
    # (2 s), so a restarted member is reached again within it.
    election_ms = 3000
    c = Cluster(tmp_path, 3, cluster_settings={"heartbeat_ms": 100, "election_timeout_ms": election_ms}).start()
    idle = []
    flooding = threading.Event()
    flooder = None
    try:
        leader = c.leader()
        for _ in range(2000):
            idle.append(socket.create_connection(("127.0.0.1", leader.raft_port), timeout=5))

        # More keep arriving while a member restarts.
        def keep_flooding():
            for _ in range(2000):
                if flooding.is_set():
                    return
                try:
                    idle.append(socket.create_connection(("127.0.0.1", leader.raft_port), timeout=5))
                except OSError:
                    pass
                time.sleep(0.002)
        flooder = threading.Thread(target=keep_flooding, daemon=True)
        flooder.start()

        # The quorum holds: the leader commits.
        reply = leader.command("ADD: during-flood.example.com A 192.0.2.61")
        assert reply.startswith("OK"), reply

        member = next(n for n in c.nodes if n is not leader)
        member.kill()
        reply = leader.command("ADD: while-away.example.com A 192.0.2.62")
        assert reply.startswith("OK"), reply
        member.start()
        started = time.time()
        # Rejoined: it has what was committed while it was away, and a change
        # made on it reaches the leader through the flooded port.
        wait_for(lambda: member.addresses("while-away.example.com.") == {"192.0.2.62"}, election_ms / 1000,
                 "the restarted member caught up within its election timeout")
        reply = member.command("ADD: from-rejoined.example.com A 192.0.2.63", timeout=election_ms / 1000)
        assert reply.startswith("OK"), reply
        assert time.time() - started < 2 * election_ms / 1000
        assert leader.status()["peer_handshake_timeouts"] >= 1900
    finally:
        flooding.set()
        if flooder is not None:
            flooder.join(timeout=10)
        for s in idle:
            s.close()
        c.stop()
