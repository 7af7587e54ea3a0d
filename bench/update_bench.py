#!/usr/bin/env python3
"""Update benchmark: committed changes per second and their latency from N
concurrent clients, and propagation from acknowledgement to every node.

Systems (all on loopback, fsync on):
- dns-node: a cluster of each size in --nodes (default 3). Changes are RFC
  2136 UPDATEs signed with TSIG (hmac-sha256) over TCP when the node answers
  them; while the node answers UPDATE with NOTIMP, changes go as stdin `ADD:`
  lines instead (one in flight: stdin commands run one at a time), and the
  report says so.
- knot: knotd as a single primary accepting the same signed UPDATEs (TSIG key
  and ACL), journal on (LMDB, synced).
- etcd: a 3-member etcd cluster taking puts of the same size through the v3
  HTTP/JSON gateway (POST /v3/kv/put) on keep-alive connections.

Before every level the script finds the node that leads (dns-node: each
node's stdin STATUS; etcd: /v3/maintenance/status) and points the clients at
it or at a follower (--target leader|follower|both), which must forward the
change; the report says which, and whether that node's role changed during
the level. Each level (1, 10, 100 in flight) runs --seconds (and at most
--max-ops changes); the report gives the median over --runs of committed
changes/s and of p50/p99 latency, and the errors by rcode.

Propagation: one change at a time, the time from the acknowledgement to every
node answering the new record (all of dns-node's nodes; a Knot primary with
two Knot secondaries via NOTIFY and IXFR), idle and/or under a bounded
dnsperf query load against every node (--load); p50/p90/p99/p99.9/max, and
the slowest samples with each node's time so the tail can be traced.
"""
import argparse
import base64
import collections
import hashlib
import hmac
import http.client
import json
import random
import select
import signal
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import benchlib as b

ORIGIN = "bench.test."
KEY_NAME = "bench-key."
KEY_SECRET = base64.b64encode(hashlib.sha256(b"dns-node update benchmark").digest()).decode()
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 9: "NOTAUTH"}


# ---------------------------------------------------------------- wire

def name_wire(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".") if l) + b"\0"


def signed_update(msg_id, owner, ip, key_name=KEY_NAME, secret=KEY_SECRET):
    """An RFC 2136 UPDATE adding `owner` A `ip` (TTL 300) to ORIGIN, signed
    with TSIG hmac-sha256 (RFC 8945 §4.3: MAC over the message and the TSIG
    variables)."""
    header = struct.pack("!HHHHHH", msg_id, 5 << 11, 1, 0, 1, 0)
    zone = name_wire(ORIGIN) + struct.pack("!HH", 6, 1)  # SOA IN
    rr = name_wire(owner) + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton(ip)
    msg = header + zone + rr
    now = int(time.time())
    alg = name_wire("hmac-sha256.")
    time_signed = struct.pack("!HIH", now >> 32, now & 0xFFFFFFFF, 300)
    variables = name_wire(key_name) + struct.pack("!HI", 255, 0) + alg + time_signed + struct.pack("!HH", 0, 0)
    mac = hmac.new(base64.b64decode(secret), msg + variables, hashlib.sha256).digest()
    rdata = alg + time_signed + struct.pack("!H", len(mac)) + mac + struct.pack("!HHH", msg_id, 0, 0)
    tsig = name_wire(key_name) + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
    return header[:10] + struct.pack("!H", 1) + zone + rr + tsig


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def tcp_exchange(sock, wire):
    sock.sendall(struct.pack("!H", len(wire)) + wire)
    (n,) = struct.unpack("!H", recv_exact(sock, 2))
    return recv_exact(sock, n)


# ---------------------------------------------------------------- zone

def write_zone(path):
    Path(path).write_text(f"""$ORIGIN {ORIGIN}
$TTL 3600
@ IN SOA ns1 hostmaster 1 3600 900 604800 300
@ IN NS ns1
ns1 IN A 192.0.2.1
www IN A 192.0.2.80
""")


# ---------------------------------------------------------------- systems

