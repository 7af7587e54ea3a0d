"""Starts real dns-node processes on loopback and talks to them as an operator would."""
import base64
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from node_harness import free_port  # noqa: E402,F401  (re-exported for the cluster tests)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.environ.get("DNSNODE_BIN", os.path.join(REPO, "build", "src", "node", "dns-node"))

ZONE_HEAD = """# example.com, seeded by node {n}
example.com SOA ["ns1.example.com", "hostmaster.example.com"]
example.com NS ns1.example.com
ns1.example.com A 127.0.0.1
"""



def new_secret():
    """A fresh cluster secret, as `openssl rand -base64 32` makes one."""
    return base64.b64encode(os.urandom(32)).decode()


class Node:
    """One dns-node process with its stdin and stdout as pipes."""

    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.id = node_id
        self.query_port = free_port()
        self.raft_port = free_port()
        self.data_dir = os.path.join(cluster.workdir, f"node-{node_id}")
        self.zone_file = os.path.join(cluster.workdir, f"zf{node_id}.txt")
        self.log_path = os.path.join(cluster.workdir, f"node-{node_id}.log")
        self.proc = None
        self.replies = None
        self.extra_args = []
        self.config_path = None  # the cluster's shared config unless set
        # A config file of this node's own (e.g. the chaos harness routes its
        # peer links through proxies); None: the cluster's shared file.
        self.config_path = None

    def start(self, extra_args=None, wait=True):
        if extra_args is not None:
            self.extra_args = extra_args
        args = [BIN, "-n", str(self.id), "-c", self.config_path or self.cluster.config_path, "-z", self.zone_file,
                "--data-dir", self.data_dir, "--log-level", "info"] + self.extra_args
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, bufsize=1)
        self.replies = queue.Queue()
        proc, replies = self.proc, self.replies

        def read():
            for line in proc.stdout:
                replies.put(line.rstrip("\n"))
        threading.Thread(target=read, daemon=True).start()
        if wait:
            self.wait_serving()

    def wait_serving(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.id} exited with {self.proc.returncode}; log:\n{self.tail_log()}")
            try:
                self.query("example.com.", "SOA", timeout=0.3)
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError(f"node {self.id} does not answer queries; log:\n{self.tail_log()}")

    def tail_log(self, lines=40):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def command(self, line, timeout=15):
        """Sends one stdin line and returns its one reply line."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"node {self.id}: no reply to {line!r} within {timeout}s; log:\n{self.tail_log()}")

    def status(self):
        reply = self.command("STATUS")
        assert reply.startswith("OK "), reply
        return json.loads(reply[3:])

    def members(self):
        reply = self.command("MEMBERS")
        assert reply.startswith("OK "), reply
        return json.loads(reply[3:])

    def query(self, name, rdtype="A", timeout=1.0, tcp=False):
        q = dns.message.make_query(name, rdtype)
        if tcp:
            return dns.query.tcp(q, "127.0.0.1", port=self.query_port, timeout=timeout)
        return dns.query.udp(q, "127.0.0.1", port=self.query_port, timeout=timeout)

    def addresses(self, name, timeout=1.0):
        """The A values for name, or None on NXDOMAIN/NODATA."""
        r = self.query(name, "A", timeout=timeout)
        values = set()
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.A:
                values.update(rd.address for rd in rrset)
        return values or None

    def kill(self):
        """kill -9: no chance to flush or hand over anything."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()


