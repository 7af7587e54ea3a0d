#!/usr/bin/env python3
"""Update benchmark: committed changes per second and their latency from N
concurrent clients, and propagation from acknowledgement to every node.

Systems (all on loopback, fsync on):
- dns-node: a 3-node cluster. Changes are RFC 2136 UPDATEs signed with TSIG
  (hmac-sha256) over TCP when the node answers them; while the node answers
  UPDATE with NOTIMP, changes go as stdin `ADD:` lines to node 0 instead
  (one in flight: stdin commands run one at a time), and the report says so.
- knot: knotd as a single primary accepting the same signed UPDATEs (TSIG key
  and ACL), journal on (LMDB, synced).
- etcd: a 3-member etcd cluster taking puts of the same size through the v3
  HTTP/JSON gateway (POST /v3/kv/put) on keep-alive connections.

Each level (1, 10, 100 in flight) runs --seconds (and at most --max-ops
changes); the report gives the median over --runs of committed changes/s and
of p50/p99 latency. Propagation: one change at a time, the time from the
acknowledgement to every node answering the new record (dns-node's three
nodes; a Knot primary with two Knot secondaries via NOTIFY and IXFR).
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import random
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


def udp_answers(sock, port, qname, qtype=1):
    """One UDP query; True if answered NOERROR with an answer."""
    pkt = b._query_packet(qname, qtype, qid=random.randrange(65536))
    try:
        sock.sendto(pkt, ("127.0.0.1", port))
        data, _ = sock.recvfrom(65535)
    except OSError:
        return False
    return len(data) >= 12 and data[:2] == pkt[:2] and (data[3] & 0xF) == 0 and data[6:8] != b"\0\0"


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
    label = "dns-node (3 nodes)"

    def __init__(self, workdir, zone, size=3):
        self.dir = Path(workdir) / "dns-node-cluster"
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
        for i in range(size):
            argv = [b.dns_node_bin(), "-n", str(i), "-c", str(self.dir / "cfg.json"), "-z", str(zone),
                    "--data-dir", str(self.dir / f"data{i}")]
            self.servers.append(b.Server(f"dns-node{i}", argv, self.qports[i], self.dir, ORIGIN,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE))
        for s in self.servers:
            s.wait_ready(timeout=60, poll=0.05)
        self.update_port = self.qports[0]
        self.mode = None
        self.stdin_lock = threading.Lock()

    def detect_mode(self):
        """'dns' if node 0 commits a signed UPDATE, else 'stdin'."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.update_port), timeout=5) as s:
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

    def command(self, line):
        """Sends one stdin command to node 0 and returns its reply line."""
        s = self.servers[0]
        with self.stdin_lock:
            s.proc.stdin.write(f"{line}\n".encode())
            s.proc.stdin.flush()
            return self._stdout_line()

    def stdin_add(self, owner, ip):
        return self.command(f"ADD: {owner}.{ORIGIN} 300 A {ip}").startswith("OK")

    def node0_role(self):
        """Node 0's Raft role now ('leader', 'follower', ...): every change goes to node 0,
        and a follower forwards it to the leader, which costs a round trip more."""
        line = self.command("STATUS")
        if not line.startswith("OK "):
            return "unknown"
        return json.loads(line[3:]).get("role", "unknown")

    def _stdout_line(self):
        # Stdout carries only the replies to stdin commands (logs go to stderr).
        line = self.servers[0].proc.stdout.readline()
        if not line:
            raise ConnectionError("dns-node closed its stdout")
        return line.decode().strip()

    def client(self):
        if self.mode == "dns":
            return DnsUpdateClient(self.update_port)
        return StdinClient(self)

    def ports_to_watch(self):
        return self.qports

    def stop(self):
        for s in self.servers:
            s.stop()


class StdinClient:
    def __init__(self, cluster):
        self.c = cluster

    def put(self, owner, ip, seq):
        return self.c.stdin_add(owner, ip)

    def close(self):
        pass