class DnsNodeCluster:
    """A `size`-node dns-node cluster. Clients talk to `self.target`, which
    aim() points at the node leading now or at one following it."""

    def __init__(self, workdir, zone, size=3):
        self.size = size
        self.label = f"dns-node ({size} nodes)"
        self.dir = Path(workdir) / f"dns-node-cluster{size}"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.qports = [b.free_port() for _ in range(size)]
        nodes = {str(i): {"query_loc": f"127.0.0.1:{self.qports[i]}", "raft_loc": f"127.0.0.1:{b.free_port()}"}
                 for i in range(size)}
        cfg = {"nodes": nodes, "cluster": {"secret": "dW5pdC1iZW5jaC1jbHVzdGVyLXNlY3JldA=="},
               "tsig_keys": [{"name": KEY_NAME, "secret": KEY_SECRET, "algorithm": "hmac-sha256"}],
               # RRL off: the benchmark's one client reads back far more than 100 answers a second.
               "rrl": {"responses_per_second": 0}}
        (self.dir / "cfg.json").write_text(json.dumps(cfg))
        self.servers = []
        self.stdin_locks = [threading.Lock() for _ in range(size)]
        try:
            for i in range(size):
                argv = [b.dns_node_bin(), "-n", str(i), "-c", str(self.dir / "cfg.json"), "-z", str(zone),
                        "--data-dir", str(self.dir / f"data{i}")]
                self.servers.append(b.Server(f"dns-node{i}", argv, self.qports[i], self.dir, ORIGIN,
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE))
            for s in self.servers:
                s.wait_ready(timeout=60, poll=0.05)
        except BaseException:
            self.stop()
            raise
        self.target = 0
        self.leader = None
        self.mode = None

    def aim(self, kind, run=0):
        """Points the clients at the leader ('leader') or at a follower
        ('follower', a different one each run); returns the node chosen."""
        self.leader = self.find_leader()
        if kind == "leader":
            self.target = self.leader
        else:
            followers = [i for i in range(self.size) if i != self.leader]
            self.target = followers[run % len(followers)]
        return self.target

    def find_leader(self, timeout=30.0):
        """The node whose STATUS says it leads (the highest term if two do, as
        a deposed leader may not know yet), waiting up to `timeout` s for one."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.statuses()
            leaders = [i for i, s in enumerate(st) if s.get("role") == "leader"]
            if leaders:
                return max(leaders, key=lambda i: st[i].get("term", 0))
            if time.monotonic() > deadline:
                raise RuntimeError(f"no dns-node leads after {timeout:g} s: {[s.get('role') for s in st]}")
            time.sleep(0.1)

    def statuses(self):
        """Every node's STATUS reply (a dict; {} when it did not answer OK)."""
        out = []
        for i in range(self.size):
            line = self.command("STATUS", node=i)
            out.append(json.loads(line[3:]) if line.startswith("OK ") else {})
        return out

    def role(self, node):
        line = self.command("STATUS", node=node)
        return json.loads(line[3:]).get("role", "unknown") if line.startswith("OK ") else "unknown"

    def detect_mode(self):
        """'dns' if the target node commits a signed UPDATE, else 'stdin'."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.qports[self.target]), timeout=5) as s:
                    reply = tcp_exchange(s, signed_update(1, f"probe.{ORIGIN}", "192.0.2.99"))
                rcode = reply[3] & 0xF
                if rcode == 0:
                    self.mode = "dns"
                    return self.mode
                if rcode == 4:  # NOTIMP: UPDATE not served yet
                    break
                b.log(f"  dns-node answered the probe UPDATE with {RCODES.get(rcode, rcode)}; retrying")
            except OSError as e:
                b.log(f"  probe UPDATE failed: {e}")
            time.sleep(0.5)
        self.mode = "stdin"
        # The leader must exist before stdin changes can commit.
        self.stdin_add("probe", "192.0.2.99")
        return self.mode

    def command(self, line, node=None):
        """Sends one stdin command to `node` (default: the target) and returns its reply line."""
        i = self.target if node is None else node
        s = self.servers[i]
        with self.stdin_locks[i]:
            s.proc.stdin.write(f"{line}\n".encode())
            s.proc.stdin.flush()
            # Stdout carries only the replies to stdin commands (logs go to stderr).
            out = s.proc.stdout.readline()
        if not out:
            raise ConnectionError(f"dns-node {i} closed its stdout")
        return out.decode().strip()

    def stdin_add(self, owner, ip):
        return self.command(f"ADD: {owner}.{ORIGIN} 300 A {ip}").startswith("OK")

    def client(self):
        if self.mode == "dns":
            return DnsUpdateClient(self.qports[self.target])
        return StdinClient(self)

    def ports_to_watch(self):
        return self.qports

    def node_names(self):
        """Names for the report, marking the leader and the node the client talks to."""
        return [f"node {i}" + "".join(f" ({t})" for t, on in (("leader", i == self.leader), ("client's", i == self.target))
                                      if on) for i in range(self.size)]

    def stop(self):
        for s in self.servers:
            s.stop()


class StdinClient:
    def __init__(self, cluster):
        self.c = cluster
        self.failures = collections.Counter()

    def put(self, owner, ip, seq):
        ok = self.c.stdin_add(owner, ip)
        if not ok:
            self.failures["stdin error"] += 1
        return ok

    def close(self):
        pass


class DnsUpdateClient:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.failures = collections.Counter()  # rcode name -> count, for the report's errors column

    def put(self, owner, ip, seq):
        reply = tcp_exchange(self.sock, signed_update(seq & 0xFFFF, f"{owner}.{ORIGIN}", ip))
        rcode = reply[3] & 0xF
        if rcode != 0:
            self.failures[RCODES.get(rcode, f"rcode {rcode}")] += 1
        return rcode == 0

    def close(self):
        self.sock.close()


KNOT_KEY = """key:
  - id: {key}
    algorithm: hmac-sha256
    secret: {secret}
