"""Differential test of DNSSEC answers: the zone of test_differential.py,
signed in the test with BIND's dnssec-signzone twice (example.com. with NSEC,
example.org. with NSEC3, a salt, one extra iteration and Opt-Out), is served
by Knot DNS, NSD and the server under test, and every query is asked with DO
set. Knot is the reference; NSD is compared with the allowances documented in
test_differential.py. Besides that file's comparison, the DO bit must be
echoed (RFC 3225 §3) and, with DO clear, no DNSSEC record may appear.

What the corpus covers, per zone: positive answers with their RRSIGs, CNAME
chains, wildcard answers (with the proof that the name itself does not
exist) and wildcard NODATA, NODATA at names and at empty non-terminals,
NXDOMAIN, referrals to a secure delegation (DS and its RRSIG) and to an
insecure one (NSEC, or for NSEC3 the Opt-Out closest provable encloser), DS
asked at both delegations (answered from the parent side), and the DNSSEC
types themselves (DNSKEY, NSEC3PARAM, NSEC).

Run (from the repository root, after building):
    DNSNODE_BIN=build/tests/integration/differential/dns_responder_probe \\
        /usr/bin/python3 -m pytest -q tests/integration/differential/test_dnssec_differential.py
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_differential as base  # noqa: E402

ZONES = {"example.com.": "nsec", "example.org.": "nsec3"}
SECURE_DS_DIGEST = "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"

# A secure delegation (with DS) beside the insecure one ("sub") of the base zone.
EXTRA = f"""secure      NS    ns.secure
ns.secure   A     192.0.2.201
secure      DS    20326 13 2 {SECURE_DS_DIGEST}
"""

TYPES = ["A", "AAAA", "NS", "SOA", "MX", "TXT", "CNAME", "DS", "DNSKEY", "NSEC3PARAM", "NSEC"]
EXTRA_NAMES = ["secure.example.com.", "ns.secure.example.com.", "host.secure.example.com.",
               "nothere.wild.example.com.", "a.nothere.example.com.", "zzz.example.com.", "0.example.com."]


def names():
    base_names = [n for n in base.NAMES if n.lower().endswith("example.com.")] + EXTRA_NAMES
    out = []
    for zone in ZONES:
        out += [n[: -len("example.com.")] + zone if n.lower().endswith("example.com.") else n for n in base_names]
    return out


def zone_text(zone):
    return (base.ZONE_TEXT + EXTRA).replace("example.com.", zone)


def sign(workdir, zone, mode):
    """Signs zone.<zone> in workdir with a fresh ECDSA P-256 KSK and ZSK."""
    src = workdir / f"{zone}unsigned"
    src.write_text(zone_text(zone))
    keys = workdir / f"keys-{zone}"
    keys.mkdir()
    for extra in (["-f", "KSK"], []):
        subprocess.run(["dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", *extra, "-K", str(keys), zone],
                       check=True, capture_output=True)
    out = workdir / f"{zone}signed"
    argv = ["dnssec-signzone", "-S", "-K", str(keys), "-o", zone, "-f", str(out), "-O", "full"]
    if mode == "nsec3":
        argv += ["-3", "AABBCCDD", "-H", "1", "-A"]
    subprocess.run(argv + [str(src)], check=True, capture_output=True, cwd=workdir)
    return out


def start_knot(workdir, files):
    port = base.free_port()
    d = workdir / "knot"
    d.mkdir()
    zones = "".join(f"  - domain: {z}\n    file: {f}\n" for z, f in files.items())
    (d / "knot.conf").write_text(f"""server:
    listen: 127.0.0.1@{port}
    rundir: {d}
database:
    storage: {d}
template:
  - id: default
    storage: {d}
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
{zones}log:
  - target: stderr
    any: warning
