"""The HTTP API on a three-node cluster: DynDNS2 with curl, the REST records
API, /health and /metrics, checked with dig-style queries on every node."""
import json
import time
import urllib.parse

import dns.rdatatype
import pytest

from http_harness import KEY_NAME, KEY_SECRET, LIMITED_NAME, LIMITED_SECRET, curl, get_json, http_cluster, metrics

KEYS = [
    {"name": KEY_NAME, "algorithm": "hmac-sha256", "secret": KEY_SECRET, "role": "update"},
    # May change only A/AAAA below dyn.example.com.
    {"name": LIMITED_NAME, "algorithm": "hmac-sha512", "secret": LIMITED_SECRET, "role": "update",
     "policy": [{"grant": "subdomain", "name": "dyn.example.com.", "types": ["A", "AAAA"]}]},
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = http_cluster(tmp_path_factory.mktemp("http"), 3, tsig_keys=KEYS)
    c.start()
    yield c
    c.stop()


def aaaa(node, name):
    r = node.query(name, "AAAA")
    return {rd.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.AAAA for rd in rrset} or None


def test_nic_update_with_good_credentials_moves_the_name_on_every_node(cluster):
    follower = cluster.follower()
    code, body = curl(follower, "/nic/update?hostname=desk.example.com&myip=198.51.100.7", KEY_NAME, KEY_SECRET)
    assert (code, body) == (200, "good 198.51.100.7")
    # `good` comes once the follower has applied it: it answers at once.
    assert follower.addresses("desk.example.com.") == {"198.51.100.7"}
    cluster.wait_all_answer("desk.example.com.", {"198.51.100.7"}, timeout=5)

    # The same address again changes nothing.
    code, body = curl(cluster.leader(), "/nic/update?hostname=desk.example.com&myip=198.51.100.7",
                      "ddns-key", KEY_SECRET)
    assert (code, body) == (200, "nochg 198.51.100.7")

    # A new address replaces the old one (the RRset holds only the new one).
    code, body = curl(follower, "/nic/update?hostname=desk.example.com&myip=198.51.100.8", KEY_NAME, KEY_SECRET)
    assert (code, body) == (200, "good 198.51.100.8")
    cluster.wait_all_answer("desk.example.com.", {"198.51.100.8"}, timeout=5)


def test_nic_update_with_bad_credentials_is_badauth_and_changes_nothing(cluster):
    node = cluster.nodes[1]
    code, body = curl(node, "/nic/update?hostname=seed0.example.com&myip=198.51.100.66", KEY_NAME, "d3Jvbmc=")
    assert (code, body) == (200, "badauth")
    code, body = curl(node, "/nic/update?hostname=seed0.example.com&myip=198.51.100.66", "no-such-key.", KEY_SECRET)
    assert (code, body) == (200, "badauth")
    code, body = curl(node, "/nic/update?hostname=seed0.example.com&myip=198.51.100.66")
    assert (code, body) == (401, "badauth")
    time.sleep(0.3)  # nothing should arrive; give a wrong change the time it would take
    for n in cluster.nodes:
        assert n.addresses("seed0.example.com.") == {"10.0.0.1"}
    _, samples = metrics(node)
    assert samples['dnsnode_updates_total{source="dyndns",result="badauth"}'] >= 3


def test_nic_update_protocol_answers(cluster):
    node = cluster.nodes[2]
    assert curl(node, "/nic/update?myip=198.51.100.7", KEY_NAME, KEY_SECRET) == (200, "notfqdn")
    assert curl(node, "/nic/update?hostname=host.example.org&myip=198.51.100.7", KEY_NAME, KEY_SECRET) == \
        (200, "nohost")
    # No myip: the client's own address (here loopback).
    assert curl(node, "/nic/update?hostname=self.example.com", KEY_NAME, KEY_SECRET) == (200, "good 127.0.0.1")
    # IPv6 sets AAAA and leaves A alone.
    assert curl(node, "/nic/update?hostname=self.example.com&myip=2001:db8::7", KEY_NAME, KEY_SECRET) == \
        (200, "good 2001:db8::7")
    cluster.wait_until(lambda: all(aaaa(n, "self.example.com.") == {"2001:db8::7"} for n in cluster.nodes), 5,
                       "AAAA on every node")
    assert all(n.addresses("self.example.com.") == {"127.0.0.1"} for n in cluster.nodes)


def test_rest_round_trip(cluster):
    a, b = cluster.nodes[0], cluster.nodes[2]
    record = {"name": "api", "type": "TXT", "ttl": 300, "data": '"v=1; hello world"'}
    code, body = curl(a, "/api/v1/zones/example.com/records", KEY_NAME, KEY_SECRET, "POST", json.dumps(record))
    assert code == 201, body
    assert json.loads(body)["added"] == {"name": "api.example.com.", "type": "TXT", "ttl": 300,
                                         "data": '"v=1; hello world"'}
    # A consistent read on another node sees it at once.
    code, listing = get_json(b, "/api/v1/zones/example.com/records?consistent=true&name=api&type=TXT")
    assert code == 200, listing
    assert listing["records"] == [json.loads(body)["added"]]
    for n in cluster.nodes:
        cluster.wait_until(lambda n=n: [rr.to_text() for rr in n.query("api.example.com.", "TXT").answer] ==
                           ['api.example.com. 300 IN TXT "v=1; hello world"'], 5, "TXT everywhere")

    # The same validation as everywhere: a bad value, a CNAME beside data, an unknown zone.
    code, body = curl(a, "/api/v1/zones/example.com/records", KEY_NAME, KEY_SECRET, "POST",
                      json.dumps({"name": "bad", "type": "A", "data": "1.2.3"}))
    assert code == 400 and "bad A value '1.2.3'" in json.loads(body)["error"], body
    code, body = curl(a, "/api/v1/zones/example.com/records", KEY_NAME, KEY_SECRET, "POST",
                      json.dumps({"name": "api", "type": "CNAME", "data": "www.example.com."}))
    assert code == 409 and "CNAME" in json.loads(body)["error"], body
    code, body = curl(a, "/api/v1/zones/example.org/records")
    assert code == 404, body
    code, body = curl(a, "/api/v1/zones/example.com/records", None, None, "POST", json.dumps(record))
    assert code == 401, body

    # Remove it through another node, by query parameters.
    q = urllib.parse.urlencode({"name": "api.example.com.", "type": "TXT", "data": '"v=1; hello world"'})
    code, body = curl(b, "/api/v1/zones/example.com/records?" + q, KEY_NAME, KEY_SECRET, "DELETE")
    assert code == 200, body
    for n in cluster.nodes:
        cluster.wait_until(lambda n=n: not n.query("api.example.com.", "TXT").answer, 5, "TXT gone")
    code, body = curl(b, "/api/v1/zones/example.com/records?" + q, KEY_NAME, KEY_SECRET, "DELETE")
    assert code == 404 and "no such record" in body, body


def test_health_reports_the_same_leader_everywhere(cluster):
    leader = cluster.leader()
    seen = []
    for n in cluster.nodes:
        code, h = get_json(n, "/health")
        assert code == 200, h
        assert h["healthy"] is True
        assert h["node"] == str(n.id)
        assert h["leader"] == str(leader.id)
        assert h["role"] == ("leader" if n is leader else "follower")
        assert h["term"] >= 1 and h["applied_index"] >= 1 and h["lag"] >= 0
        seen.append(h["term"])
    assert len(set(seen)) == 1


def test_metrics_parse_as_prometheus_text_with_sane_values(cluster):
    node = cluster.nodes[1]
    before_types, before = metrics(node)
    for _ in range(5):
        node.query("seed0.example.com.", "A")
    node.query("nothing.example.com.", "MX")
    types, after = metrics(node)
    for family in ("dnsnode_queries_total", "dnsnode_queries_by_type_total", "dnsnode_responses_by_rcode_total",
                   "dnsnode_query_duration_seconds", "dnsnode_updates_total", "dnsnode_raft_term",
                   "dnsnode_raft_commit_index", "dnsnode_raft_applied_index", "dnsnode_raft_leader_changes_total",
                   "dnsnode_raft_log_bytes", "dnsnode_peer_auth_failures_total"):
        assert family in types, family
    assert types["dnsnode_query_duration_seconds"] == "histogram"
    assert after['dnsnode_queries_total{transport="udp"}'] >= before['dnsnode_queries_total{transport="udp"}'] + 6
    assert after['dnsnode_queries_by_type_total{type="MX"}'] >= 1
    assert after['dnsnode_responses_by_rcode_total{rcode="NXDOMAIN"}'] >= 1
    assert after["dnsnode_query_duration_seconds_count"] >= before["dnsnode_query_duration_seconds_count"] + 6
    assert after['dnsnode_query_duration_seconds_bucket{le="+Inf"}'] == after["dnsnode_query_duration_seconds_count"]
    buckets = sorted((float(k.split('"')[1]), v) for k, v in after.items()
                     if k.startswith("dnsnode_query_duration_seconds_bucket") and "+Inf" not in k)
    assert all(b1[1] <= b2[1] for b1, b2 in zip(buckets, buckets[1:])), "buckets must be cumulative"
    assert after["dnsnode_raft_term"] >= 1
    assert after["dnsnode_raft_commit_index"] >= after["dnsnode_raft_applied_index"] >= 1
    assert after["dnsnode_raft_log_bytes"] > 0
    assert after["dnsnode_peer_auth_failures_total"] == 0
    leaders = sum(metrics(n)[1]["dnsnode_raft_is_leader"] for n in cluster.nodes)
    assert leaders == 1


def test_listener_limits_and_keep_alive(cluster):
    import socket
    node = cluster.nodes[0]

    def exchange(raw, sock=None):
        s = sock or socket.create_connection(("127.0.0.1", node.http_port), timeout=5)
        s.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), b"0"))
        while len(body) < length:
            body += s.recv(65536)
        return s, head.split(b"\r\n")[0].decode(), body

    # Keep-alive: two requests on one connection.
    s, status, _ = exchange(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == "HTTP/1.1 200 OK"
    _, status, body = exchange(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", s)
    assert status == "HTTP/1.1 200 OK" and b"# TYPE dnsnode_raft_term gauge" in body
    s.close()
    # Too large a body, too large headers, not HTTP.
    big = b"x" * 70000
    _, status, _ = exchange(b"POST /api/v1/zones/example.com/records HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                            % len(big) + big)
    assert status.startswith("HTTP/1.1 413"), status
    _, status, _ = exchange(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n")
    assert status.startswith("HTTP/1.1 431"), status
    _, status, _ = exchange(b"NOT HTTP AT ALL\r\n\r\n")
    assert status.startswith("HTTP/1.1 400"), status
    # Still serving.
    assert get_json(node, "/health")[0] == 200


def test_a_keys_update_policy_holds_over_http(cluster):
    node = cluster.nodes[1]
    assert curl(node, "/nic/update?hostname=seed2.example.com&myip=198.51.100.70", LIMITED_NAME, LIMITED_SECRET) == \
        (200, "nohost")
    assert curl(node, "/nic/update?hostname=pc.dyn.example.com&myip=198.51.100.70", LIMITED_NAME, LIMITED_SECRET) == \
        (200, "good 198.51.100.70")
    cluster.wait_all_answer("pc.dyn.example.com.", {"198.51.100.70"}, timeout=5)
    assert cluster.nodes[0].addresses("seed2.example.com.") == {"10.0.0.3"}
    code, body = curl(node, "/api/v1/zones/example.com/records", LIMITED_NAME, LIMITED_SECRET, "POST",
                      json.dumps({"name": "pc.dyn", "type": "TXT", "data": "hello"}))
    assert code == 403, body


def test_the_status_document_names_each_changes_entry_point(cluster):
    import os
    import subprocess

    import dns.query
    import dns.tsig
    import dns.tsigkeyring
    import dns.update

    from harness import BIN

    node = cluster.nodes[0]
    assert node.command("ADD: src-stdin.example.com A 192.0.2.61").startswith("OK")
    assert curl(node, "/nic/update?hostname=src-dyn.example.com&myip=192.0.2.62", KEY_NAME, KEY_SECRET) == \
        (200, "good 192.0.2.62")
    code, body = curl(node, "/api/v1/zones/example.com/records", KEY_NAME, KEY_SECRET, "POST",
                      json.dumps({"name": "src-rest", "type": "A", "data": "192.0.2.63"}))
    assert code == 201, body
    keyring = dns.tsigkeyring.from_text({KEY_NAME: (dns.tsig.HMAC_SHA256, KEY_SECRET)})
    u = dns.update.UpdateMessage("example.com.", keyring=keyring, keyname=KEY_NAME, keyalgorithm=dns.tsig.HMAC_SHA256)
    u.replace("src-upd", 60, "A", "192.0.2.64")
    assert dns.query.tcp(u, "127.0.0.1", port=node.query_port, timeout=10).rcode() == 0
    sources = {"stdin", "DynDNS", "REST", "UPDATE"}
    ctl = os.path.join(os.path.dirname(BIN), "..", "ctl", "dns-nodectl")
    if os.path.exists(ctl):
        r = subprocess.run([ctl, "-s", os.path.join(node.data_dir, "control.sock"), "add", "src-ctl.example.com", "A",
                            "192.0.2.65"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        sources.add("dns-nodectl")

    status, doc = get_json(node, "/api/v1/status")
    assert status == 200
    seen = {c["source"]: c for c in doc["changes"] if "src-" in c["summary"]}
    assert set(seen) == sources, doc["changes"]
    assert all(c["ok"] for c in seen.values()), seen
    assert "src-rest.example.com." in seen["REST"]["summary"]
    # Dynamic hosts: what DynDNS and UPDATE moved, with their current addresses; not the edits.
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert hosts["src-dyn.example.com."]["addresses"] == ["192.0.2.62"]
    assert hosts["src-upd.example.com."]["source"] == "UPDATE"
    assert "src-stdin.example.com." not in hosts and "src-rest.example.com." not in hosts
    assert {z["name"] for z in doc["zones"]} == {"example.com."}
    assert doc["zones"][0]["serial"] == next(rd.serial for rrset in node.query("example.com.", "SOA").answer
                                             for rd in rrset)