"""


class KnotPrimary:
    label = "Knot (single primary)"

    def __init__(self, workdir, zone, secondaries=0):
        self.dir = Path(workdir) / "knot-update"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.port = b.free_port()
        self.sec_ports = [b.free_port() for _ in range(secondaries)]
        shutil.copy(zone, self.dir / "zone.db")
        remotes = "".join(f"  - id: s{i}\n    address: 127.0.0.1@{p}\n" for i, p in enumerate(self.sec_ports))
        notify = f"    notify: [{', '.join(f's{i}' for i in range(secondaries))}]\n" if secondaries else ""
        conf = self.dir / "primary.conf"
        conf.write_text(f"""server:
    listen: 127.0.0.1@{self.port}
    rundir: {self.dir}
{KNOT_KEY.format(key=KEY_NAME.rstrip('.'), secret=KEY_SECRET)}{"remote:" + chr(10) + remotes if remotes else ""}acl:
  - id: upd
    key: {KEY_NAME.rstrip('.')}
    action: update
  - id: xfr
    address: 127.0.0.1
    action: transfer
database:
    storage: {self.dir}
template:
  - id: default
    storage: {self.dir}
    zonefile-sync: -1
    journal-content: changes
    semantic-checks: off
zone:
  - domain: {ORIGIN}
    file: {self.dir}/zone.db
    acl: [upd, xfr]
{notify}log:
  - target: stderr
    any: warning
""")
        knotd = shutil.which("knotd") or "/usr/sbin/knotd"
        self.servers = [b.Server("knot-primary", [knotd, "-c", str(conf)], self.port, self.dir, ORIGIN)]
        for i, p in enumerate(self.sec_ports):
            d = self.dir / f"s{i}"
            d.mkdir()
            sconf = d / "knot.conf"
            sconf.write_text(f"""server:
    listen: 127.0.0.1@{p}
    rundir: {d}
remote:
  - id: primary
    address: 127.0.0.1@{self.port}
acl:
  - id: notify
    address: 127.0.0.1
    action: notify
database:
    storage: {d}
template:
  - id: default
    storage: {d}
    zonefile-sync: -1
    journal-content: changes
    semantic-checks: off
zone:
  - domain: {ORIGIN}
    file: {d}/zone.db
    master: primary
    acl: notify
log:
  - target: stderr
    any: warning
