"""Every record type beyond RFC 1035's (the DNSSEC types, SVCB/HTTPS, TLSA,
SSHFP, NAPTR, LOC, URI, CERT, ...) and the RFC 3597 generic form, through
every way in: a zone file in both formats, stdin ADD/REMOVE, RFC 2136 UPDATE
and the HTTP API. Each record is answered with the same rdata octets NSD
serves for the same zone file, and reads back in the text Knot prints.

Run: DNSNODE_BIN=build/src/node/dns-node /usr/bin/python3 -m pytest -q tests/integration/rrtypes
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from node_harness import DnsNode, config_for, free_port  # noqa: E402

ZONE = "types.example."
KEY_NAME = "types-key."
KEY_SECRET = base64.b64encode(b"a secret for the record type test").decode()

# (owner label, type, presentation as Knot prints it). Names in rdata are
# absolute so that the same text reads in both zone-file formats.
RECORDS = [
    ("ds", "DS", "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118"),
    ("ds", "DS", "20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"),
    ("key", "DNSKEY", "257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="),
    ("sig", "RRSIG", "A 13 3 3600 20240101000000 20231201000000 12345 types.example. dGVzdHNpZ25hdHVyZQ=="),
    ("nsec", "NSEC", "zz.types.example. A NS SOA MX TXT AAAA RRSIG NSEC DNSKEY TYPE65534"),
    ("n3", "NSEC3", "1 1 10 AABBCCDD 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG"),
    ("n3b", "NSEC3", "1 0 0 - 2vptu5timamqttgl4luu9kg21e0aor3s"),
    ("param", "NSEC3PARAM", "1 0 10 AABBCCDD"),
    ("cds", "CDS", "0 0 0 00"),
    ("cdnskey", "CDNSKEY", "0 3 0 AA=="),
    ("csync", "CSYNC", "66 3 A NS AAAA"),
    ("zonemd", "ZONEMD", "2018031500 1 1 FEBE3D4CE2EC2FFA4BA99D46CD69D6D29711E55217057BEE7EB1A7B641A47BA7FED2DD5B97AE499FAFA4F22C6BD647DE"),
    ("svc", "SVCB", "1 . mandatory=alpn,port alpn=h2,h3 port=8443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1"),
    ("svc2", "SVCB", "0 foo.types.example."),
    ("https", "HTTPS", "1 . alpn=h3,h2 no-default-alpn ech=AEP+DQA/"),
    ("_443._tcp", "TLSA", "3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6"),
    ("smime", "SMIMEA", "3 0 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6"),
    ("ssh", "SSHFP", "2 1 123456789ABCDEF67890123456789ABCDEF67890"),
    ("naptr", "NAPTR", '100 10 "S" "SIP+D2U" "!^.*$!sip:customer-service@example.com!" _sip._udp.types.example.'),
    ("loc", "LOC", "52 22 23 N 4 53 32 E -2m 0m 10000m 10m"),
    ("loc2", "LOC", "42 21 54.500 N 71 6 18 W -24.50m 30m 10000m 10m"),
    ("uri", "URI", '10 1 "ftp://ftp1.example.com/public"'),
    ("cert", "CERT", "3 0 0 dGVzdA=="),
    ("pgp", "OPENPGPKEY", "mQINBFit2jsBEADrbl5vjVxYeAE0g0IDYCBpHirv1Sjlqxx5gjtPhb2YhvyDMXjq"),
    ("dname", "DNAME", "target.example.net."),
    ("gen", "TYPE65534", "\\# 4 0A000001"),
]

SOA = f"{ZONE} 3600 IN SOA ns1.{ZONE} host.{ZONE} 1 7200 3600 1209600 300"
NS = f"{ZONE} 3600 IN NS ns1.{ZONE}"
GLUE = f"ns1.{ZONE} 3600 IN A 192.0.2.53"


def master_text():
    lines = [SOA, NS, GLUE] + [f"{label}.{ZONE} 3600 IN {t} {text}" for label, t, text in RECORDS]
    return f"$ORIGIN {ZONE}\n$TTL 3600\n" + "\n".join(lines) + "\n"


def legacy_text():
    # "name TTL TYPE value", every name absolute, '#' comments (docs/zone-files.md).
    lines = ["# the same records in the legacy format",
             f'{ZONE} 3600 SOA ["ns1.{ZONE}", "host.{ZONE}", 1, 7200, 3600, 1209600, 300]',
             f"{ZONE} 3600 NS ns1.{ZONE}", f"ns1.{ZONE} 3600 A 192.0.2.53"]
    lines += [f"{label}.{ZONE} 3600 {t} {text}" for label, t, text in RECORDS]
    return "\n".join(lines) + "\n"


def rdatas(server_port, name, rdtype):
    """The rdata octets of an answer, sorted, as sent on the wire. A name
    owning only NSEC3 records is not a name of the zone (RFC 5155 §7.2.8):
    neither NSD nor dns-node answers for it, so for NSEC3 the HTTP listing
    (text) stands in, and the unit tests check its wire form against Knot's."""
    q = dns.message.make_query(name, rdtype)
    wire = dns.query.udp(q, "127.0.0.1", port=server_port, timeout=3).to_wire()
    r = dns.message.from_wire(wire)
    out = []
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            out += [rd.to_digestable() for rd in rrset]
    return sorted(out)


