"""RFC 2136 UPDATE with TSIG against a three-node cluster, with nsupdate and dnspython."""
import base64
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest

from harness import Cluster

SECRET = base64.b64encode(b"update-test-secret-0123456789abc").decode()
OTHER_SECRET = base64.b64encode(b"some-other-secret-0123456789abcd").decode()
LIMITED_SECRET = base64.b64encode(b"limited-key-secret-0123456789abc").decode()

CONFIG = {
    "tsig_keys": [
        {"name": "ddns-key.", "algorithm": "hmac-sha256", "secret": SECRET},
        {"name": "sha512-key.", "algorithm": "hmac-sha512", "secret": OTHER_SECRET},
        {"name": "limited-key.", "algorithm": "hmac-sha256", "secret": LIMITED_SECRET,
         "policy": [{"grant": "subdomain", "name": "dyn.example.com.", "types": ["A", "AAAA"]}]},
        {"name": "host1.example.com.", "algorithm": "hmac-sha1", "secret": LIMITED_SECRET,
         "policy": [{"grant": "self"}]},
    ],
}

KEYRING = dns.tsigkeyring.from_text({
    "ddns-key.": (dns.tsig.HMAC_SHA256, SECRET),
    "sha512-key.": (dns.tsig.HMAC_SHA512, OTHER_SECRET),
    "limited-key.": (dns.tsig.HMAC_SHA256, LIMITED_SECRET),
    "host1.example.com.": (dns.tsig.HMAC_SHA1, LIMITED_SECRET),
})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("update"), 3, extra_config=CONFIG)
    c.start()
    yield c
    c.stop()


def serial(node):
    r = node.query("example.com.", "SOA")
    return r.answer[0][0].serial


def serials(cluster):
    return [serial(n) for n in cluster.nodes]


def settled_serials(cluster, timeout=5):
    """The nodes' serials once they agree: an earlier test's change may still
    be on its way to a follower, and must not count as this test's."""
    deadline = time.time() + timeout
    while True:
        s = serials(cluster)
        if len(set(s)) == 1 or time.time() > deadline:
            return s
        time.sleep(0.05)


def wait_all(cluster, fn, timeout=5):
    """Waits until fn(node) is true on every node (a follower applies a moment after the leader)."""
    deadline = time.time() + timeout
    while True:
        results = [fn(n) for n in cluster.nodes]
        if all(results) or time.time() > deadline:
            return results
        time.sleep(0.05)


def send(node, update, tcp=False, timeout=5):
    if tcp:
        return dns.query.tcp(update, "127.0.0.1", port=node.query_port, timeout=timeout)
    return dns.query.udp(update, "127.0.0.1", port=node.query_port, timeout=timeout)


def signed_update(keyname="ddns-key.", algorithm=dns.tsig.HMAC_SHA256):
    return dns.update.UpdateMessage("example.com.", keyring=KEYRING, keyname=keyname, keyalgorithm=algorithm)


def nsupdate(node, script, key="hmac-sha256:ddns-key.:" + SECRET, tcp=False):
    args = ["nsupdate"] + (["-y", key] if key else []) + (["-v"] if tcp else [])
    full = f"server 127.0.0.1 {node.query_port}\nzone example.com.\n{script}\nsend\n"
    return subprocess.run(args, input=full, capture_output=True, text=True, timeout=30)


def test_nsupdate_against_a_follower_reaches_every_node(cluster):
    follower = cluster.follower()
    before = serials(cluster)
    r = nsupdate(follower, "update add laptop.example.com. 60 A 192.0.2.10")
    assert r.returncode == 0, r.stderr
    # The follower answers only once it has applied the change itself.
    assert follower.addresses("laptop.example.com.") == {"192.0.2.10"}
    assert wait_all(cluster, lambda n: n.addresses("laptop.example.com.") == {"192.0.2.10"}) == [True] * 3
    after = wait_all(cluster, lambda n: serial(n) == before[0] + 1)
    assert after == [True] * 3, serials(cluster)


def test_nsupdate_over_tcp_replaces_an_address(cluster):
    node = cluster.nodes[0]
    r = nsupdate(node, "update delete desk.example.com. A\nupdate add desk.example.com. 60 A 192.0.2.20", tcp=True)
    assert r.returncode == 0, r.stderr
    r = nsupdate(node, "update delete desk.example.com. A\nupdate add desk.example.com. 60 A 192.0.2.21", tcp=True)
    assert r.returncode == 0, r.stderr
    assert wait_all(cluster, lambda n: n.addresses("desk.example.com.") == {"192.0.2.21"}) == [True] * 3


