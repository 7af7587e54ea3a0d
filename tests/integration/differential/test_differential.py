"""Differential test: the server under test answers a few hundred queries on a
zone that exercises every lookup rule; Knot DNS is the reference and NSD a
second opinion. Differences are listed query by query.

Run (from the repository root, after building):
    DNSNODE_BIN=build/tests/integration/differential/dns_responder_probe \
        /usr/bin/python3 -m pytest -q tests/integration/differential
DNSNODE_BIN defaults to build/src/node/dns-node. The binary is started the way
dns-node is: `BIN -n 0 -c dns-config.json -z zone.db --data-dir DIR` (extra
arguments from DNSNODE_ARGS); it must answer on the config's query_loc.

What is compared, per query (UDP with EDNS, UDP without EDNS, TCP):
  rcode; the AA, TC, RD and RA flags; the answer and authority sections as
  sets of RRsets (owner, type, TTL, rdata; names without regard to case), and
  the additional section as a set of RRsets of which one side's must contain
  the other's (servers differ in how much optional data they add). When both
  sides set TC, only the header is compared. The question must be echoed with
  its case.
Documented allowances against NSD only (Knot is compared strictly):
  - NSD adds the apex NS RRset to the authority section of positive answers
    (Knot and dns-node send minimal responses);
  - qtype ANY (RFC 8482 §4.1): each server returns one RRset of the name,
    but NSD picks a different one; only "one RRset owned by the name" is compared;
  - qclass ANY is not queried (NSD clears AA there, Knot does not).
"""

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import sys
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from node_harness import free_port  # noqa: E402
ZONE = "example.com."
SERIAL = 2024010101

ZONE_TEXT = f"""$ORIGIN {ZONE}
$TTL 3600
@           IN SOA ns1.example.com. hostmaster.example.com. ( {SERIAL} 7200 3600 1209600 300 )
@           NS    ns1
@           NS    ns2.example.com.
@           MX    10 mail
@           MX    20 mail2.example.net.
@           A     192.0.2.1
@           AAAA  2001:db8::1
@           TXT   "v=spf1 -all"
@           CAA   0 issue "ca.example.net"
ns1         A     192.0.2.53
ns2         A     192.0.2.54
ns2         AAAA  2001:db8::54
mail        A     192.0.2.25
mail        AAAA  2001:db8::25
_sip._tcp   SRV   0 5 5060 sipserver
sipserver   AAAA  2001:db8::5060
1.2.0.192   PTR   www.example.com.
www         CNAME web
web         A     192.0.2.80
web         TXT   "web server" "second string"
chain1      CNAME chain2
chain2      CNAME www
loop1       CNAME loop2
loop2       CNAME loop1
self        CNAME self
out         CNAME www.example.net.
tonx        CNAME nothere
tonodata    CNAME ns1
MixedCase   A     192.0.2.77
*.wild      A     192.0.2.99
*.wild      TXT   "wildcard"
*.wc        CNAME web
a.b.c       A     192.0.2.7
*.c         A     192.0.2.8
deep.x.y.z  TXT   "deep name"
sub         NS    ns.sub
sub         NS    ns.other.net.
ns.sub      A     192.0.2.200
tocut       CNAME host.sub
towild      CNAME q.wild
big         TXT   "{'a' * 200}"
big         TXT   "{'b' * 200}"
big         TXT   "{'c' * 200}"
"""

# Names to ask about: every owner, every empty non-terminal, names that match
# wildcards, names that do not exist, names below the delegation, case variants.
NAMES = [
    "example.com.", "ns1.example.com.", "ns2.example.com.", "mail.example.com.",
    "_sip._tcp.example.com.", "_tcp.example.com.", "sipserver.example.com.",
    "1.2.0.192.example.com.", "2.0.192.example.com.",
    "www.example.com.", "web.example.com.", "chain1.example.com.", "chain2.example.com.",
    "loop1.example.com.", "self.example.com.", "out.example.com.", "tonx.example.com.",
    "tonodata.example.com.", "mixedcase.example.com.",
    "wild.example.com.", "*.wild.example.com.", "host.wild.example.com.", "a.b.wild.example.com.",
    "wc.example.com.", "x.wc.example.com.",
    "c.example.com.", "b.c.example.com.", "a.b.c.example.com.", "x.b.c.example.com.",
    "y.c.example.com.", "z.y.c.example.com.",
    "z.example.com.", "y.z.example.com.", "x.y.z.example.com.", "deep.x.y.z.example.com.",
    "sub.example.com.", "ns.sub.example.com.", "host.sub.example.com.", "tocut.example.com.",
    "towild.example.com.", "big.example.com.",
    "nothere.example.com.", "no.such.name.example.com.", "example.org.", "www.example.net.",
    "WWW.Example.COM.", "MiXeDcAsE.ExAmPlE.cOm.", "HOST.WILD.example.com.", "Sub.Example.Com.",
    "eXample.com.", "X.B.C.EXAMPLE.COM.",
]
TYPES = ["A", "AAAA", "NS", "SOA", "MX", "TXT", "CNAME", "SRV", "CAA", "PTR", "DS", "ANY"]
PLAIN_TYPES = ["A", "TXT", "MX", "ANY"]  # asked without EDNS (512-octet limit)
TCP_TYPES = ["A", "TXT", "NS"]



