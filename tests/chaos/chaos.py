#!/usr/bin/env python3
"""Chaos run of a live dns-node cluster: 5 real processes on loopback, writers
adding and removing records through stdin, signed RFC 2136 UPDATE (when the
node supports it) and the HTTP API (DynDNS2 requests setting several
hostnames at once, concurrent REST writes) while faults are injected at
random, queries against every node throughout; at the end everything is
healed and the cluster is checked for lost acknowledged changes, phantom
records and divergent stores.

Faults (one at a time, with quiet gaps between them):
  kill9        kill -9 a node (the leader more often) and restart it
  stop         SIGSTOP a node (the leader more often), SIGCONT later
  isolate      cut every peer link of the leader (a partition)
  split        cut the cluster into 2 + 3 nodes
  lossy        restart a node with --unreliable drop/dup/delay, later without
  wipe         kill -9 a node, delete its data directory, restart it
               (only with --with-wipe: see tests/chaos/README.md)

Partitions (--network):
  netns   (default as root) every node runs in a network namespace of its own,
          on a bridge; a link is cut by blackhole routes in both namespaces.
          Whatever addresses the cluster records in its replicated member
          list, every packet between two nodes crosses the link.
  proxy   (default otherwise) every node gets its own config in which each
          peer's raft_loc is a proxy port owned by this script, one proxy per
          directed link i->j. Approximate: once the first leader records the
          member list (its own config's addresses: its real port, and the
          proxies of its own links for the others), every node dials what the
          list says, so a cut may hit other links than the one named, and
          links into that first leader bypass the proxies.

At the end, after healing, every node's store is compared by the DIGEST stdin
command (SHA-256 of the records, applied index, record count).

Usage: tests/chaos/chaos.py [--duration 90] [--seed N] [--workdir DIR] [--with-wipe] [--network netns|proxy]
Exit status 0 when 0 changes were lost and 0 nodes diverge.
"""
import argparse
import base64
import collections
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration", "cluster"))

import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.tsigkeyring  # noqa: E402
import dns.update  # noqa: E402

import harness  # noqa: E402

ZONE = "example.com."
TSIG_NAME = "chaos-key."
TSIG_SECRET = base64.b64encode(b"chaos-harness-tsig-secret-32byte").decode()


def log(msg):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- proxies

class LinkProxy:
    """A TCP relay for one directed peer link (node src dialing node dst).
    cut() closes its connections and refuses new ones until heal()."""

    def __init__(self, src, dst, target_port):
        self.src, self.dst, self.target_port = src, dst, target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.cut_flag = False
        self.closing = False
        self.lock = threading.Lock()
        self.pairs = set()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_flag:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=1)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, upstream)
            with self.lock:
                if self.cut_flag:
                    client.close()
                    upstream.close()
                    continue
                self.pairs.add(pair)
            threading.Thread(target=self._pump, args=(client, upstream, pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, pair), daemon=True).start()

    def _pump(self, a, b, pair):
        try:
            while True:
                data = a.recv(65536)
                if not data or self.cut_flag:
                    break
                b.sendall(data)
        except OSError:
            pass
        self._close_pair(pair)

    def _close_pair(self, pair):
        with self.lock:
            self.pairs.discard(pair)
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self):
        self.cut_flag = True
        with self.lock:
            pairs = list(self.pairs)
        for p in pairs:
            self._close_pair(p)

    def heal(self):
        self.cut_flag = False

    def close(self):
        self.closing = True
        self.cut()
        self.listener.close()


# ---------------------------------------------------------------- namespaces

def run_ip(*args, check=True):
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