""")
    return base.Server("knotd", [shutil.which("knotd") or "/usr/sbin/knotd", "-c", str(d / "knot.conf")], port, workdir)


def start_nsd(workdir, files):
    port = base.free_port()
    d = workdir / "nsd"
    d.mkdir()
    zones = "".join(f"zone:\n    name: {z}\n    zonefile: {f}\n" for z, f in files.items())
    (d / "nsd.conf").write_text(f"""server:
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
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
{zones}""")
    return base.Server("nsd", [shutil.which("nsd") or "/usr/sbin/nsd", "-d", "-c", str(d / "nsd.conf")], port, workdir)


def start_under_test(workdir, files):
    port = base.free_port()
    conf = workdir / "dns-config.json"
    conf.write_text(
        '{"nodes": {"0": {"query_loc": "127.0.0.1:%d", "raft_loc": "127.0.0.1:%d"}},'
        ' "cluster": {"secret": "differential-test-secret-0123456789"},'
        # RRL off, as for NSD: the burst of queries must all be answered.
        ' "rrl": {"responses_per_second": 0}}' % (port, base.free_port()))
    argv = [str(base.server_under_test_path()), "-n", "0", "-c", str(conf), "--data-dir", str(workdir / "data")]
    for f in files.values():
        argv += ["-z", str(f)]
    return base.Server("under-test", argv, port, workdir)


def wait_ready(server, timeout=30.0):
    import time
    deadline = time.monotonic() + timeout
    pending = set(ZONES)
    while pending and time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.label} exited with {server.proc.returncode}; see {server.log.name}")
        for zone in list(pending):
            try:
                r = dns.message.make_query(zone, "DNSKEY")
                resp = server.query(r)
                if resp.rcode() == 0 and resp.answer:
                    pending.discard(zone)
            except Exception:  # not listening yet, or zone not loaded
                pass
        time.sleep(0.1)
    if pending:
        raise RuntimeError(f"{server.label} did not serve {sorted(pending)} within {timeout}s; see {server.log.name}")


@pytest.fixture(scope="module")
def servers():
    for tool in ("knotd", "dnssec-signzone", "dnssec-keygen"):
        if not (shutil.which(tool) or Path("/usr/sbin", tool).exists()):
            pytest.skip(f"{tool} is not installed")
    if not base.server_under_test_path().exists():
        pytest.skip(f"{base.server_under_test_path()} not built (set DNSNODE_BIN)")
    tmp = tempfile.TemporaryDirectory(prefix="dnsnode-dnssec-diff-")
    workdir = Path(tmp.name)
    files = {zone: sign(workdir, zone, mode) for zone, mode in ZONES.items()}
    started = {}
    try:
        started["knot"] = start_knot(workdir, files)
        if shutil.which("nsd") or Path("/usr/sbin/nsd").exists():
            started["nsd"] = start_nsd(workdir, files)
        started["ours"] = start_under_test(workdir, files)
        for s in started.values():
            wait_ready(s)
        yield started
    finally:
        for s in started.values():
            s.stop()
        if os.environ.get("DNSNODE_KEEP_TMP"):
            print(f"kept {workdir}")
        else:
            tmp.cleanup()


DNSSEC_TYPES = {dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3, dns.rdatatype.DS,
                dns.rdatatype.DNSKEY, dns.rdatatype.NSEC3PARAM}


def rrset_key(rrset):
    """As test_differential's, with the type an RRSIG RRset covers."""
    rdatas = frozenset(rd.to_digestable(dns.name.root) for rd in rrset)
    covers = dns.rdatatype.to_text(rrset.covers) if rrset.rdtype == dns.rdatatype.RRSIG else ""
    return (rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype) + (f"({covers})" if covers else ""),
            rrset.ttl, rdatas)


def summary(resp):
    return {
        "rcode": dns.rcode.to_text(resp.rcode()),
        "flags": tuple(f for f in base.FLAGS if resp.flags & dns.flags.from_text(f)),
        "answer": frozenset(rrset_key(r) for r in resp.answer),
        "authority": frozenset(rrset_key(r) for r in resp.authority),
        "additional": frozenset(rrset_key(r) for r in resp.additional),
    }