""")
            self.servers.append(b.Server(f"knot-secondary{i}", [knotd, "-c", str(sconf)], p, d, ORIGIN))
        for s in self.servers:
            s.wait_ready(timeout=60, poll=0.05)

    def aim(self, kind, run=0):
        return 0  # one primary takes every change

    def detect_mode(self):
        return "dns"

    def client(self):
        return DnsUpdateClient(self.port)

    def ports_to_watch(self):
        return [self.port] + self.sec_ports

    def node_names(self):
        return ["primary"] + [f"secondary {i}" for i in range(len(self.sec_ports))]

    def stop(self):
        for s in self.servers:
            s.stop()


class EtcdCluster:
    label = "etcd (3 members)"

    def __init__(self, workdir, size=3):
        self.dir = Path(workdir) / "etcd"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.client_ports = [b.free_port() for _ in range(size)]
        peer_ports = [b.free_port() for _ in range(size)]
        initial = ",".join(f"e{i}=http://127.0.0.1:{peer_ports[i]}" for i in range(size))
        self.procs = []
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        for i in range(size):
            argv = [etcd, "--name", f"e{i}", "--data-dir", str(self.dir / f"e{i}"),
                    "--listen-client-urls", f"http://127.0.0.1:{self.client_ports[i]}",
                    "--advertise-client-urls", f"http://127.0.0.1:{self.client_ports[i]}",
                    "--listen-peer-urls", f"http://127.0.0.1:{peer_ports[i]}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_ports[i]}",
                    "--initial-cluster", initial, "--initial-cluster-state", "new",
                    "--initial-cluster-token", "dns-node-bench", "--log-level", "warn"]
            log = open(self.dir / f"e{i}.log", "w")
            self.procs.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True), log))
        deadline = time.monotonic() + 60
        while True:
            try:
                c = EtcdClient(self.client_ports[0])
                if c.put("probe", "x", 0):
                    c.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd cluster did not accept a put; see {self.dir}")
            time.sleep(0.2)
        self.target = 0

    def aim(self, kind, run=0):
        """Points the clients at the member leading now ('leader') or at a
        follower (a different one each run), from each member's
        POST /v3/maintenance/status (its own member_id and the leader's)."""
        deadline = time.monotonic() + 30
        while True:
            ids, leader_id = [], None
            for port in self.client_ports:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("POST", "/v3/maintenance/status", body="{}",
                                 headers={"Content-Type": "application/json"})
                    st = json.loads(conn.getresponse().read())
                    conn.close()
                    ids.append(st.get("header", {}).get("member_id"))
                    leader_id = st.get("leader") or leader_id
                except (OSError, ValueError):
                    ids.append(None)
            if leader_id in ids:
                leader = ids.index(leader_id)
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no etcd member leads after 30 s")
            time.sleep(0.2)
        if kind == "leader":
            self.target = leader
        else:
            followers = [i for i in range(len(self.client_ports)) if i != leader]
            self.target = followers[run % len(followers)]
        return self.target

    def detect_mode(self):
        return "http"

    def client(self):
        return EtcdClient(self.client_ports[self.target])

    def stop(self):
        for p, log in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()


class EtcdClient:
    VALUE = "x" * 40  # about the size of the DNS record each update adds

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.failures = collections.Counter()

    def put(self, owner, ip, seq):
        body = json.dumps({"key": base64.b64encode(owner.encode()).decode(),
                           "value": base64.b64encode((ip + self.VALUE).encode()).decode()})
        self.conn.request("POST", "/v3/kv/put", body=body, headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        r.read()
        if r.status != 200:
            self.failures[f"HTTP {r.status}"] += 1
        return r.status == 200

    def close(self):
        self.conn.close()


# ---------------------------------------------------------------- load

def run_level(system, inflight, seconds, max_ops, tag):
    """`inflight` threads, each with its own connection, one change at a time."""
    lat, errors = [], [0]
    failures = collections.Counter()
    lock = threading.Lock()
    clients = [system.client() for _ in range(inflight)]
    start = threading.Barrier(inflight + 1)
    per_thread = max(1, max_ops // inflight)
    deadline_box = [0.0]

    def worker(ti, cl):
        mine, errs, lost = [], 0, 0
        start.wait()
        deadline = deadline_box[0]
        for k in range(per_thread):
            if time.monotonic() >= deadline:
                break
            seq = ti * per_thread + k
            owner = f"u{tag}-{ti}-{k}"
            ip = f"10.{(seq >> 16) & 255}.{(seq >> 8) & 255}.{seq & 255}"
            t0 = time.monotonic()
            try:
                ok = cl.put(owner, ip, seq)
            except (OSError, ConnectionError):
                ok = False
                lost += 1
            if ok:
                mine.append(time.monotonic() - t0)
            else:
                errs += 1
        with lock:
            lat.extend(mine)
            errors[0] += errs
            failures.update(cl.failures)
            if lost:
                failures["no answer"] += lost

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    deadline_box[0] = time.monotonic() + seconds
    t_start = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t_start
    for c in clients:
        c.close()
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1e3 if lat else None  # noqa: E731
    return {"inflight": inflight, "committed": len(lat), "errors": errors[0], "failures": dict(failures),
            "seconds": elapsed, "per_s": len(lat) / elapsed if elapsed else 0, "p50_ms": pct(50),
            "p99_ms": pct(99), "loadavg": b.loadavg()}


def cpu_times():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return sum(fields) - fields[3] - fields[4], sum(fields)  # idle and iowait are not busy


class QueryLoad:
    """A bounded background query load: one dnsperf per port at `qps`
    queries/s (hits, a NODATA-free NXDOMAIN and the SOA), each stopping by
    itself after `max_seconds` or as many passes over its query file, or
    when stop() interrupts it (by its own PID)."""

    QUERIES = ["www", "ns1", "@", "nx-load"]

    def __init__(self, ports, workdir, qps, max_seconds):
        self.qps, self.ports = qps, ports
        dnsperf = shutil.which("dnsperf")
        if not dnsperf:
            raise SystemExit("--load needs dnsperf (scripts/install-deps.sh installs it)")
        qfile = Path(workdir) / "load-queries.txt"
        qfile.write_text("".join(f"{ORIGIN if q == '@' else q + '.' + ORIGIN} {'SOA' if q == '@' else 'A'}\n"
                                 for q in self.QUERIES))
        passes = qps * max_seconds // len(self.QUERIES) + 1
        self.procs = []
        for port in ports:
            logpath = Path(workdir) / f"load-{port}.log"
            log = open(logpath, "w")
            argv = [dnsperf, "-s", "127.0.0.1", "-p", str(port), "-d", str(qfile), "-l", str(max_seconds),
                    "-n", str(passes), "-Q", str(qps), "-c", "1", "-q", "50", "-t", "2"]
            self.procs.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True), log, logpath))
        time.sleep(1.0)  # let every dnsperf reach its rate before the first sample

    def stop(self):
        """Interrupts every dnsperf still running; returns the queries/s they had answered in all."""
        for p, _, _ in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # dnsperf stops and prints its statistics
        total = 0.0
        for p, log, logpath in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()
            r = b.parse_dnsperf(logpath.read_text())
            if r["completed"] and r["run_s"]:
                total += r["completed"] / r["run_s"]
        return total

    def describe(self):
        return f"dnsperf {self.qps:,} q/s x {len(self.ports)} nodes"