class NetnsNetwork:
    """One network namespace per node on a bridge of its own (needs root and
    iproute2). Node i answers at 10.a.b.(i+1); the harness reaches it through
    the bridge at 10.a.b.254. cut(a, b) adds blackhole routes for each other's
    address in both namespaces: packets between them are silently dropped,
    as in a real partition, including those of established connections."""

    def __init__(self, count, rnd):
        self.tag = f"dc{os.getpid() % 1000}{rnd.randrange(100)}"
        self.subnet = f"10.{rnd.randrange(64, 250)}.{rnd.randrange(1, 250)}"
        self.bridge = f"{self.tag}br"
        self.count = count
        self.cuts = set()
        self.lock = threading.Lock()
        self.created = []

    @staticmethod
    def available():
        """'' if namespaces can be made here, else why not."""
        if os.geteuid() != 0:
            return "not root"
        if shutil.which("ip") is None:
            return "no ip command (iproute2)"
        name = f"dcprobe{os.getpid() % 100000}"
        r = run_ip("netns", "add", name, check=False)
        if r.returncode != 0:
            return f"ip netns add: {r.stderr.strip()}"
        run_ip("netns", "del", name, check=False)
        return ""

    def ns(self, i):
        return f"{self.tag}-{i}"

    def address(self, i):
        return f"{self.subnet}.{i + 1}"

    def setup(self):
        run_ip("link", "add", "name", self.bridge, "type", "bridge")
        self.created.append(("link", self.bridge))
        run_ip("addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        run_ip("link", "set", self.bridge, "up")
        for i in range(self.count):
            ns, host_end, node_end = self.ns(i), f"{self.tag}v{i}", f"{self.tag}p{i}"
            run_ip("netns", "add", ns)
            self.created.append(("netns", ns))
            run_ip("link", "add", host_end, "type", "veth", "peer", "name", node_end)
            run_ip("link", "set", node_end, "netns", ns)
            run_ip("link", "set", host_end, "master", self.bridge)
            run_ip("link", "set", host_end, "up")
            for cmd in (["link", "set", "lo", "up"], ["addr", "add", f"{self.address(i)}/24", "dev", node_end],
                        ["link", "set", node_end, "up"]):
                run_ip("-n", ns, *cmd)

    def cut(self, a, b):
        with self.lock:
            pair = (min(a, b), max(a, b))
            if pair in self.cuts:
                return
            self.cuts.add(pair)
        run_ip("-n", self.ns(a), "route", "add", "blackhole", f"{self.address(b)}/32")
        run_ip("-n", self.ns(b), "route", "add", "blackhole", f"{self.address(a)}/32")

    def heal(self):
        with self.lock:
            cuts, self.cuts = self.cuts, set()
        for a, b in cuts:
            run_ip("-n", self.ns(a), "route", "del", "blackhole", f"{self.address(b)}/32", check=False)
            run_ip("-n", self.ns(b), "route", "del", "blackhole", f"{self.address(a)}/32", check=False)

    def close(self):
        for kind, name in reversed(self.created):
            if kind == "netns":
                run_ip("netns", "del", name, check=False)
            else:
                run_ip("link", "del", name, check=False)
        self.created = []


class NetnsNode(harness.Node):
    """A harness node started inside its namespace and queried at its address."""

    host = "127.0.0.1"
    netns = None

    def start(self, extra_args=None):
        if extra_args is not None:
            self.extra_args = extra_args
        args = ["ip", "netns", "exec", self.netns, harness.BIN, "-n", str(self.id), "-c",
                self.config_path or self.cluster.config_path, "-z", self.zone_file, "--data-dir", self.data_dir,
                "--log-level", "info"] + self.extra_args
        self.log = open(self.log_path, "a")
        # `ip netns exec` execs the node: the pid is the node's, for kill -9 and SIGSTOP.
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, bufsize=1)
        self.replies = queue.Queue()
        proc, replies = self.proc, self.replies

        def read():
            for line in proc.stdout:
                replies.put(line.rstrip("\n"))
        threading.Thread(target=read, daemon=True).start()
        self.wait_serving()

    def query(self, name, rdtype="A", timeout=1.0, tcp=False):
        q = dns.message.make_query(name, rdtype)
        if tcp:
            return dns.query.tcp(q, self.host, port=self.query_port, timeout=timeout)
        return dns.query.udp(q, self.host, port=self.query_port, timeout=timeout)


# ---------------------------------------------------------------- stdin client

class Pending:
    """One stdin line sent to a node, waiting for its reply line."""

    def __init__(self, line):
        self.line = line
        self.reply = None
        self.event = threading.Event()


class NodeClient:
    """Talks to one node's stdin without ever mixing up replies: lines are
    answered in order, so each reply belongs to the oldest unanswered line of
    the same process. A late reply still resolves its (timed-out) line."""

    def __init__(self, node):
        self.node = node
        self.lock = threading.Lock()
        self.fifo = None
        self.generation = 0

    def attach(self):
        """Called after each (re)start of the process."""
        with self.lock:
            self.generation += 1
            fifo = collections.deque()
            self.fifo = fifo
            replies = self.node.replies

        def dispatch():
            while True:
                line = replies.get()
                if line is None:
                    return
                with self.lock:
                    if not fifo:
                        continue  # output nobody asked for
                    p = fifo.popleft()
                p.reply = line
                p.event.set()
        threading.Thread(target=dispatch, daemon=True).start()

    def send(self, line, timeout):
        """Returns the Pending; p.reply is None if no reply came in time."""
        p = Pending(line)
        with self.lock:
            if not self.node.alive() or self.fifo is None:
                p.event.set()
                return p
            self.fifo.append(p)
            try:
                self.node.proc.stdin.write(line + "\n")
                self.node.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.fifo.remove(p)
                p.event.set()
                return p
        p.event.wait(timeout)
        return p

    def status(self, timeout=3):
        p = self.send("STATUS", timeout)
        if p.reply and p.reply.startswith("OK "):
            try:
                return json.loads(p.reply[3:])
            except ValueError:
                return None
        return None


# ---------------------------------------------------------------- the run

class Op:
    """One change a writer proposed, and what it learned of the outcome."""
    __slots__ = ("kind", "name", "value", "via", "pending", "result")

    def __init__(self, kind, name, value, via):
        self.kind, self.name, self.value, self.via = kind, name, value, via
        self.pending = None
        self.result = None  # "ok", "error:<msg>" (outcome unknown), "unknown" (no reply)

    def outcome(self):
        """Final view, counting late replies to lines that had timed out."""
        if self.pending is not None and self.pending.reply is not None:
            r = self.pending.reply
            return "ok" if r.startswith("OK") else "error:" + r
        return self.result


