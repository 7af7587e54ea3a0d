"""The catalog zone (RFC 9432 version 2): a zone added at runtime appears on
BIND and Knot secondaries that follow the catalog, answering with AA there;
removed, it disappears from them."""
import base64
import json
import time
import urllib.error
import urllib.request

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from xfr_harness import ADMIN_KEY, ADMIN_SECRET, Bind, Knot, have, set_notify, soa_serial, xfr_cluster

CATALOG = "catalog.test."
NEW = "added.test."
BY_HTTP = "by-http.test."


def http_zone(node, method, zone, body=None):
    """PUT or DELETE /api/v1/zones/{zone} with the admin key; returns the status."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{node.http_port}/api/v1/zones/{zone}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{ADMIN_KEY}:{ADMIN_SECRET}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def answers_with_aa(port, zone):
    try:
        r = dns.query.udp(dns.message.make_query(zone, "SOA"), "127.0.0.1", port=port, timeout=0.5)
    except Exception:
        return False
    return r.rcode() == dns.rcode.NOERROR and bool(r.flags & dns.flags.AA) and len(r.answer) == 1


def wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout}s")


@pytest.mark.skipif(not (have("bind") and have("knot")), reason="needs named and knotd")
def test_a_zone_added_at_runtime_appears_on_bind_and_knot_through_the_catalog_and_goes_when_removed(tmp_path):
    cluster = xfr_cluster(tmp_path, size=1, catalog=CATALOG)
    node = cluster.nodes[0]
    primaries = [("127.0.0.1", node.query_port)]
    secondaries = [Bind(tmp_path, primaries, [], catalog=CATALOG), Knot(tmp_path, primaries, [], catalog=CATALOG)]
    set_notify(cluster, [s.target for s in secondaries])
    cluster.start()
    try:
        # The catalog lists the zone of the zone files from the start.
        wait(lambda: soa_serial(node.query_port, CATALOG) is not None, 15, "the catalog zone")
        for s in secondaries:
            s.start()
            wait(lambda: answers_with_aa(s.port, "example.com."), 30, f"{s.kind} serving example.com. from the catalog")
        # One zone added on stdin, one over HTTP.
        reply = node.command(f"ZONE ADD {NEW} ns1.{NEW} hostmaster.{NEW}")
        assert reply.startswith("OK"), reply
        assert node.command(f"ADD: www.{NEW} 300 A 192.0.2.80").startswith("OK")
        assert http_zone(node, "PUT", BY_HTTP, {"mname": f"ns1.{BY_HTTP}", "rname": f"hostmaster.{BY_HTTP}",
                                                "serial": 7}) == 201
        assert http_zone(node, "PUT", BY_HTTP, {"mname": f"ns1.{BY_HTTP}", "rname": f"hostmaster.{BY_HTTP}"}) == 409
        assert node.command(f"ZONE ADD {NEW} ns1.{NEW} hostmaster.{NEW}").startswith("ERROR: zone added.test. already exists")
        for s in secondaries:
            for z in (NEW, BY_HTTP):
                wait(lambda: answers_with_aa(s.port, z), 30, f"{s.kind} serving {z}")
            s.wait_serial(NEW, soa_serial(node.query_port, NEW), timeout=15)
            r = dns.query.udp(dns.message.make_query(f"www.{NEW}", "A"), "127.0.0.1", port=s.port, timeout=1)
            assert r.flags & dns.flags.AA and r.answer and r.answer[0][0].address == "192.0.2.80", (s.kind, r)
        # Removed the same two ways.
        reply = node.command(f"ZONE REMOVE {NEW}")
        assert reply.startswith("OK"), reply
        assert http_zone(node, "DELETE", BY_HTTP) == 200
        assert http_zone(node, "DELETE", BY_HTTP) == 404
        for s in secondaries:
            for z in (NEW, BY_HTTP):
                wait(lambda: not answers_with_aa(s.port, z), 30, f"{s.kind} dropping {z}")
            assert answers_with_aa(s.port, "example.com.")
    finally:
        for s in secondaries:
            s.stop()
        cluster.stop()