def poll_round(socks, ports, seen, not_yet, qname, t_ack, wait=0.05):
    """Asks every node not yet seen for `qname` at once and records, for each
    that answers it (NOERROR with an answer), the seconds since t_ack in
    `seen`; for each that answers without it, in `not_yet` (so a late node's
    time is bracketed by its last answer without the record)."""
    waiting = {}
    for j, port in enumerate(ports):
        if seen[j] is None:
            qid = random.randrange(65536)
            try:
                socks[j].sendto(b._query_packet(qname, 1, qid=qid), ("127.0.0.1", port))
                waiting[j] = qid
            except OSError:
                pass
    deadline = time.monotonic() + wait
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        readable, _, _ = select.select([socks[j] for j in waiting], [], [], left)
        now = time.monotonic()
        for sock in readable:
            j = socks.index(sock)
            while True:
                try:
                    data = sock.recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if j not in waiting or len(data) < 12 or int.from_bytes(data[:2], "big") != waiting[j]:
                    continue  # a late answer to an earlier round
                if (data[3] & 0xF) == 0 and data[6:8] != b"\0\0":
                    seen[j] = now - t_ack
                else:
                    not_yet[j] = now - t_ack
                del waiting[j]


def propagation(system, samples, tag, timeout=10.0):
    """One change at a time; per sample the acknowledgement's latency and, per
    watched node, the time from the acknowledgement to its first answer with
    the new record (ms; None when not seen within `timeout` s) and to its
    last answer without it (None if the first answer had it)."""
    cl = system.client()
    ports = system.ports_to_watch()
    socks = []
    for _ in ports:
        sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sk.setblocking(False)
        socks.append(sk)
    out = []
    try:
        for i in range(samples):
            owner = f"p{tag}-{i}"
            t0 = time.monotonic()
            try:
                ok = cl.put(owner, f"10.200.{i >> 8 & 255}.{i & 255}", 60000 + i)
            except (OSError, ConnectionError):
                ok = False
            t_ack = time.monotonic()
            if not ok:
                out.append({"ack_ms": None, "nodes": None})
                continue
            seen, not_yet = [None] * len(ports), [None] * len(ports)
            while None in seen and time.monotonic() - t_ack < timeout:
                poll_round(socks, ports, seen, not_yet, f"{owner}.{ORIGIN}", t_ack)
            ms = lambda xs: [x * 1e3 if x is not None else None for x in xs]  # noqa: E731
            out.append({"ack_ms": (t_ack - t0) * 1e3, "nodes": ms(seen), "not_yet": ms(not_yet)})
    finally:
        cl.close()
        for sk in socks:
            sk.close()
    return out