class DnsUpdateClient:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def put(self, owner, ip, seq):
        reply = tcp_exchange(self.sock, signed_update(seq & 0xFFFF, f"{owner}.{ORIGIN}", ip))
        return (reply[3] & 0xF) == 0

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

    def detect_mode(self):
        return "dns"

    def client(self):
        return DnsUpdateClient(self.port)

    def ports_to_watch(self):
        return [self.port] + self.sec_ports

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

    def detect_mode(self):
        return "http"

    def client(self):
        # Spread clients over the members, as etcd clients balance.
        return EtcdClient(random.choice(self.client_ports))

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

    def put(self, owner, ip, seq):
        body = json.dumps({"key": base64.b64encode(owner.encode()).decode(),
                           "value": base64.b64encode((ip + self.VALUE).encode()).decode()})
        self.conn.request("POST", "/v3/kv/put", body=body, headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        r.read()
        return r.status == 200

    def close(self):
        self.conn.close()


# ---------------------------------------------------------------- load

def run_level(system, inflight, seconds, max_ops, tag):
    """`inflight` threads, each with its own connection, one change at a time."""
    lat, errors = [], [0]
    lock = threading.Lock()
    clients = [system.client() for _ in range(inflight)]
    start = threading.Barrier(inflight + 1)
    per_thread = max(1, max_ops // inflight)
    deadline_box = [0.0]

    def worker(ti, cl):
        mine, errs = [], 0
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
            if ok:
                mine.append(time.monotonic() - t0)
            else:
                errs += 1
        with lock:
            lat.extend(mine)
            errors[0] += errs

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
    return {"inflight": inflight, "committed": len(lat), "errors": errors[0], "seconds": elapsed,
            "per_s": len(lat) / elapsed if elapsed else 0, "p50_ms": pct(50), "p99_ms": pct(99),
            "loadavg": b.loadavg()}


def propagation(system, samples, tag, timeout=10.0):
    """Times from each change's acknowledgement to every watched port answering it (ms)."""
    cl = system.client()
    ports = system.ports_to_watch()
    socks = []
    for _ in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.05)
        socks.append(s)
    out = []
    try:
        for i in range(samples):
            owner = f"p{tag}-{i}"
            if not cl.put(owner, f"10.200.{i >> 8 & 255}.{i & 255}", 60000 + i):
                continue
            t_ack = time.monotonic()
            pending = set(range(len(ports)))
            while pending and time.monotonic() - t_ack < timeout:
                for j in list(pending):
                    if udp_answers(socks[j], ports[j], f"{owner}.{ORIGIN}"):
                        pending.discard(j)
            if not pending:
                out.append((time.monotonic() - t_ack) * 1e3)
            else:
                out.append(None)
    finally:
        cl.close()
        for s in socks:
            s.close()
    return out


def pctl(xs, p):
    xs = sorted(x for x in xs if x is not None)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", default="dns-node,knot,etcd")
    ap.add_argument("--inflight", default="1,10,100")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--max-ops", type=int, default=50000, help="cap on changes per level")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prop-samples", type=int, default=20, help="propagation samples per system (0: skip)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dnsnode-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    zone = workdir / "update.zone"
    write_zone(zone)
    mach = b.machine()
    levels = [int(x) for x in args.inflight.split(",")]
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    results, prop, modes, labels = {}, {}, {}, {}
    for name in names:
        b.log(f"{name}: starting")
        if name == "dns-node":
            system = DnsNodeCluster(workdir, zone)
        elif name == "knot":
            system = KnotPrimary(workdir, zone)
        elif name == "etcd":
            system = EtcdCluster(workdir)
        else:
            raise SystemExit(f"unknown system {name}")
        labels[name] = system.label
        try:
            modes[name] = system.detect_mode()
            b.log(f"  {name}: changes go by {modes[name]}")
            for run in range(args.runs):
                for n in levels:
                    if modes[name] == "stdin" and n > 1:
                        continue  # stdin commands run one at a time
                    r = run_level(system, n, args.seconds, args.max_ops, f"{run}x{n}")
                    if name == "dns-node":
                        r["node0_role"] = system.node0_role()
                    results.setdefault((name, n), []).append(r)
                    b.log(f"  {name} run {run} in flight {n}: {r['per_s']:.0f}/s, p50 {r['p50_ms'] or 0:.2f} ms, "
                          f"p99 {r['p99_ms'] or 0:.2f} ms, errors {r['errors']}, load {r['loadavg']}"
                          + (f", node 0 {r['node0_role']}" if "node0_role" in r else ""))
        finally:
            system.stop()
    # Propagation: dns-node's 3 nodes; a Knot primary with two secondaries.
    if args.prop_samples:
        for name in ("dns-node", "knot"):
            if name not in names:
                continue
            system = DnsNodeCluster(workdir, zone) if name == "dns-node" else KnotPrimary(workdir, zone, secondaries=2)
            try:
                system.detect_mode()
                prop[name] = propagation(system, args.prop_samples, name)
                ok = [x for x in prop[name] if x is not None]
                b.log(f"  propagation {name}: p50 {pctl(ok, 50)}, p99 {pctl(ok, 99)} ms, "
                      f"{len(prop[name]) - len(ok)} not seen in time")
            finally:
                system.stop()

    print(f"Machine: {mach['nproc']} CPUs, {mach['cpu']}, Linux {mach['kernel']}. {args.seconds:g} s per level "
          f"(at most {args.max_ops} changes), median of {args.runs} runs. Servers and client share both cores.\n")
    for name in names:
        if modes.get(name) == "stdin":
            print(f"**{name}: the node answered UPDATE with NOTIMP, so changes went as stdin `ADD:` lines to node 0 "
                  f"through the cluster (one at a time): not RFC 2136, no TSIG, only 1 in flight measured.**\n")
    print("| system | how | in flight | committed/s | p50 ms | p99 ms | errors | runs (1-min load avg) |")
    print("|---|---|---|---|---|---|---|---|")
    how = {"dns": "RFC 2136 + TSIG over TCP", "stdin": "stdin ADD: (cluster)", "http": "v3 HTTP/JSON put"}
    for name in names:
        for n in levels:
            rs = results.get((name, n))
            if not rs:
                print(f"| {labels[name]} | {how.get(modes.get(name), '?')} | {n} | - | - | - | - | not measured |")
                continue
            m = {k: b.median([r[k] for r in rs]) for k in ("per_s", "p50_ms", "p99_ms", "errors")}
            loads = ", ".join(r["loadavg"].split()[0] for r in rs)
            if name == "dns-node":
                led = sum(1 for r in rs if r.get("node0_role") == "leader")
                loads += f"; node 0 led {led} of {len(rs)}"
            print(f"| {labels[name]} | {how[modes[name]]} | {n} | {m['per_s']:,.0f} | {m['p50_ms']:.2f} "
                  f"| {m['p99_ms']:.2f} | {m['errors']:.0f} | {len(rs)} ({loads}) |")
    for n in levels:
        ours = results.get(("dns-node", n))
        if not ours:
            continue
        o = b.median([r["per_s"] for r in ours])
        for other in ("knot", "etcd"):
            if results.get((other, n)):
                t = b.median([r["per_s"] for r in results[(other, n)]])
                print(f"\n{n} in flight: dns-node / {other} committed/s = {o / t:.2f}", end="")
    print("\n")
    if prop:
        print("| propagation | samples | p50 ms | p99 ms | max ms | not seen within 10 s |")
        print("|---|---|---|---|---|---|")
        for name, xs in prop.items():
            ok = [x for x in xs if x is not None]
            what = ("dns-node, ack from node 0 to all 3 nodes answering" if name == "dns-node"
                    else "Knot primary ack to primary + 2 secondaries answering (NOTIFY, IXFR)")
            print(f"| {what} | {len(xs)} | {pctl(ok, 50) or 0:.1f} | {pctl(ok, 99) or 0:.1f} "
                  f"| {max(ok) if ok else 0:.1f} | {len(xs) - len(ok)} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": mach, "args": vars(args), "modes": modes,
                       "levels": {f"{k[0]}/{k[1]}": v for k, v in results.items()}, "propagation": prop}, f, indent=1)


if __name__ == "__main__":
    main()