class Server:
    """A DNS server process we started, stopped by its PID."""

    def __init__(self, label, argv, port, workdir, env=None):
        self.label, self.port = label, port
        self.log = open(workdir / f"{label}.log", "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir, env=env)

    def query(self, msg, tcp=False):
        if tcp:
            return dns.query.tcp(msg, "127.0.0.1", port=self.port, timeout=3)
        for attempt in range(3):  # UDP may lose a datagram even on loopback
            try:
                return dns.query.udp(msg, "127.0.0.1", port=self.port, timeout=2, ignore_trailing=True)
            except dns.exception.Timeout:
                if attempt == 2:
                    raise

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        q = dns.message.make_query(ZONE, "SOA")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=0.3)
                if r.rcode() == dns.rcode.NOERROR and r.answer and r.answer[0][0].serial == SERIAL:
                    return
            except Exception:  # not listening yet, or zone not loaded
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.label} did not serve {ZONE} within {timeout}s; see {self.log.name}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_knot(workdir):
    port = free_port()
    (workdir / "knot").mkdir()
    conf = workdir / "knot" / "knot.conf"
    conf.write_text(f"""server:
    listen: 127.0.0.1@{port}
    rundir: {workdir}/knot
database:
    storage: {workdir}/knot
template:
  - id: default
    storage: {workdir}/knot
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: {ZONE}
    file: {workdir}/zone.db
log:
  - target: stderr
    any: warning
""")
    return Server("knotd", [shutil.which("knotd") or "/usr/sbin/knotd", "-c", str(conf)], port, workdir)


def start_nsd(workdir):
    port = free_port()
    d = workdir / "nsd"
    d.mkdir()
    conf = d / "nsd.conf"
    conf.write_text(f"""server:
    ip-address: 127.0.0.1@{port}
    port: {port}
    username: ""
    chroot: ""
    zonesdir: {d}
    pidfile: {d}/nsd.pid
    database: ""
    xfrdfile: {d}/xfrd.state
    zonelistfile: {d}/zone.list
    xfrdir: {d}
    server-count: 1
    verbosity: 0
    # Response rate limiting would drop or truncate our burst of queries.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: {ZONE}
    zonefile: {workdir}/zone.db
""")
    return Server("nsd", [shutil.which("nsd") or "/usr/sbin/nsd", "-d", "-c", str(conf)], port, workdir)


def server_under_test_path():
    return Path(os.environ.get("DNSNODE_BIN", REPO / "build" / "src" / "node" / "dns-node")).resolve()


def start_under_test(workdir):
    port = free_port()
    conf = workdir / "dns-config.json"
    conf.write_text(
        '{"nodes": {"0": {"query_loc": "127.0.0.1:%d", "raft_loc": "127.0.0.1:%d"}},'
        ' "cluster": {"secret": "differential-test-secret-0123456789"},'
        # RRL off, as for NSD above: the burst of queries must all be answered.
        ' "rrl": {"responses_per_second": 0}}' % (port, free_port()))
    argv = [str(server_under_test_path()), "-n", "0", "-c", str(conf), "-z", str(workdir / "zone.db"),
            "--data-dir", str(workdir / "data")]
    argv += shlex.split(os.environ.get("DNSNODE_ARGS", ""))
    return Server("under-test", argv, port, workdir)


@pytest.fixture(scope="module")
def servers():
    if not (shutil.which("knotd") or Path("/usr/sbin/knotd").exists()):
        pytest.skip("knotd is not installed")
    if not server_under_test_path().exists():
        pytest.skip(f"{server_under_test_path()} not built (set DNSNODE_BIN)")
    tmp = tempfile.TemporaryDirectory(prefix="dnsnode-diff-")
    workdir = Path(tmp.name)
    (workdir / "zone.db").write_text(ZONE_TEXT)
    started = {}
    try:
        started["knot"] = start_knot(workdir)
        if shutil.which("nsd") or Path("/usr/sbin/nsd").exists():
            started["nsd"] = start_nsd(workdir)
        started["ours"] = start_under_test(workdir)
        for s in started.values():
            s.wait_ready()
        yield started
    finally:
        for s in started.values():
            s.stop()
        if os.environ.get("DNSNODE_KEEP_TMP"):
            print(f"kept {workdir}")
        else:
            tmp.cleanup()


# --- comparison -------------------------------------------------------------

def rrset_key(rrset):
    """An RRset as a comparable value: names and name-bearing rdata are
    compared without regard to case (RFC 4343), via the canonical form."""
    rdatas = frozenset(rd.to_digestable(dns.name.root) for rd in rrset)
    return (rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype), rrset.ttl, rdatas)


def section(msg_section):
    return frozenset(rrset_key(r) for r in msg_section)