def sample_total(smp):
    """A sample's time to every node answering (ms), None if one never did."""
    if not smp["nodes"] or None in smp["nodes"]:
        return None
    return max(smp["nodes"])


def pctl(xs, p):
    xs = sorted(x for x in xs if x is not None)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else None


def measure_propagation(system, samples, tag, loaded, args, workdir):
    """propagation() idle or under QueryLoad against every node, with the
    machine's 1-min load average and CPU use over the measurement."""
    load = QueryLoad(system.ports_to_watch(), workdir, args.load_qps, args.load_max_seconds) if loaded else None
    busy0, total0 = cpu_times()
    load_start = b.loadavg()
    try:
        xs = propagation(system, samples, tag)
    finally:
        busy1, total1 = cpu_times()
        load_end = b.loadavg()
        achieved = load.stop() if load else 0.0
    return {"samples": xs, "load": load.describe() if load else "idle", "load_qps_achieved": achieved,
            "loadavg_start": load_start, "loadavg_end": load_end,
            "cpu_busy_pct": 100.0 * (busy1 - busy0) / max(1, total1 - total0), "names": system.node_names()}


# ---------------------------------------------------------------- report

HOW = {"dns": "RFC 2136 + TSIG over TCP", "stdin": "stdin ADD: (cluster)", "http": "v3 HTTP/JSON put"}


def fmt_failures(rs):
    total = collections.Counter()
    for r in rs:
        total.update(r.get("failures", {}))
    return ", ".join(f"{k} {v}" for k, v in total.most_common())