def compare(ref, got, qname, qtype, allow_nsd=False):
    """Differences between a reference answer and another, as strings.
    Documented allowances against NSD (Knot is compared strictly):
      - it adds the apex NS RRset, and with DO its RRSIG, to the authority
        section of positive answers;
      - qtype NSEC is not compared: NSD answers it like any type, following a
        CNAME in an NSEC3 zone and repeating a wildcard's NSEC as a proof;
      - a query for a wildcard owner itself ("*.wild") is compared without its
        authority section: NSD adds the NSEC3 proofs of a wildcard expansion.
    """
    if allow_nsd and qtype == "NSEC":
        return []
    a, b = summary(ref), summary(got)
    diffs = []
    for k in ("rcode", "flags"):
        if a[k] != b[k]:
            diffs.append(f"{k}: reference {a[k]} vs {b[k]}")
    if "TC" in a["flags"] and "TC" in b["flags"]:
        return diffs
    if a["answer"] != b["answer"]:
        diffs.append(f"answer: reference {base.show(a['answer'])} vs {base.show(b['answer'])}")
    auth_a, auth_b = a["authority"], b["authority"]
    if allow_nsd and qname.startswith("*."):
        auth_b = auth_a
    if allow_nsd and a["rcode"] == "NOERROR" and a["answer"]:
        zone = next(z for z in ZONES if qname.lower().endswith(z))
        apex_ns = {k for k in auth_b if k[0] == zone and k[1] in ("NS", "RRSIG(NS)")}
        if not auth_a & apex_ns:
            auth_b = auth_b - apex_ns
    if auth_a != auth_b:
        diffs.append(f"authority: reference {base.show(auth_a)} vs {base.show(auth_b)}")
    add_a, add_b = a["additional"], b["additional"]
    if not (add_a <= add_b or add_b <= add_a):
        diffs.append(f"additional: reference {base.show(add_a)} vs {base.show(add_b)} (neither contains the other)")
    return diffs


def corpus():
    return [(n, t) for n in names() for t in TYPES]


def ask(server, qname, qtype, do):
    q = dns.message.make_query(qname, qtype, use_edns=0, payload=1232, want_dnssec=do)
    return server.query(q)


def run_diff(ref, other, allow_nsd=False):
    report = []
    for qname, qtype in corpus():
        r1, r2 = ask(ref, qname, qtype, True), ask(other, qname, qtype, True)
        diffs = compare(r1, r2, qname, qtype, allow_nsd)
        for who, r in ((ref.label, r1), (other.label, r2)):
            if not r.ednsflags & dns.flags.DO:
                diffs.append(f"{who} did not echo DO (RFC 3225 §3)")
        if diffs:
            report.append(f"{qname} {qtype} (DO):\n    " + "\n    ".join(diffs))
    return report


def test_signed_answers_match_knot(servers):
    report = run_diff(servers["knot"], servers["ours"])
    assert not report, f"{len(report)} answers differ from Knot DNS:\n" + "\n".join(report)


def test_signed_answers_match_nsd_with_documented_allowances(servers):
    if "nsd" not in servers:
        pytest.skip("nsd is not installed")
    report = run_diff(servers["ours"], servers["nsd"], allow_nsd=True)
    assert not report, f"{len(report)} answers differ from NSD:\n" + "\n".join(report)


def test_knot_and_nsd_differ_only_as_documented_on_signed_zones(servers):
    """Checks the harness itself: the allowances are all it takes."""
    if "nsd" not in servers:
        pytest.skip("nsd is not installed")
    report = run_diff(servers["knot"], servers["nsd"], allow_nsd=True)
    assert not report, f"{len(report)} undocumented Knot/NSD differences:\n" + "\n".join(report)


def test_without_do_no_dnssec_records_are_added(servers):
    """RFC 4035 §3.1: RRSIG, NSEC and NSEC3 only when DO is set (unless asked for)."""
    bad = []
    for qname, qtype in corpus():
        r = ask(servers["ours"], qname, qtype, False)
        for section in (r.answer, r.authority, r.additional):
            for rrset in section:
                if rrset.rdtype in DNSSEC_TYPES and dns.rdatatype.to_text(rrset.rdtype) != qtype:
                    bad.append(f"{qname} {qtype}: {rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}")
        if r.ednsflags & dns.flags.DO:
            bad.append(f"{qname} {qtype}: DO set in a response to a query without it")
    assert not bad, "DNSSEC records without DO:\n" + "\n".join(bad)
