"""Shared helpers for the dns-node benchmarks: starting dns-node, knotd, nsd and
the echo floor on loopback high ports, reading a process tree's CPU time and
memory from /proc, running dnsperf and parsing its report.

Every process started here is remembered and stopped by its own PID.
"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
from node_harness import free_port  # noqa: E402,F401  (ports below the ephemeral range, as the tests use)
CLK_TCK = os.sysconf("SC_CLK_TCK")
ZONE_SERIAL = 2026112201


def log(msg):
    print(msg, file=sys.stderr, flush=True)



def machine():
    """nproc, CPU model and load average, for the report."""
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": os.uname().release}


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------- /proc

def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def process_tree(pid):
    """pid and all its descendants (NSD serves from forked children)."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pid):
    """CPU time of pid and its live descendants, in seconds: the sum over
    their threads of /proc/PID/task/TID/schedstat (nanoseconds on CPU, user
    and kernel), or utime+stime from /proc/PID/stat (clock ticks, 10 ms)
    where schedstat is missing. The servers keep their threads for the whole
    run, so no thread's time is lost between the two readings."""
    total = 0.0
    for p in process_tree(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
            ns = 0
            for t in tids:
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    ns += int(f.read().split()[0])
            total += ns / 1e9
            continue
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)
    return total


def memory_kb(pid):
    """(largest VmRSS in pid's tree, sum of Pss over the tree) in KiB. Pss
    splits pages shared between a parent and its forked children, so the sum
    is what the tree really holds."""
    rss = 0
    pss = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = max(rss, int(line.split()[1]))
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


# ---------------------------------------------------------------- DNS probes

def _query_packet(qname, qtype=6, qid=0x4242):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in qname.rstrip(".").split(".")) + b"\0"
    return qid.to_bytes(2, "big") + b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" + wire + qtype.to_bytes(2, "big") + b"\x00\x01"