class Chaos:
    def __init__(self, workdir, duration, seed, with_wipe=False, nodes=5, network="auto"):
        self.rnd = random.Random(seed)
        self.seed = seed
        self.duration = duration
        self.with_wipe = with_wipe
        self.workdir = workdir
        self.notes = []
        settings = {"heartbeat_ms": 50, "election_timeout_ms": 500, "propose_timeout_ms": 3000,
                    "checkpoint_every_entries": 300}
        self.cluster = harness.Cluster(workdir, nodes, cluster_settings=settings)
        with open(self.cluster.config_path) as f:
            base = json.load(f)
        # "role" lets the key change records over HTTP where keys have roles;
        # a node that does not know the field ignores it with a warning.
        base["tsig_keys"] = [{"name": TSIG_NAME, "algorithm": "hmac-sha256", "secret": TSIG_SECRET,
                              "role": "admin"}]
        self.http_ports = {n.id: harness.free_port() for n in self.cluster.nodes}
        for n in self.cluster.nodes:
            base["nodes"][str(n.id)]["http_loc"] = f"127.0.0.1:{self.http_ports[n.id]}"
        with open(self.cluster.config_path, "w") as f:
            json.dump(base, f, indent=1)
        if network == "auto":
            why_not = NetnsNetwork.available()
            network = "proxy" if why_not else "netns"
            if why_not:
                self.notes.append(f"network namespaces unavailable ({why_not}): partitions through proxies, "
                                  "approximate (see --help)")
        self.network = network
        self.proxies = {}
        self.netns = None
        if network == "netns":
            self.netns = NetnsNetwork(nodes, self.rnd)
            try:
                self.netns.setup()
            except Exception:
                self.netns.close()
                raise
            for n in self.cluster.nodes:
                n.__class__ = NetnsNode
                n.netns = self.netns.ns(n.id)
                n.host = self.netns.address(n.id)
                base["nodes"][str(n.id)] = {"query_loc": f"{n.host}:{n.query_port}",
                                            "raft_loc": f"{n.host}:{n.raft_port}",
                                            "http_loc": f"{n.host}:{self.http_ports[n.id]}"}
            # RRL is on by default: the checker queries from the bridge's address.
            base.setdefault("rrl", {}).setdefault("exempt_clients", []).append(f"{self.netns.subnet}.254/32")
            for n in self.cluster.nodes:
                n.config_path = os.path.join(workdir, f"dns-config-{n.id}.json")
                with open(n.config_path, "w") as f:
                    json.dump(base, f, indent=1)
        else:
            for a in self.cluster.nodes:
                for b in self.cluster.nodes:
                    if a is not b:
                        self.proxies[(a.id, b.id)] = LinkProxy(a.id, b.id, b.raft_port)
            for a in self.cluster.nodes:
                cfg = json.loads(json.dumps(base))
                for b in self.cluster.nodes:
                    if a is not b:
                        cfg["nodes"][str(b.id)]["raft_loc"] = f"127.0.0.1:{self.proxies[(a.id, b.id)].port}"
                a.config_path = os.path.join(workdir, f"dns-config-{a.id}.json")
                with open(a.config_path, "w") as f:
                    json.dump(cfg, f, indent=1)
        self.node_config = {n.id: self.member_line_fields(n) for n in self.cluster.nodes}
        self.clients = {n.id: NodeClient(n) for n in self.cluster.nodes}
        self.stopped = set()   # SIGSTOPped node ids
        self.down = set()      # killed and not yet restarted
        self.refused_start = []  # (node id, reason) for nodes that would not start
        self.state_lock = threading.Lock()
        self.ops = []
        self.ops_lock = threading.Lock()
        self.faults = collections.Counter()
        self.fault_active = threading.Event()
        self.stop_flag = threading.Event()
        self.queries = collections.Counter()
        self.update_enabled = False
        self.update_note = ""
        self.http_enabled = False
        self.http_note = ""
        self.replaced = set()  # node ids replaced after losing their data (MEMBER REMOVE/ADD, --join)
        self.join_pending = set()  # replaced, started with --join, not yet seen as a voter
        self.wiped_at = {}  # node id -> time of its last wipe
        self.silent_rejoins = []  # wiped nodes that took part as voters without being replaced

    def member_line_fields(self, node):
        """(query_loc, raft_loc) of `node` as its own config names them."""
        with open(node.config_path) as f:
            entry = json.load(f)["nodes"][str(node.id)]
        return entry["query_loc"], entry["raft_loc"]

    @staticmethod
    def host(node):
        return getattr(node, "host", "127.0.0.1")

    # ---- process control

    def start_node(self, node, extra_args=None):
        """Starts (or restarts) a node; returns False if it would not start."""
        args = list(extra_args if extra_args is not None else [])
        if node.id in self.join_pending:
            # Just replaced: it joins, as the operator was told to start it
            # (only until it is a voter again: a later restart without its
            # data must go through the refusal and replacement again).
            target = self.join_target(node)
            if target is not None:
                args += ["--join", self.node_config[target.id][1]]
        try:
            node.log_offset = os.path.getsize(node.log_path) if os.path.exists(node.log_path) else 0
            node.start(args)
        except RuntimeError as e:
            reason = str(e).splitlines()[0]
            try:
                with open(node.log_path) as f:
                    f.seek(node.log_offset)
                    critical = [line for line in f if " critical " in line]
                if critical:
                    reason = f"node {node.id} exited: " + critical[-1].split(" critical ", 1)[1].strip()[:200]
            except OSError:
                pass
            self.refused_start.append((node.id, reason))
            with self.state_lock:
                self.down.add(node.id)
            return False
        self.clients[node.id].attach()
        with self.state_lock:
            self.down.discard(node.id)
        return True

    def kill(self, node):
        with self.state_lock:
            self.down.add(node.id)
            self.stopped.discard(node.id)
        if node.alive():
            os.kill(node.proc.pid, signal.SIGCONT)  # a stopped process must die too
        node.kill()

    def running(self):
        """Nodes that are up and not SIGSTOPped."""
        with self.state_lock:
            return [n for n in self.cluster.nodes if n.alive() and n.id not in self.stopped and n.id not in self.down]

    def leader(self):
        for n in self.running():
            st = self.clients[n.id].status(timeout=2)
            if st and st.get("role") == "leader":
                return n
        return None

    def pick(self, leader_bias=0.6):
        """A running node, the leader with probability leader_bias."""
        live = self.running()
        if not live:
            return None
        if self.rnd.random() < leader_bias:
            ld = self.leader()
            if ld is not None:
                return ld
        return self.rnd.choice(live)

    # ---- writers

    def stdin_writer(self, wid):
        rnd = random.Random(self.seed * 100 + wid)
        present = []  # (name, value) acknowledged as added and not removed
        k = 0
        while not self.stop_flag.is_set():
            live = self.running()
            if not live:
                time.sleep(0.1)
                continue
            node = rnd.choice(live)
            if present and rnd.random() < 0.35:
                name, value = present.pop(rnd.randrange(len(present)))
                op = Op("remove", name, value, f"stdin@{node.id}")
                line = f"REMOVE: {name} A {value}"
            else:
                k += 1
                name, value = f"w{wid}-{k}.{ZONE}", f"10.{wid}.{k // 250 % 250}.{k % 250 + 1}"
                op = Op("add", name, value, f"stdin@{node.id}")
                line = f"ADD: {name} 60 A {value}"
            with self.ops_lock:
                self.ops.append(op)
            op.pending = self.clients[node.id].send(line, timeout=8)
            if op.pending.reply is None:
                op.result = "unknown"
            elif op.pending.reply.startswith("OK"):
                op.result = "ok"
                if op.kind == "add":
                    present.append((name, value))
            else:
                op.result = "error:" + op.pending.reply
            # After an unknown outcome the name is left alone: a later change
            # could otherwise race the one still in flight.
            time.sleep(rnd.uniform(0, 0.05))

    def update_message(self, kind, name, value):
        keyring = dns.tsigkeyring.from_text({TSIG_NAME: TSIG_SECRET})
        u = dns.update.UpdateMessage(ZONE, keyring=keyring, keyname=TSIG_NAME, keyalgorithm="hmac-sha256")
        if kind == "add":
            u.add(name, 60, "A", value)
        else:
            u.delete(name, "A", value)
        return u

    def send_update(self, node, kind, name, value, timeout=6):
        """'ok', 'refused:<rcode>' (not applied) or 'unknown'."""
        try:
            r = dns.query.tcp(self.update_message(kind, name, value), self.host(node), port=node.query_port,
                              timeout=timeout)
        except Exception as e:  # timeout, reset, refused connection
            return "unknown", repr(e)
        rc = r.rcode()
        if rc == dns.rcode.NOERROR:
            return "ok", ""
        return "error:" + dns.rcode.to_text(rc), dns.rcode.to_text(rc)

    def probe_update(self):
        node = self.cluster.nodes[0]
        name, value = f"update-probe.{ZONE}", "10.250.0.1"
        result, why = self.send_update(node, "add", name, value)
        if result != "ok":
            self.update_note = f"UPDATE writer skipped: a signed UPDATE to node 0 got {result} {why}".strip()
            return False
        try:
            self.cluster.wait_all_answer(name, {value}, timeout=10)
        except AssertionError as e:
            self.update_note = f"UPDATE writer skipped: the probe UPDATE was acknowledged but not served: {e}"
            return False
        op = Op("add", name, value, "update@0")
        op.result = "ok"
        self.ops.append(op)
        self.update_note = "UPDATE writer on (signed RFC 2136 UPDATE over TCP)"
        return True

    def update_writer(self, wid):
        rnd = random.Random(self.seed * 100 + wid)
        present = []
        k = 0
        while not self.stop_flag.is_set():
            live = self.running()
            if not live:
                time.sleep(0.1)
                continue
            node = rnd.choice(live)
            if present and rnd.random() < 0.35:
                name, value = present.pop(rnd.randrange(len(present)))
                kind = "remove"
            else:
                k += 1
                name, value, kind = f"u{wid}-{k}.{ZONE}", f"10.{wid}.{k // 250 % 250}.{k % 250 + 1}", "add"
            op = Op(kind, name, value, f"update@{node.id}")
            with self.ops_lock:
                self.ops.append(op)
            op.result, _ = self.send_update(node, kind, name, value)
            if op.result == "ok" and kind == "add":
                present.append((name, value))
            time.sleep(rnd.uniform(0, 0.05))

    # ---- HTTP writers

    def http_request(self, node, method, path, body=None, timeout=8):
        """(status, body text) of one request with the key's basic auth;
        status None when no answer came (outcome unknown)."""
        url = f"http://{self.host(node)}:{self.http_ports[node.id]}{path}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        auth = base64.b64encode(f"{TSIG_NAME}:{TSIG_SECRET}".encode()).decode()
        req.add_header("Authorization", "Basic " + auth)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except Exception as e:  # timeout, reset, refused connection
            return None, repr(e)

    def probe_http(self):
        node = self.cluster.nodes[0]
        name, value = f"http-probe.{ZONE}", "10.251.0.1"
        status, text = self.http_request(node, "GET", "/nic/update?" + urllib.parse.urlencode(
            {"hostname": name.rstrip("."), "myip": value}))
        if status != 200 or not text.startswith("good"):
            self.http_note = f"HTTP writers skipped: a DynDNS2 request to node 0 got {status} {text.strip()[:120]}"
            return False
        try:
            self.cluster.wait_all_answer(name, {value}, timeout=10)
        except AssertionError as e:
            self.http_note = f"HTTP writers skipped: the probe was answered good but not served: {e}"
            return False
        op = Op("add", name, value, "dyndns@0")
        op.result = "ok"
        self.ops.append(op)
        self.http_note = "HTTP writers on (DynDNS2, 3 hostnames a request; concurrent REST)"
        return True

    def dyndns_writer(self, wid):
        """DynDNS2 requests setting three fresh hostnames at once on a random
        node; each answer line is the outcome of its own name: "good" is an
        acknowledged change, anything else (or no answer) is not."""
        rnd = random.Random(self.seed * 100 + wid)
        k = 0
        while not self.stop_flag.is_set():
            live = self.running()
            if not live:
                time.sleep(0.1)
                continue
            node = rnd.choice(live)
            k += 1
            value = f"10.{wid}.{k // 250 % 250}.{k % 250 + 1}"
            names = [f"d{wid}-{k}-{j}.{ZONE}" for j in range(3)]
            ops = [Op("add", name, value, f"dyndns@{node.id}") for name in names]
            with self.ops_lock:
                self.ops.extend(ops)
            status, text = self.http_request(node, "GET", "/nic/update?" + urllib.parse.urlencode(
                {"hostname": ",".join(n.rstrip(".") for n in names), "myip": value}))
            lines = text.splitlines() if status == 200 else []
            for j, op in enumerate(ops):
                line = lines[j] if j < len(lines) else ""
                op.result = "ok" if line.startswith("good") else f"error:{status} {line or text.strip()[:80]}"
            time.sleep(rnd.uniform(0, 0.05))

    def rest_writer(self, wid):
        """REST adds and removes on a random node; several run at once, so
        each node's API has concurrent changes in flight."""
        rnd = random.Random(self.seed * 100 + wid)
        present = []
        k = 0
        path = "/api/v1/zones/" + ZONE.rstrip(".") + "/records"
        while not self.stop_flag.is_set():
            live = self.running()
            if not live:
                time.sleep(0.1)
                continue
            node = rnd.choice(live)
            if present and rnd.random() < 0.35:
                name, value = present.pop(rnd.randrange(len(present)))
                op = Op("remove", name, value, f"rest@{node.id}")
                method, want = "DELETE", 200
            else:
                k += 1
                name, value = f"r{wid}-{k}.{ZONE}", f"10.{wid}.{k // 250 % 250}.{k % 250 + 1}"
                op = Op("add", name, value, f"rest@{node.id}")
                method, want = "POST", 201
            with self.ops_lock:
                self.ops.append(op)
            status, text = self.http_request(node, method, path,
                                             {"name": name, "type": "A", "ttl": 60, "data": value})
            if status == want:
                op.result = "ok"
                if op.kind == "add":
                    present.append((name, value))
            else:
                op.result = f"error:{status} {text.strip()[:80]}"
            time.sleep(rnd.uniform(0, 0.05))

    # ---- readers

    def querier(self):
        rnd = random.Random(self.seed + 7)
        while not self.stop_flag.is_set():
            during = self.fault_active.is_set()
            with self.state_lock:
                targets = [n for n in self.cluster.nodes if n.id not in self.down and n.alive()]
                stopped = set(self.stopped)
            for n in targets:
                name = f"seed{rnd.randrange(len(self.cluster.nodes))}.{ZONE}"
                try:
                    n.query(name, "A", timeout=0.5)
                    ok = True
                except Exception:
                    ok = False
                key = "fault" if during else "calm"
                self.queries[f"{key}_sent"] += 1
                self.queries[f"{key}_answered"] += ok
                if n.id not in stopped:
                    self.queries[f"{key}_sent_running"] += 1
                    self.queries[f"{key}_answered_running"] += ok
            time.sleep(0.02)

    # ---- faults

    def fault_kill9(self):
        node = self.pick()
        if node is None:
            return None
        self.kill(node)
        time.sleep(self.rnd.uniform(0.5, 3))
        self.start_node(node)
        return f"kill9 node {node.id}"

    def fault_stop(self):
        node = self.pick()
        if node is None:
            return None
        with self.state_lock:
            self.stopped.add(node.id)
        os.kill(node.proc.pid, signal.SIGSTOP)
        time.sleep(self.rnd.uniform(1, 4))
        if node.alive():
            os.kill(node.proc.pid, signal.SIGCONT)
        with self.state_lock:
            self.stopped.discard(node.id)
        return f"stop node {node.id}"

    def cut_between(self, group_a, group_b):
        for a in group_a:
            for b in group_b:
                if self.netns:
                    self.netns.cut(a, b)
                else:
                    self.proxies[(a, b)].cut()
                    self.proxies[(b, a)].cut()

    def heal_links(self):
        if self.netns:
            self.netns.heal()
        for p in self.proxies.values():
            p.heal()

    def fault_isolate(self):
        node = self.leader() or self.pick(0)
        if node is None:
            return None
        others = [n.id for n in self.cluster.nodes if n.id != node.id]
        self.cut_between([node.id], others)
        time.sleep(self.rnd.uniform(2, 5))
        self.heal_links()
        return f"isolate node {node.id}"

    def fault_split(self):
        ids = [n.id for n in self.cluster.nodes]
        self.rnd.shuffle(ids)
        small, big = ids[:2], ids[2:]
        self.cut_between(small, big)
        time.sleep(self.rnd.uniform(2, 5))
        self.heal_links()
        return f"split {sorted(small)} | {sorted(big)}"

    def fault_lossy(self):
        node = self.pick(0.3)
        if node is None:
            return None
        spec = f"drop=0.2,dup=0.1,delay=1-40ms,seed={self.rnd.randrange(1 << 30)}"
        node.stop()
        with self.state_lock:
            self.down.add(node.id)
        self.start_node(node, ["--unreliable", spec])
        time.sleep(self.rnd.uniform(3, 6))
        if node.alive():
            node.stop()
        with self.state_lock:
            self.down.add(node.id)
        self.start_node(node, [])
        return f"lossy node {node.id} ({spec})"

    def fault_wipe(self):
        node = self.pick(0.3)
        if node is None or node.id in self.join_pending:
            return None  # one data loss at a time: a node still joining is left alone
        self.wiped_at[node.id] = time.time()
        self.kill(node)
        shutil.rmtree(node.data_dir, ignore_errors=True)
        outcome = self.start_and_settle(node)
        return f"wipe node {node.id} ({outcome})"

    def join_target(self, node):
        """A running member other than `node` to join through, the leader if known."""
        others = [n for n in self.running() if n is not node]
        leader = self.leader()
        if leader is not None and leader is not node:
            return leader
        return others[0] if others else None

    def data_lost_refusal(self, node):
        """The node exited saying its data was lost (it must be replaced)."""
        if node.alive():
            return False
        try:
            with open(node.log_path) as f:
                f.seek(getattr(node, "log_offset", 0))
                tail = f.read()  # this run's lines only
        except OSError:
            return False
        return "data was lost" in tail and "MEMBER REMOVE" in tail

    def start_and_settle(self, node, wait=20):
        """Starts `node` and follows it until it takes part or stops; a node
        that stops because it lost its data is replaced, as its message tells
        the operator to: MEMBER REMOVE, MEMBER ADD, start with --join."""
        if not self.start_node(node):
            if self.data_lost_refusal(node):
                return "it stopped at once, saying its data was lost; " + self.replace(node)
            return f"refused to start: {self.refused_start[-1][1]}"
        deadline = time.time() + wait
        while time.time() < deadline:
            if not node.alive():
                with self.state_lock:
                    self.down.add(node.id)
                if self.data_lost_refusal(node):
                    return "it stopped, saying its data was lost; " + self.replace(node)
                return f"it exited with status {node.proc.returncode}"
            st = self.clients[node.id].status(timeout=2)
            if st and st.get("role") not in (None, "starting", "joining"):
                if node.id not in self.join_pending and node.id in self.wiped_at and \
                        str(node.id) in [str(v) for v in st.get("voters", [])]:
                    self.silent_rejoins.append(f"node {node.id} restarted without its data and took part as "
                                               f"{st.get('role')} and voter without being replaced "
                                               f"(log_last_index={st.get('log_last_index')}, "
                                               f"voters={st.get('voters')})")
                return f"running as {st.get('role')}"
            time.sleep(0.2)
        return f"still starting after {wait} s"

    def member_command(self, line, accept, timeout=30):
        """Sends a MEMBER command to running members until one answers OK or
        an error containing one of `accept` (already done)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            target = self.join_target(None)
            if target is None:
                time.sleep(0.5)
                continue
            p = self.clients[target.id].send(line, timeout=10)
            last = p.reply
            if p.reply and (p.reply.startswith("OK") or any(a in p.reply for a in accept)):
                return p.reply
            time.sleep(0.5)
        raise RuntimeError(f"{line!r}: no success within {timeout} s (last reply: {last})")

    def replace(self, node, wait=40):
        """Replaces a node that lost its data and waits until it is a voter
        again, so that the run never has two members without their data."""
        query_loc, raft_loc = self.node_config[node.id]
        try:
            self.member_command(f"MEMBER REMOVE {node.id}", ["is not a member"])
            self.member_command(f"MEMBER ADD {node.id} {query_loc} {raft_loc}", ["is already a member"])
        except RuntimeError as e:
            self.notes.append(f"node {node.id} could not be replaced: {e}")
            return f"not replaced: {e}"
        self.replaced.add(node.id)
        self.join_pending.add(node.id)
        shutil.rmtree(node.data_dir, ignore_errors=True)
        if not self.start_node(node):
            return f"replaced, but it refused to start: {self.refused_start[-1][1]}"
        deadline = time.time() + wait
        while time.time() < deadline:
            st = self.clients[node.id].status(timeout=2)
            if st and st.get("role") in ("follower", "leader") and str(node.id) in [str(v) for v in st.get("voters", [])]:
                self.join_pending.discard(node.id)
                return "replaced (MEMBER REMOVE, MEMBER ADD, --join) and a voter again"
            time.sleep(0.3)
        return f"replaced (MEMBER REMOVE, MEMBER ADD, --join), not yet a voter after {wait} s"

    def fault_loop(self):
        kinds = {"kill9": 3, "stop": 2, "isolate": 2, "split": 2, "lossy": 1}
        if self.with_wipe:
            kinds["wipe"] = 2
        names = list(kinds)
        weights = [kinds[k] for k in names]
        deadline = time.time() + self.duration
        while time.time() < deadline:
            time.sleep(self.rnd.uniform(0.5, 2))
            if time.time() >= deadline:
                break
            kind = self.rnd.choices(names, weights)[0]
            self.fault_active.set()
            try:
                what = getattr(self, "fault_" + kind)()
            finally:
                self.fault_active.clear()
            if what:
                self.faults[kind] += 1
                log(what)

    # ---- end checks

    def heal_all(self):
        self.heal_links()
        with self.state_lock:
            stopped = list(self.stopped)
            self.stopped.clear()
        for nid in stopped:
            n = self.cluster.nodes[nid]
            if n.alive():
                os.kill(n.proc.pid, signal.SIGCONT)
        for n in self.cluster.nodes:
            if not n.alive():
                log(f"restarting node {n.id}: {self.start_and_settle(n)}")
            elif n.extra_args and "--unreliable" in n.extra_args:
                n.stop()
                self.start_node(n, [])

    def wait_converged(self, timeout=60):
        """Waits until every node reports the same commit and applied index."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            sts = {n.id: self.clients[n.id].status() for n in self.cluster.nodes if n.alive()}
            if len(sts) == len(self.cluster.nodes) and all(sts.values()):
                applied = {s.get("applied_index") for s in sts.values()}
                commits = {s.get("commit_index") for s in sts.values()}
                if len(applied) == 1 and applied == commits:
                    time.sleep(1)  # stable for a moment
                    again = {n.id: self.clients[n.id].status() for n in self.cluster.nodes}
                    if all(again.values()) and {s.get("applied_index") for s in again.values()} == applied:
                        return again
            last = sts
            time.sleep(0.3)
        return last

    def digests(self):
        """DIGEST of every live node: {id: (sha256, applied index, records)} or
        {id: None} when it gave none."""
        out = {}
        for n in self.cluster.nodes:
            p = self.clients[n.id].send("DIGEST", timeout=10) if n.alive() else None
            fields = p.reply.split() if p is not None and p.reply else []
            out[n.id] = (fields[1], int(fields[2]), int(fields[3])) if len(fields) == 4 and fields[0] == "OK" else None
        return out

    def answers(self, node, name):
        for _ in range(5):
            try:
                r = node.query(name, "A", timeout=1.5)
                return tuple(sorted(rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.A
                                    for rd in rrset)), dns.rcode.to_text(r.rcode())
            except Exception:
                time.sleep(0.1)
        return None, "no answer"

    def check(self, statuses):
        # Expected state per (name, value) from each name's sequence of ops.
        by_pair = collections.defaultdict(list)
        proposed = collections.defaultdict(set)
        for op in self.ops:
            by_pair[(op.name, op.value)].append(op)
            proposed[op.name].add(op.value)
        must, must_not = set(), set()
        for pair, ops in by_pair.items():
            outcomes = [o.outcome() for o in ops]
            if any(r != "ok" for r in outcomes):
                continue  # an op of unknown outcome: either state is allowed
            if ops[-1].kind == "add":
                must.add(pair)
            else:
                must_not.add(pair)
        names = sorted(proposed)
        views = {}
        for n in self.cluster.nodes:
            views[n.id] = {name: self.answers(n, name) for name in names}
        lost, resurrected, phantom = [], [], []
        for nid, view in views.items():
            for (name, value) in must:
                if value not in (view[name][0] or ()):
                    lost.append((nid, name, value, view[name]))
            for (name, value) in must_not:
                if value in (view[name][0] or ()):
                    resurrected.append((nid, name, value))
            for name in names:
                for v in view[name][0] or ():
                    if v not in proposed[name]:
                        phantom.append((nid, name, v))
        # Which entry point acknowledged each lost change (distinct names).
        lost_pairs = {(name, value) for _, name, value, _ in lost}
        lost_by_entry_point = dict(collections.Counter(by_pair[p][-1].via.split("@")[0] for p in lost_pairs))
        # Divergence: full answers for every name, plus STATUS fields.
        reference = views[self.cluster.nodes[0].id]
        divergent = set()
        for nid, view in views.items():
            if view != reference:
                divergent.add(nid)
        if statuses:
            fields = ["applied_index", "commit_index", "records"]
            ref = statuses.get(0) or {}
            for nid, s in statuses.items():
                if not s or any(s.get(f) != ref.get(f) for f in fields):
                    divergent.add(nid)
        else:
            fields = []
        # The stores themselves: every node's DIGEST (records and count) must
        # be the one most nodes give; a node that gives none (down, not
        # answering) diverges. The store's applied index is printed, not
        # compared: a node restored from a snapshot taken just after a
        # membership entry names that entry (Raft's applied index, compared
        # above through STATUS, is the same everywhere).
        digests = self.digests()
        counts = collections.Counter((d[0], d[2]) for d in digests.values() if d is not None)
        majority = counts.most_common(1)[0][0] if counts else None
        for nid, d in digests.items():
            if d is None or (d[0], d[2]) != majority:
                divergent.add(nid)
        return {"lost": lost, "lost_by_entry_point": lost_by_entry_point, "lost_names": len(lost_pairs),
                "resurrected": resurrected, "phantom": phantom, "divergent": sorted(divergent),
                "status_fields_compared": fields, "names_checked": len(names),
                "must_be_present": len(must), "must_be_absent": len(must_not),
                "digests": {nid: (f"{d[0][:16]}... applied {d[1]} records {d[2]}" if d else None)
                            for nid, d in digests.items()},
                "digests_equal": majority is not None and all(d is not None and (d[0], d[2]) == majority
                                                              for d in digests.values())}

    # ---- main

    def run(self):
        t0 = time.time()
        log(f"seed {self.seed}, {len(self.cluster.nodes)} nodes, {self.duration}s of faults, workdir {self.workdir}")
        for n in self.cluster.nodes:
            n.start([])
            self.clients[n.id].attach()
        for name, expected in self.cluster.seed_names.values():
            self.cluster.wait_all_answer(name, expected, timeout=30)
        self.update_enabled = self.probe_update()
        log(self.update_note)
        self.http_enabled = self.probe_http()
        log(self.http_note)
        threads = [threading.Thread(target=self.stdin_writer, args=(w,), daemon=True) for w in (1, 2, 3)]
        if self.update_enabled:
            threads.append(threading.Thread(target=self.update_writer, args=(4,), daemon=True))
        if self.http_enabled:
            threads += [threading.Thread(target=self.dyndns_writer, args=(w,), daemon=True) for w in (5, 6)]
            threads += [threading.Thread(target=self.rest_writer, args=(w,), daemon=True) for w in (7, 8, 9)]
        threads.append(threading.Thread(target=self.querier, daemon=True))
        for t in threads:
            t.start()
        try:
            self.fault_loop()
        finally:
            self.stop_flag.set()
            for t in threads:
                t.join(timeout=15)
            log("healing")
            self.heal_all()
        statuses = self.wait_converged()
        result = self.check(statuses)
        result.update(self.figures(time.time() - t0, statuses))
        return result

    def figures(self, elapsed, statuses):
        acked = [o for o in self.ops if o.outcome() == "ok"]
        unknown = [o for o in self.ops if o.outcome() != "ok"]
        q = self.queries

        def share(a, s):
            return round(q[a] / q[s], 4) if q[s] else None
        return {
            "seed": self.seed,
            "elapsed_s": round(elapsed, 1),
            "faults": dict(self.faults),
            "faults_total": sum(self.faults.values()),
            "changes_proposed": len(self.ops),
            "changes_acknowledged": len(acked),
            "acknowledged_adds": sum(o.kind == "add" for o in acked),
            "acknowledged_removes": sum(o.kind == "remove" for o in acked),
            "acknowledged_via_stdin": sum(o.via.startswith("stdin") for o in acked),
            "acknowledged_via_update": sum(o.via.startswith("update") for o in acked),
            "acknowledged_via_dyndns": sum(o.via.startswith("dyndns") for o in acked),
            "acknowledged_via_rest": sum(o.via.startswith("rest") for o in acked),
            "changes_unknown_or_refused": len(unknown),
            "update_writer": self.update_note,
            "http_writers": self.http_note,
            "queries_during_faults": q["fault_sent"],
            "answered_during_faults": share("fault_answered", "fault_sent"),
            "answered_during_faults_excluding_stopped_nodes": share("fault_answered_running", "fault_sent_running"),
            "answered_outside_faults": share("calm_answered", "calm_sent"),
            "network": self.network,
            "replaced_nodes": sorted(self.replaced),
            "silent_rejoins": self.silent_rejoins,
            "nodes_that_refused_to_start": self.refused_start,
            "notes": self.notes,
            "final_status": {nid: {k: s.get(k) for k in ("role", "term", "commit_index", "applied_index", "records",
                                                          "digest") if k in s} if s else None
                             for nid, s in (statuses or {}).items()},
        }

    def close(self):
        self.stop_flag.set()
        for n in self.cluster.nodes:
            if n.alive():
                try:
                    os.kill(n.proc.pid, signal.SIGCONT)
                except OSError:
                    pass
            try:
                n.stop()
            except Exception:
                pass
        for p in self.proxies.values():
            p.close()
        if self.netns:
            self.netns.close()