def start_nsd(workdir, zone_path):
    port = free_port()
    d = os.path.join(workdir, "nsd")
    os.mkdir(d)
    conf = os.path.join(d, "nsd.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
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
remote-control:
    control-enable: no
zone:
    name: {ZONE}
    zonefile: {zone_path}
""")
    proc = subprocess.Popen([shutil.which("nsd") or "/usr/sbin/nsd", "-d", "-c", conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            r = dns.query.udp(dns.message.make_query(ZONE, "SOA"), "127.0.0.1", port=port, timeout=0.3)
            if r.answer:
                return proc, port
        except Exception:  # not up yet
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError("nsd did not start")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """dns-node on the master-format file, dns-node on the legacy one, and NSD."""
    if not (shutil.which("nsd") or os.path.exists("/usr/sbin/nsd")):
        pytest.skip("nsd is not installed")
    work = tmp_path_factory.mktemp("rrtypes")
    master = work / "types.zone"
    master.write_text(master_text())
    legacy = work / "types.txt"
    legacy.write_text(legacy_text())
    started = []
    try:
        nsd, nsd_port = start_nsd(str(work), str(master))
        http_port = free_port()
        cfg = config_for(extra={"tsig_keys": [{"name": KEY_NAME, "algorithm": "hmac-sha256", "secret": KEY_SECRET,
                                                "role": "update"}]})
        cfg["nodes"]["0"]["http_loc"] = f"127.0.0.1:{http_port}"
        (work / "m").mkdir()
        node = DnsNode(work / "m", cfg, [str(master)]).wait_ready()
        started.append(node)
        (work / "l").mkdir()
        legacy_node = DnsNode(work / "l", config_for(), [str(legacy)]).wait_ready()
        started.append(legacy_node)
        node.http_port = http_port
        for n in started:
            wait_for_zone(n)
        yield {"node": node, "legacy": legacy_node, "nsd_port": nsd_port}
    finally:
        for n in started:
            n.stop()
        if "nsd" in locals():
            nsd.terminate()
            nsd.wait(timeout=10)


def wait_for_zone(node, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.query(f"zonemd.{ZONE}", "ZONEMD").answer:
            return
        time.sleep(0.1)
    raise AssertionError(f"zone not served:\n{node.stderr}")


def by_name():
    out = {}
    for label, t, text in RECORDS:
        out.setdefault((f"{label}.{ZONE}", t), []).append(text)
    return out


def eventually(fn, timeout=5.0):
    """fn()'s first truthy value within the timeout, else its last value."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(0.05)
        value = fn()
    return value


def test_zone_file_records_are_answered_as_nsd_answers_them(served):
    mismatches = []
    for (name, t) in by_name():
        if t == "NSEC3":
            continue
        ours = rdatas(served["node"].port, name, t)
        nsd = rdatas(served["nsd_port"], name, t)
        assert nsd, f"NSD has no {name} {t}"
        if ours != nsd:
            mismatches.append(f"{name} {t}: ours {[x.hex() for x in ours]} NSD {[x.hex() for x in nsd]}")
    assert not mismatches, "\n".join(mismatches)


def test_legacy_format_gives_the_same_records(served):
    for (name, t) in by_name():
        if t == "NSEC3":
            assert not served["legacy"].query(name, t).answer, "an NSEC3 owner answered"
            continue
        assert rdatas(served["legacy"].port, name, t) == rdatas(served["node"].port, name, t), f"{name} {t}"


def test_stdin_prints_each_record_as_knot_and_takes_it_back(served):
    node = served["node"]
    for label, t, text in RECORDS:
        name = f"{label}.{ZONE}"
        before = rdatas(node.port, name, t)
        reply = node.command(f"REMOVE: {name} {t} {text}")
        assert reply.startswith("OK"), f"{name} {t}: {reply}"
        reply = node.command(f"ADD: {name} 3600 {t} {text}")
        assert reply.startswith("OK") and text in reply, f"{name} {t}: {reply}"
        if t == "NSEC3":
            assert eventually(lambda: text in listed_data(node, name, t)), f"{name} {t} not listed after ADD"
            continue
        deadline = time.monotonic() + 5
        while rdatas(node.port, name, t) != before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rdatas(node.port, name, t) == before, f"{name} {t} changed after REMOVE and ADD"


def test_update_adds_and_deletes_every_type(served):
    node = served["node"]
    keyring = dns.tsigkeyring.from_text({KEY_NAME: KEY_SECRET})
    for label, t, text in RECORDS:
        if t == "DNAME":
            continue  # a DNAME owner below which names exist is refused; tested elsewhere
        name = f"u-{label}.{ZONE}"
        up = dns.update.UpdateMessage(ZONE, keyring=keyring, keyname=KEY_NAME)
        up.add(name, 300, t, text)
        r = dns.query.tcp(up, "127.0.0.1", port=node.port, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR, f"{t}: {dns.rcode.to_text(r.rcode())}"
        if t == "NSEC3":
            assert eventually(lambda: listed_data(node, name, t) == [text]), f"{t} not listed as added"
        else:
            want = rdatas(node.port, f"{label}.{ZONE}", t)
            got = eventually(lambda: rdatas(node.port, name, t))
            assert got and set(got) <= set(want), f"{t}: {got} not among {want}"
        up = dns.update.UpdateMessage(ZONE, keyring=keyring, keyname=KEY_NAME)
        up.delete(name, t)
        r = dns.query.tcp(up, "127.0.0.1", port=node.port, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR
        assert eventually(lambda: not listed_data(node, name, t)), f"{t} still there"


def http(node, method, path, data=None):
    req = urllib.request.Request(f"http://127.0.0.1:{node.http_port}{path}", method=method,
                                 data=json.dumps(data).encode() if data is not None else None)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{KEY_NAME}:{KEY_SECRET}".encode()).decode())
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def listed_data(node, name, t):
    """The data texts the HTTP API lists for one name and type."""
    q = urllib.parse.urlencode({"name": name, "type": t})
    code, body = http(node, "GET", f"/api/v1/zones/{ZONE}/records?{q}")
    assert code == 200, body
    return sorted(r["data"] for r in body["records"])


def test_http_api_lists_adds_and_removes_every_type(served):
    node = served["node"]
    code, listing = http(node, "GET", f"/api/v1/zones/{ZONE}/records")
    assert code == 200, listing
    listed = {(r["name"], r["type"], r["data"]) for r in listing["records"]}
    for label, t, text in RECORDS:
        assert (f"{label}.{ZONE}", t, text) in listed, f"{label} {t} {text} not listed as Knot prints it"
    for label, t, text in RECORDS:
        name = f"h-{label}.{ZONE}"
        code, body = http(node, "POST", f"/api/v1/zones/{ZONE}/records",
                          {"name": name, "type": t, "ttl": 300, "data": text})
        assert code == 201, f"{t}: {body}"
        assert body["added"]["data"] == text, body
        if t == "NSEC3":
            assert listed_data(node, name, t) == [text]
        else:
            want = rdatas(node.port, f"{label}.{ZONE}", t)
            assert eventually(lambda: rdatas(node.port, name, t)) and set(rdatas(node.port, name, t)) <= set(want), t
        q = urllib.parse.urlencode({"name": name, "type": t, "data": text})
        code, body = http(node, "DELETE", f"/api/v1/zones/{ZONE}/records?{q}")
        assert code == 200, f"{t}: {body}"