def answered(port, qname, qtype=6, timeout=0.2):
    """True when the server answers qname/qtype (SOA by default) with NOERROR
    and at least one answer record."""
    pkt = _query_packet(qname, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(pkt, ("127.0.0.1", port))
            data, _ = s.recvfrom(65535)
        except OSError:
            return False
    if len(data) < 12 or data[:2] != pkt[:2]:
        return False
    rcode = data[3] & 0x0F
    ancount = int.from_bytes(data[6:8], "big")
    return (data[2] & 0x80) != 0 and rcode == 0 and ancount >= 1


# ---------------------------------------------------------------- servers

class Server:
    """A server process started by a benchmark; `pid` is the process that was
    exec'd (taskset execs the server, so it is the server's own PID)."""

    def __init__(self, name, argv, port, workdir, ready_zone, env=None, stdin=None, stdout=None):
        self.name, self.argv, self.port, self.workdir, self.ready_zone = name, argv, port, Path(workdir), ready_zone
        self.logpath = self.workdir / f"{name}.log"
        self.log = open(self.logpath, "w")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(argv, stdout=stdout if stdout is not None else self.log,
                                     stderr=self.log, env=env,
                                     stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                     start_new_session=True)
        self.pid = self.proc.pid

    def wait_ready(self, timeout=300.0, poll=0.005, qname=None, qtype=6):
        """Polls qname/qtype (default: the ready zone's SOA) until answered;
        returns seconds from start to that first answer."""
        qname = qname or self.ready_zone
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.logpath}")
            if answered(self.port, qname, qtype, timeout=poll * 4):
                return time.monotonic() - self.t_start
            time.sleep(poll)
        raise RuntimeError(f"{self.name} did not answer {qname} within {timeout}s; see {self.logpath}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def pin(core):
    return ["taskset", "-c", str(core)] if core is not None else []


def dns_node_bin():
    env = os.environ.get("DNSNODE_BIN")
    if env:
        return env
    for d in ("build-bench", "build"):
        p = REPO / d / "src" / "node" / "dns-node"
        if p.exists():
            return str(p)
    raise RuntimeError("dns-node not built: run scripts/bench-*.sh (builds build-bench/) or set DNSNODE_BIN")


def _zone_pairs(zone_origin, zone_file, zones):
    """The (origin, file) pairs a server is configured with: `zones` when
    given (several zones), else the one zone_origin/zone_file."""
    return list(zones) if zones is not None else [(zone_origin, zone_file)]


def start_dns_node(workdir, zone_origin, zone_file, core=0, udp_threads=1, extra_cfg=None, restart=False):
    """zone_file is a zone file or a directory of *.zone files (dns-node's
    -z takes either); zone_origin is the zone whose SOA wait_ready polls.
    restart: start again on the data directory and config of the last start
    in `workdir` (a restart), instead of a fresh one."""
    workdir = Path(workdir) / "dns-node"
    if restart:
        cfg = json.loads((workdir / "cfg.json").read_text())
        port = int(cfg["nodes"]["0"]["query_loc"].rsplit(":", 1)[1])
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        port, raft = free_port(), free_port()
        # RRL off: the load generator is one source sending far more than the
        # default 100 answers per second (Knot and NSD are run without RRL too).
        cfg = {"nodes": {"0": {"query_loc": f"127.0.0.1:{port}", "raft_loc": f"127.0.0.1:{raft}"}},
               "rrl": {"responses_per_second": 0}}
        if udp_threads:
            cfg["udp_threads"] = udp_threads
        if extra_cfg:
            cfg.update(extra_cfg)
        (workdir / "cfg.json").write_text(json.dumps(cfg))
    argv = pin(core) + [dns_node_bin(), "-n", "0", "-c", str(workdir / "cfg.json"), "-z", str(zone_file),
                        "--data-dir", str(workdir / "data")]
    return Server("dns-node", argv, port, workdir, zone_origin)


def start_knot(workdir, zone_origin, zone_file, core=0, one_worker=True, zones=None):
    """zones: (origin, file) pairs to serve instead of zone_origin/zone_file
    alone; zone_origin stays the zone wait_ready polls."""
    workdir = Path(workdir) / "knot"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    port = free_port()
    workers = "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n" if one_worker else ""
    zone_list = "".join(f"  - domain: {o}\n    file: {f}\n" for o, f in _zone_pairs(zone_origin, zone_file, zones))
    conf = workdir / "knot.conf"
    conf.write_text(f"""server:
    listen: 127.0.0.1@{port}
    rundir: {workdir}
{workers}database:
    storage: {workdir}
template:
  - id: default
    storage: {workdir}
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
{zone_list}log:
  - target: stderr
    any: warning
""")
    argv = pin(core) + [shutil.which("knotd") or "/usr/sbin/knotd", "-c", str(conf)]
    return Server("knot", argv, port, workdir, zone_origin)


def start_nsd(workdir, zone_origin, zone_file, core=0, one_worker=True, zones=None):
    """zones: as for start_knot."""
    workdir = Path(workdir) / "nsd"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    port = free_port()
    count = "    server-count: 1\n" if one_worker else ""
    zone_list = "".join(f"zone:\n    name: {o}\n    zonefile: {f}\n" for o, f in _zone_pairs(zone_origin, zone_file, zones))
    conf = workdir / "nsd.conf"
    conf.write_text(f"""server:
    ip-address: 127.0.0.1@{port}
    port: {port}
    username: ""
    chroot: ""
    zonesdir: {workdir}
    pidfile: {workdir}/nsd.pid
    database: ""
    xfrdfile: {workdir}/xfrd.state
    zonelistfile: {workdir}/zone.list
    xfrdir: {workdir}
{count}    verbosity: 0
    # Response rate limiting would drop the benchmark's queries.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
{zone_list}""")
    argv = pin(core) + [shutil.which("nsd") or "/usr/sbin/nsd", "-d", "-c", str(conf)]
    return Server("nsd", argv, port, workdir, zone_origin)


def start_echo(workdir, zone_origin, echo_bin, core=0):
    workdir = Path(workdir) / "echo"
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return Server("echo-floor", pin(core) + [str(echo_bin), str(port)], port, workdir, zone_origin)


# ---------------------------------------------------------------- dnsperf

_num = r"([0-9.]+)"


def parse_dnsperf(text):
    def grab(pattern, cast=float):
        m = re.search(pattern, text)
        return cast(m.group(1)) if m else None

    r = {
        "sent": grab(r"Queries sent:\s+(\d+)", int),
        "completed": grab(r"Queries completed:\s+(\d+)", int),
        "lost": grab(r"Queries lost:\s+(\d+)", int),
        "qps": grab(r"Queries per second:\s+" + _num),
        "avg_lat_s": grab(r"Average Latency \(s\):\s+" + _num),
        "max_lat_s": grab(r"Average Latency \(s\):.*max " + _num),
        "stddev_lat_s": grab(r"Latency StdDev \(s\):\s+" + _num),
        "run_s": grab(r"Run time \(s\):\s+" + _num),
    }
    m = re.search(r"Response codes:\s+(.*)", text)
    r["rcodes"] = m.group(1).strip() if m else ""
    return r


def run_dnsperf(port, queries, seconds, mode="udp", clients=8, outstanding=500, qps_limit=None, core=1,
                verbose_file=None, timeout_s=2):
    argv = pin(core) + ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-l", str(seconds),
                        "-c", str(clients), "-q", str(outstanding), "-m", mode, "-t", str(timeout_s)]
    if qps_limit:
        argv += ["-Q", str(qps_limit)]
    if verbose_file:
        argv += ["-v"]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=seconds + timeout_s + 60)
    if verbose_file:
        Path(verbose_file).write_text(out.stdout)
    res = parse_dnsperf(out.stdout)
    res["argv"] = " ".join(argv)
    if res["completed"] is None:
        raise RuntimeError("dnsperf failed: " + out.stdout[-2000:])
    return res


def latency_percentiles(verbose_text, ps=(50, 99, 99.9)):
    """Percentiles (µs) of the per-query latencies dnsperf -v prints as the
    last field of each '> RCODE name type latency' line."""
    lats = []
    for line in verbose_text.splitlines():
        if line.startswith("> "):
            try:
                lats.append(float(line.rsplit(None, 1)[1]))
            except (ValueError, IndexError):
                pass
    if not lats:
        return {}
    lats.sort()
    return {f"p{p:g}": lats[min(len(lats) - 1, int(len(lats) * p / 100))] * 1e6 for p in ps}