def report(result):
    """The figures, one per line, then the verdict."""
    lines = [
        "==== chaos figures ====",
        f"seed:                       {result['seed']}",
        f"run time:                   {result['elapsed_s']} s (partitions: {result['network']})",
        f"faults injected:            {result['faults_total']} {result['faults']}",
        f"changes proposed:           {result['changes_proposed']}",
        f"changes acknowledged:       {result['changes_acknowledged']} "
        f"(adds {result['acknowledged_adds']}, removes {result['acknowledged_removes']}; "
        f"via stdin {result['acknowledged_via_stdin']}, via UPDATE {result['acknowledged_via_update']}, "
        f"via DynDNS2 {result['acknowledged_via_dyndns']}, via REST {result['acknowledged_via_rest']})",
        f"changes unknown/refused:    {result['changes_unknown_or_refused']}",
        f"update writer:              {result['update_writer']}",
        f"http writers:               {result['http_writers']}",
        f"names checked:              {result['names_checked']} "
        f"(must be present: {result['must_be_present']}, must be absent: {result['must_be_absent']})",
        f"changes lost:               {len(result['lost'])} (on all nodes; {result['lost_names']} distinct, "
        f"by entry point {result['lost_by_entry_point']})",
        f"removed records back:       {len(result['resurrected'])}",
        f"records never proposed:     {len(result['phantom'])}",
        f"divergent nodes:            {len(result['divergent'])} {result['divergent']}",
        f"status fields compared:     {result['status_fields_compared']}",
        f"store digests equal:        {result['digests_equal']} (DIGEST of {len(result['digests'])} nodes)",
        f"queries during faults:      {result['queries_during_faults']}, answered "
        f"{result['answered_during_faults']} (excluding SIGSTOPped nodes: "
        f"{result['answered_during_faults_excluding_stopped_nodes']}); outside faults "
        f"{result['answered_outside_faults']}",
    ]
    for item in result["silent_rejoins"]:
        lines.append(f"silent rejoin: {item}")
    if result["replaced_nodes"]:
        lines.append(f"nodes replaced after losing their data: {result['replaced_nodes']}")
    if result["nodes_that_refused_to_start"]:
        lines.append(f"nodes that stopped as they started: {len(result['nodes_that_refused_to_start'])}")
        for nid, reason in result["nodes_that_refused_to_start"][:10]:
            lines.append(f"  node {nid}: {reason}")
    for note in result["notes"]:
        lines.append(f"note: {note}")
    lines.append(f"final status: {json.dumps(result['final_status'])}")
    for nid, d in result["digests"].items():
        lines.append(f"digest node {nid}: {d}")
    for key in ("lost", "resurrected", "phantom"):
        for item in result[key][:10]:
            lines.append(f"{key}: {item}")
    return "\n".join(lines)


def passed(result):
    return (not result["lost"] and not result["resurrected"] and not result["phantom"] and not result["divergent"]
            and not result["silent_rejoins"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=90, help="seconds of fault injection (default 90)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--workdir", default=None, help="keep logs and data here (default: a temporary directory)")
    ap.add_argument("--with-wipe", action="store_true", help="also restart nodes with an empty data directory")
    ap.add_argument("--json", action="store_true", help="print the result as JSON too")
    ap.add_argument("--network", choices=["auto", "netns", "proxy"], default="auto",
                    help="how partitions are made: network namespaces (root) or per-link proxies; "
                         "auto picks namespaces when it can")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    workdir = args.workdir or tempfile.mkdtemp(prefix="dnsnode-chaos-")
    os.makedirs(workdir, exist_ok=True)
    chaos = Chaos(workdir, args.duration, seed, with_wipe=args.with_wipe, network=args.network)
    try:
        result = chaos.run()
    finally:
        chaos.close()
    print(report(result))
    if args.json:
        print(json.dumps(result, default=str))
    ok = passed(result)
    print("PASS" if ok else f"FAIL (logs in {workdir})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