FLAGS = ("AA", "TC", "RD", "RA")


def summary(resp):
    return {
        "rcode": dns.rcode.to_text(resp.rcode()),
        "flags": tuple(f for f in FLAGS if resp.flags & dns.flags.from_text(f)),
        "answer": section(resp.answer),
        "authority": section(resp.authority),
        "additional": section(resp.additional),
    }


def show(rrsets):
    return sorted(f"{n} {ttl} {t} ({len(rds)} rdata)" for n, t, ttl, rds in rrsets)


def compare(ref, got, qname, qtype, allow_nsd=False):
    """Differences between a reference answer and another, as strings."""
    a, b = summary(ref), summary(got)
    diffs = []
    for k in ("rcode", "flags"):
        if a[k] != b[k]:
            diffs.append(f"{k}: reference {a[k]} vs {b[k]}")
    if "TC" in a["flags"] and "TC" in b["flags"]:
        return diffs  # truncated: contents are not comparable
    if qtype == "ANY" and a["rcode"] == "NOERROR" and (a["answer"] or b["answer"]):
        # RFC 8482 §4.1: one RRset of the name.
        if allow_nsd:
            ok = len(a["answer"]) == 1 and len(b["answer"]) == 1 and \
                next(iter(a["answer"]))[0] == next(iter(b["answer"]))[0]
            if not ok:
                diffs.append(f"ANY: reference {show(a['answer'])} vs {show(b['answer'])}")
            return diffs
    if a["answer"] != b["answer"]:
        diffs.append(f"answer: reference {show(a['answer'])} vs {show(b['answer'])}")
    auth_a, auth_b = a["authority"], b["authority"]
    add_a, add_b = a["additional"], b["additional"]
    if allow_nsd and a["rcode"] == "NOERROR" and a["answer"]:
        # NSD (the "got" side) adds the apex NS RRset to positive answers.
        apex_ns = {k for k in auth_b if k[0] == ZONE and k[1] == "NS"}
        if not auth_a & apex_ns:
            auth_b = auth_b - apex_ns
    if auth_a != auth_b:
        diffs.append(f"authority: reference {show(auth_a)} vs {show(auth_b)}")
    if not (add_a <= add_b or add_b <= add_a):
        diffs.append(f"additional: reference {show(add_a)} vs {show(add_b)} (neither contains the other)")
    return diffs


def corpus(mode):
    if mode == "udp-edns":
        return [(n, t) for n in NAMES for t in TYPES]
    if mode == "udp-plain":
        return [(n, t) for n in NAMES for t in PLAIN_TYPES]
    return [(n, t) for n in NAMES for t in TCP_TYPES]


def make_query(qname, qtype, mode):
    use_edns = 0 if mode in ("udp-edns", "tcp") else False
    q = dns.message.make_query(qname, qtype, use_edns=use_edns, payload=1232)
    # make_query sets RD; clear it on half the queries: it must be echoed either way.
    if (len(qname) + len(qtype)) % 2:
        q.flags &= ~dns.flags.RD
    return q


def run_diff(ref, other, mode, allow_nsd=False):
    report = []
    for qname, qtype in corpus(mode):
        q = make_query(qname, qtype, mode)
        tcp = mode == "tcp"
        r1, r2 = ref.query(q, tcp), other.query(q, tcp)
        diffs = compare(r1, r2, qname, qtype, allow_nsd)
        for who, r in ((ref.label, r1), (other.label, r2)):
            if r.question and r.question[0].name.to_text() != dns.name.from_text(qname).to_text():
                diffs.append(f"{who} did not echo the question's case: {r.question[0].name}")
        if diffs:
            report.append(f"{qname} {qtype} ({mode}):\n    " + "\n    ".join(diffs))
    return report


MODES = ["udp-edns", "udp-plain", "tcp"]


@pytest.mark.parametrize("mode", MODES)
def test_server_matches_knot(servers, mode):
    report = run_diff(servers["knot"], servers["ours"], mode)
    assert not report, f"{len(report)} answers differ from Knot DNS:\n" + "\n".join(report)


@pytest.mark.parametrize("mode", MODES)
def test_server_matches_nsd_with_documented_allowances(servers, mode):
    if "nsd" not in servers:
        pytest.skip("nsd is not installed")
    report = run_diff(servers["ours"], servers["nsd"], mode, allow_nsd=True)
    assert not report, f"{len(report)} answers differ from NSD:\n" + "\n".join(report)


@pytest.mark.parametrize("mode", MODES)
def test_knot_and_nsd_differ_only_as_documented(servers, mode):
    """Checks the harness itself: the allowances above are all it takes."""
    if "nsd" not in servers:
        pytest.skip("nsd is not installed")
    report = run_diff(servers["knot"], servers["nsd"], mode, allow_nsd=True)
    assert not report, f"{len(report)} undocumented Knot/NSD differences:\n" + "\n".join(report)


def test_corpus_has_a_few_hundred_queries():
    assert sum(len(corpus(m)) for m in MODES) >= 300