def print_levels(results, meta, args):
    print("| system | how | client talks to | in flight | committed/s | p50 ms | p99 ms | errors (median; kinds over all runs) "
          "| runs (1-min load avg) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key, rs in results.items():
        label, kind, n = key
        m = {k: b.median([r[k] for r in rs]) for k in ("per_s", "p50_ms", "p99_ms", "errors")}
        loads = ", ".join(r["loadavg"].split()[0] for r in rs)
        moved = [r for r in rs if r.get("role_after") not in (None, kind)]
        if moved:
            loads += "; the node's role changed in " + ", ".join(
                f"run {rs.index(r)} (now {r['role_after']})" for r in moved)
        kinds = fmt_failures(rs)
        print(f"| {label} | {HOW.get(meta[label]['mode'], '?')} | {kind} | {n} | {m['per_s']:,.0f} "
              f"| {m['p50_ms'] or 0:.2f} | {m['p99_ms'] or 0:.2f} | {m['errors']:.0f}{f' ({kinds})' if kinds else ''} "
              f"| {len(rs)} ({loads}) |")
    # dns-node against the better anchor at each level, per cluster size and target.
    lines = []
    for (label, kind, n), rs in results.items():
        if meta[label]["system"] != "dns-node":
            continue
        ours = b.median([r["per_s"] for r in rs])
        ours_p99 = b.median([r["p99_ms"] for r in rs])
        parts = []
        for (olabel, okind, on), ors in results.items():
            if on != n or meta[olabel]["system"] == "dns-node" or okind not in (kind, "primary"):
                continue
            theirs = b.median([r["per_s"] for r in ors])
            theirs_p99 = b.median([r["p99_ms"] for r in ors])
            if theirs and ours_p99 is not None and theirs_p99:
                parts.append(f"{ours / theirs:.2f} x {olabel} ({okind}), p99 {ours_p99:.2f} vs {theirs_p99:.2f} ms")
        if parts:
            lines.append(f"- {label}, client to the {kind}, {n} in flight: " + "; ".join(parts))
    if lines:
        print("\ncommitted/s of dns-node over the anchor's (the same kind of node where the anchor has one):")
        print("\n".join(lines))
    print()


def print_propagation(prop, args):
    print("| propagation | client talks to | load | samples | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
          "| not seen within 10 s | 1-min load avg start -> end; CPU busy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in prop:
        xs = row["samples"]
        ok = [t for t in (sample_total(x) for x in xs) if t is not None]
        load = row["load"] + (f" ({row['load_qps_achieved']:,.0f} q/s answered)" if row["load"] != "idle" else "")
        f = lambda v: f"{v:.2f}" if v is not None else "-"  # noqa: E731
        print(f"| {row['what']} | {row['kind']} | {load} | {len(xs)} | {f(pctl(ok, 50))} | {f(pctl(ok, 90))} "
              f"| {f(pctl(ok, 99))} | {f(pctl(ok, 99.9))} | {f(max(ok) if ok else None)} | {len(xs) - len(ok)} "
              f"| {row['loadavg_start'].split()[0]} -> {row['loadavg_end'].split()[0]}; {row['cpu_busy_pct']:.0f}% |")
    print("\nThe slowest samples: ms from the acknowledgement to each node answering the new record (the last "
          "marked *), and when that node last answered without it (so the client's own pauses show):\n")
    for row in prop:
        xs = [(i, x) for i, x in enumerate(row["samples"]) if x["nodes"]]
        xs.sort(key=lambda ix: -(sample_total(ix[1]) if sample_total(ix[1]) is not None else float("inf")))
        print(f"- {row['what']}, client to the {row['kind']}, {row['load']}:")
        for i, x in xs[:args.tail]:
            total = sample_total(x)
            last = max(range(len(x["nodes"])), key=lambda j: x["nodes"][j] if x["nodes"][j] is not None else 1e9)
            def node_text(j):
                name = f"{'*' if j == last else ''}{row['names'][j]}"
                if x["nodes"][j] is None:
                    return f"{name} not seen"
                before = x["not_yet"][j]
                return f"{name} {x['nodes'][j]:.2f}" + (f" (not yet at {before:.2f})" if before is not None else "")
            per = ", ".join(node_text(j) for j in range(len(x["nodes"])))
            print(f"  - sample {i}: {total:.2f} ms" if total is not None else f"  - sample {i}: not seen",
                  f"(ack took {x['ack_ms']:.2f} ms); last {row['names'][last]}; {per}")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", default="dns-node,knot,etcd")
    ap.add_argument("--inflight", default="1,10,100")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--max-ops", type=int, default=50000, help="cap on changes per level")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--target", choices=("leader", "follower", "both"), default="both",
                    help="which node the clients talk to, found before every level (dns-node and etcd; "
                         "Knot has one primary)")
    ap.add_argument("--nodes", default="3", help="dns-node cluster sizes, e.g. 3,5,7: levels and propagation "
                                                 "are repeated for each")
    ap.add_argument("--prop-samples", type=int, default=1000, help="dns-node propagation samples per row (0: skip)")
    ap.add_argument("--knot-prop-samples", type=int, default=20,
                    help="Knot propagation samples per row (0: skip); each takes about 1 s, Knot's NOTIFY/IXFR delay")
    ap.add_argument("--load", nargs="?", const="both", default="idle", choices=("idle", "loaded", "both"),
                    help="propagation idle, under a background query load against every node, or both "
                         "(--load alone: both)")
    ap.add_argument("--load-qps", type=int, default=2000, help="background queries/s per node under --load")
    ap.add_argument("--load-max-seconds", type=int, default=600,
                    help="each background dnsperf stops by itself after this long")
    ap.add_argument("--tail", type=int, default=5, help="slowest propagation samples to print per row")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    try:
        sizes = [int(x) for x in args.nodes.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"--nodes: expected cluster sizes like 3,5,7, got {args.nodes!r}")
    if not sizes or any(n < 1 for n in sizes):
        raise SystemExit(f"--nodes: every cluster size must be at least 1, got {args.nodes!r}")
    if args.target == "follower" and min(sizes) < 2:
        raise SystemExit("--target follower needs clusters of at least 2 nodes (--nodes)")
    if args.load_qps < 1 or args.load_max_seconds < 1:
        raise SystemExit("--load-qps and --load-max-seconds must be at least 1")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dnsnode-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    zone = workdir / "update.zone"
    write_zone(zone)
    mach = b.machine()
    levels = [int(x) for x in args.inflight.split(",")]
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    for name in names:
        if name not in ("dns-node", "knot", "etcd"):
            raise SystemExit(f"unknown system {name}")
    kinds = ["leader", "follower"] if args.target == "both" else [args.target]
    load_modes = {"idle": [False], "loaded": [True], "both": [False, True]}[args.load]

    def start(name, size, secondaries=0):
        if name == "dns-node":
            return DnsNodeCluster(workdir, zone, size)
        if name == "knot":
            return KnotPrimary(workdir, zone, secondaries=secondaries)
        return EtcdCluster(workdir)

    results, meta, prop = {}, {}, []
    for name in names:
        for size in (sizes if name == "dns-node" else [3]):
            b.log(f"{name}: starting" + (f" {size} nodes" if name == "dns-node" else ""))
            system = start(name, size)
            label = system.label
            its_kinds = ["primary"] if name == "knot" else kinds
            try:
                system.aim("leader")
                meta[label] = {"system": name, "mode": system.detect_mode()}
                b.log(f"  {label}: changes go by {meta[label]['mode']}")
                for run in range(args.runs):
                    for kind in its_kinds:
                        for n in levels:
                            if meta[label]["mode"] == "stdin" and n > 1:
                                continue  # stdin commands run one at a time
                            node = system.aim("leader" if kind == "primary" else kind, run)
                            r = run_level(system, n, args.seconds, args.max_ops, f"{size}x{run}x{kind[0]}x{n}")
                            r["node"] = node
                            if name == "dns-node":
                                r["leader_before"] = system.leader
                                r["role_after"] = system.role(node)
                            results.setdefault((label, kind, n), []).append(r)
                            b.log(f"  {label} run {run} to the {kind} ({node}), in flight {n}: {r['per_s']:.0f}/s, "
                                  f"p50 {r['p50_ms'] or 0:.2f} ms, p99 {r['p99_ms'] or 0:.2f} ms, "
                                  f"errors {r['errors']} {r['failures'] or ''}, load {r['loadavg']}"
                                  + (f", its role after: {r['role_after']}" if "role_after" in r else ""))
            finally:
                system.stop()
            # Propagation on a fresh cluster: all dns-node's nodes; a Knot primary with two secondaries.
            samples = args.prop_samples if name == "dns-node" else args.knot_prop_samples
            if not samples or name == "etcd":
                continue
            system = start(name, size, secondaries=2)
            try:
                what = (f"{system.label}: ack to all {size} nodes answering" if name == "dns-node"
                        else "Knot primary: ack to primary + 2 secondaries answering (NOTIFY, IXFR)")
                system.aim("leader")
                system.detect_mode()
                for kind in its_kinds:
                    for loaded in load_modes:
                        node = system.aim("leader" if kind == "primary" else kind)
                        tag = f"{name}{size}{kind[0]}{int(loaded)}"
                        row = measure_propagation(system, samples, tag, loaded, args, workdir)
                        row.update({"what": what, "system": name, "size": size, "kind": kind, "node": node})
                        prop.append(row)
                        ok = [t for t in (sample_total(x) for x in row["samples"]) if t is not None]
                        b.log(f"  propagation {what}, to the {kind}, {row['load']}: p50 {pctl(ok, 50) or 0:.2f}, "
                              f"p99 {pctl(ok, 99) or 0:.2f}, max {max(ok) if ok else 0:.2f} ms, "
                              f"{len(row['samples']) - len(ok)} not seen")
            finally:
                system.stop()

    print(f"Machine: {mach['nproc']} CPUs, {mach['cpu']}, Linux {mach['kernel']}. {args.seconds:g} s per level "
          f"(at most {args.max_ops} changes), median of {args.runs} runs. Servers and client share the cores. "
          f"The node the clients talk to is found before every level (dns-node: each node's stdin STATUS; "
          f"etcd: /v3/maintenance/status); a follower is expected to forward the change to the leader.\n")
    for label, m in meta.items():
        if m["mode"] == "stdin":
            print(f"**{label}: the node answered UPDATE with NOTIMP, so changes went as stdin `ADD:` lines "
                  f"through the cluster (one at a time): not RFC 2136, no TSIG, only 1 in flight measured.**\n")
    if results:
        print_levels(results, meta, args)
    if prop:
        print_propagation(prop, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": mach, "args": vars(args), "meta": meta,
                       "levels": {"/".join(map(str, k)): v for k, v in results.items()},
                       "propagation": prop}, f, indent=1)


if __name__ == "__main__":
    main()