@pytest.mark.parametrize("prereq, rcode", [
    ("prereq yxdomain nothing-here.example.com.", dns.rcode.NXDOMAIN),
    ("prereq nxdomain ns1.example.com.", dns.rcode.YXDOMAIN),
    ("prereq yxrrset ns1.example.com. AAAA", dns.rcode.NXRRSET),
    ("prereq nxrrset ns1.example.com. A", dns.rcode.YXRRSET),
    ("prereq yxrrset ns1.example.com. A 127.0.0.2", dns.rcode.NXRRSET),
])
def test_failed_prerequisite_returns_its_rcode_and_changes_nothing(cluster, prereq, rcode):
    node = cluster.follower()
    before = settled_serials(cluster)
    u = signed_update()
    kind, *rest = prereq.split(" ", 2)[1:]
    name = rest[0].split()[0]
    args = rest[0].split()[1:]
    if kind == "yxdomain":
        u.present(name)
    elif kind == "nxdomain":
        u.absent(name)
    elif kind == "yxrrset":
        u.present(name, *args)
    elif kind == "nxrrset":
        u.absent(name, *args)
    u.add("blocked.example.com.", 60, "A", "192.0.2.99")
    response = send(node, u)
    assert response.rcode() == rcode
    time.sleep(0.3)
    assert all(n.addresses("blocked.example.com.") is None for n in cluster.nodes)
    assert serials(cluster) == before


def test_nsupdate_prerequisite_failure_is_reported(cluster):
    r = nsupdate(cluster.nodes[1], "prereq yxdomain nothing-here.example.com.\nupdate add x.example.com. 60 A 192.0.2.1")
    assert r.returncode != 0
    assert "NXDOMAIN" in (r.stdout + r.stderr)


def test_satisfied_prerequisites_commit(cluster):
    u = signed_update()
    u.present("ns1.example.com.", "A", "127.0.0.1")
    u.absent("fresh.example.com.")
    u.add("fresh.example.com.", 60, "TXT", "hello")
    assert send(cluster.nodes[2], u).rcode() == dns.rcode.NOERROR
    assert cluster.nodes[2].query("fresh.example.com.", "TXT").answer


def test_response_is_signed_and_verifies(cluster):
    u = signed_update("sha512-key.", dns.tsig.HMAC_SHA512)
    u.add("signed.example.com.", 60, "A", "192.0.2.30")
    # dnspython verifies the response's TSIG against the request MAC; a bad
    # or missing signature raises.
    response = send(cluster.nodes[0], u)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.had_tsig


def test_wrong_key_is_notauth_and_changes_nothing(cluster):
    before = settled_serials(cluster)
    r = nsupdate(cluster.nodes[0], "update add wrongkey.example.com. 60 A 192.0.2.40",
                 key="hmac-sha256:ddns-key.:" + OTHER_SECRET)
    assert r.returncode != 0
    assert "NOTAUTH" in r.stdout + r.stderr or "BADSIG" in r.stdout + r.stderr or "tsig" in (r.stdout + r.stderr).lower()
    r = nsupdate(cluster.nodes[0], "update add wrongkey.example.com. 60 A 192.0.2.40",
                 key="hmac-sha256:unknown-key.:" + SECRET)
    assert r.returncode != 0
    time.sleep(0.3)
    assert all(n.addresses("wrongkey.example.com.") is None for n in cluster.nodes)
    assert serials(cluster) == before


def test_bad_signature_and_unknown_key_get_notauth_with_the_tsig_error(cluster):
    bad_keyring = dns.tsigkeyring.from_text({"ddns-key.": (dns.tsig.HMAC_SHA256, OTHER_SECRET),
                                             "nobody.": (dns.tsig.HMAC_SHA256, SECRET)})
    for keyname, error in (("ddns-key.", dns.tsig.PeerBadSignature), ("nobody.", dns.tsig.PeerBadKey)):
        u = dns.update.UpdateMessage("example.com.", keyring=bad_keyring, keyname=keyname,
                                     keyalgorithm=dns.tsig.HMAC_SHA256)
        u.add("badsig.example.com.", 60, "A", "192.0.2.41")
        with pytest.raises(error):
            send(cluster.nodes[1], u)
    time.sleep(0.3)
    assert all(n.addresses("badsig.example.com.") is None for n in cluster.nodes)