class Cluster:
    """N nodes sharing one dns-config.json in a temporary directory."""

    def __init__(self, workdir, size, cluster_settings=None, zone_extra=None, extra_config=None):
        self.workdir = str(workdir)
        self.nodes = [Node(self, i) for i in range(size)]
        self.config_path = os.path.join(self.workdir, "dns-config.json")
        self.seed_names = {n.id: (f"seed{n.id}.example.com.", {f"10.0.0.{n.id + 1}"}) for n in self.nodes}
        settings = {"secret": new_secret(), "heartbeat_ms": 50,
                    "election_timeout_ms": 500, "propose_timeout_ms": 3000}
        settings.update(cluster_settings or {})
        config = {"nodes": {str(n.id): {"query_loc": f"127.0.0.1:{n.query_port}",
                                        "raft_loc": f"127.0.0.1:{n.raft_port}"} for n in self.nodes},
                  "cluster": settings,
                  # RRL is on by default: the tests' client addresses are exempt.
                  "rrl": {"exempt_clients": ["127.0.0.1/32", "::1/128"]}}
        config.update(extra_config or {})  # more top-level settings ("tsig_keys", "update", ...)
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=1)
        for n in self.nodes:
            with open(n.zone_file, "w") as f:
                f.write(ZONE_HEAD.format(n=n.id))
                f.write(f"seed{n.id}.example.com A 10.0.0.{n.id + 1}\n")
                if zone_extra:
                    f.write(zone_extra.get(n.id, ""))

    def new_node(self, node_id):
        """A node outside the cluster, with a config holding only itself and
        the cluster secret: it joins with --join (MEMBER ADD it first)."""
        n = Node(self, node_id)
        with open(self.config_path) as f:
            shared = json.load(f)
        own = {"nodes": {str(node_id): {"query_loc": f"127.0.0.1:{n.query_port}",
                                        "raft_loc": f"127.0.0.1:{n.raft_port}"}},
               "cluster": shared["cluster"]}
        if "rrl" in shared:
            own["rrl"] = shared["rrl"]
        n.config_path = os.path.join(self.workdir, f"config-{node_id}.json")
        with open(n.config_path, "w") as f:
            json.dump(own, f)
        with open(n.zone_file, "w") as f:
            f.write(f"# node {node_id} brings no records of its own\n")
        self.nodes.append(n)
        return n

    def start(self, extra_args=None):
        # Start them together: each waits for a quorum only in the background.
        for n in self.nodes:
            n.start(extra_args)
        # Ready once every node's zone file has reached every node.
        for name, expected in self.seed_names.values():
            self.wait_all_answer(name, expected, timeout=30)
        return self

    def stop(self):
        for n in self.nodes:
            n.stop()

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def leader(self, timeout=15, among=None):
        """The node that says it is leader (and that every live node agrees on)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            nodes = among or self.live()
            statuses = {n.id: n.status() for n in nodes}
            leaders = [nid for nid, s in statuses.items() if s.get("role") == "leader"]
            if len(leaders) == 1:
                return self.nodes[leaders[0]]
            time.sleep(0.1)
        raise AssertionError(f"no single leader within {timeout}s: {statuses}")

    def follower(self):
        leader = self.leader()
        return next(n for n in self.live() if n is not leader)

    def wait_until(self, predicate, timeout=15, what="condition"):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                if predicate():
                    return
            except Exception as e:  # a node may be between elections
                last = e
            time.sleep(0.05)
        raise AssertionError(f"{what} not reached within {timeout}s (last error: {last})")

    def wait_all_answer(self, name, expected, nodes=None, timeout=15):
        nodes = nodes or self.live()
        self.wait_until(lambda: all(n.addresses(name) == expected for n in nodes), timeout,
                        f"every node answering {name} with {expected}")


def shipped_cluster(workdir):
    """The shipped dns-config.json and zone-files/zfX.txt, moved to free ports."""
    with open(os.path.join(REPO, "dns-config.json")) as f:
        shipped = json.load(f)
    c = Cluster(workdir, len(shipped["nodes"]))
    for n in c.nodes:
        shipped["nodes"][str(n.id)]["query_loc"] = f"127.0.0.1:{n.query_port}"
        shipped["nodes"][str(n.id)]["raft_loc"] = f"127.0.0.1:{n.raft_port}"
        n.zone_file = os.path.join(REPO, "zone-files", f"zf{n.id}.txt")
    # As scripts/run-cluster.sh does: the shipped file holds a placeholder
    # that every node refuses, so a fresh secret replaces it.
    shipped["cluster"]["secret"] = new_secret()
    with open(c.config_path, "w") as f:
        json.dump(shipped, f)
    # A record from zf0 (which holds the SOA) and one from zf2 (which needs it).
    c.seed_names = {0: ("www.example.com.", {"192.0.2.10"}), 2: ("api.example.com.", {"192.0.2.30", "192.0.2.31"})}
    return c