def test_time_outside_fudge_is_badtime(cluster):
    u = signed_update()
    u.add("late.example.com.", 60, "A", "192.0.2.42")
    u.use_tsig(KEYRING, keyname="ddns-key.", fudge=10, algorithm=dns.tsig.HMAC_SHA256)
    real_time = time.time
    try:
        time.time = lambda: real_time() - 3600
        wire = u.to_wire()
    finally:
        time.time = real_time
    # Sent as signed an hour ago: the answer is NOTAUTH with BADTIME, signed.
    raw = _raw_udp(cluster.nodes[0].query_port, wire)
    with pytest.raises(dns.tsig.PeerBadTime):
        dns.message.from_wire(raw, keyring=KEYRING, request_mac=u.mac)
    assert raw[3] & 0xF == dns.rcode.NOTAUTH
    assert cluster.nodes[0].addresses("late.example.com.") is None


def _raw_udp(port, wire):
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(wire, ("127.0.0.1", port))
        return s.recv(65535)


def test_unsigned_update_is_refused(cluster):
    r = nsupdate(cluster.nodes[0], "update add unsigned.example.com. 60 A 192.0.2.50", key=None)
    assert r.returncode != 0
    assert "REFUSED" in r.stdout + r.stderr
    u = dns.update.UpdateMessage("example.com.")
    u.add("unsigned.example.com.", 60, "A", "192.0.2.50")
    assert send(cluster.nodes[0], u).rcode() == dns.rcode.REFUSED
    assert cluster.nodes[0].addresses("unsigned.example.com.") is None


def test_policy_restricts_a_key_to_its_names_and_types(cluster):
    u = signed_update("limited-key.")
    u.add("pc.dyn.example.com.", 60, "A", "192.0.2.60")
    assert send(cluster.nodes[0], u).rcode() == dns.rcode.NOERROR
    for name, rdtype, value in (("pc.example.com.", "A", "192.0.2.61"),      # outside its subdomain
                                ("pc.dyn.example.com.", "TXT", "nope")):     # a type it may not change
        u = signed_update("limited-key.")
        u.add(name, 60, rdtype, value)
        assert send(cluster.nodes[0], u).rcode() == dns.rcode.REFUSED
    u = signed_update("limited-key.")
    u.delete("pc.dyn.example.com.")  # every type at the name: not within A/AAAA
    assert send(cluster.nodes[0], u).rcode() == dns.rcode.REFUSED
    # "self": the key named host1.example.com. may change only that name.
    u = signed_update("host1.example.com.", dns.tsig.HMAC_SHA1)
    u.replace("host1.example.com.", 60, "A", "192.0.2.62")
    assert send(cluster.nodes[0], u).rcode() == dns.rcode.NOERROR
    u = signed_update("host1.example.com.", dns.tsig.HMAC_SHA1)
    u.replace("host2.example.com.", 60, "A", "192.0.2.63")
    assert send(cluster.nodes[0], u).rcode() == dns.rcode.REFUSED


def test_zone_not_served_is_notauth_and_outside_name_is_notzone(cluster):
    u = dns.update.UpdateMessage("example.org.", keyring=KEYRING, keyname="ddns-key.", keyalgorithm=dns.tsig.HMAC_SHA256)
    u.add("www.example.org.", 60, "A", "192.0.2.70")
    assert send(cluster.nodes[0], u).rcode() == dns.rcode.NOTAUTH
    u = signed_update()
    u.add("www.example.org.", 60, "A", "192.0.2.70")
    assert send(cluster.nodes[0], u).rcode() == dns.rcode.NOTZONE


def test_apex_soa_and_ns_survive_deletion(cluster):
    u = signed_update()
    u.delete("example.com.", "NS")
    u.delete("example.com.", "SOA")
    u.delete("example.com.")
    assert send(cluster.nodes[0], u).rcode() == dns.rcode.NOERROR
    r = cluster.nodes[0].query("example.com.", "NS")
    assert r.answer and r.answer[0].rdtype == dns.rdatatype.NS
    assert cluster.nodes[0].query("example.com.", "SOA").answer


def test_soa_serial_identical_everywhere_and_advanced_by_each_update(cluster):
    start = serials(cluster)
    assert len(set(start)) == 1, start
    count = 8
    for i in range(count):
        u = signed_update()
        u.replace("counter.example.com.", 60, "A", f"192.0.2.{100 + i}")
        assert send(cluster.nodes[i % 3], u).rcode() == dns.rcode.NOERROR
    final = wait_all(cluster, lambda n: serial(n) == start[0] + count)
    assert final == [True] * 3, serials(cluster)
    assert wait_all(cluster, lambda n: n.addresses("counter.example.com.") == {f"192.0.2.{100 + count - 1}"}) == [True] * 3
