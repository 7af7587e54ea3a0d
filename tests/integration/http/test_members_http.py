"""Cluster membership over the HTTP API: GET/POST /api/v1/members and
DELETE /api/v1/members/{id}, the same commands as stdin's MEMBERS, MEMBER ADD
and MEMBER REMOVE, answered with HTTP statuses."""
import base64
import json

import pytest

from http_harness import KEY_NAME, KEY_SECRET, LIMITED_NAME, LIMITED_SECRET, curl, http_cluster

LIMITED_POLICY = [{"name": LIMITED_NAME, "algorithm": "hmac-sha256", "secret": LIMITED_SECRET, "role": "update",
                   "policy": [{"grant": "subdomain", "name": "dyn.example.com.", "types": ["A"]}]}]


@pytest.fixture
def cluster(tmp_path):
    keys = [{"name": KEY_NAME, "algorithm": "hmac-sha256", "secret": KEY_SECRET, "role": "admin"}] + LIMITED_POLICY
    c = http_cluster(tmp_path, 3, tsig_keys=keys).start()
    yield c
    c.stop()


def roles(node):
    status, body = curl(node, "/api/v1/members", KEY_NAME, KEY_SECRET)
    assert status == 200, body
    return {nid: m.get("role") for nid, m in json.loads(body)["members"].items()}


def test_a_node_is_added_and_removed_through_http(cluster):
    n0, n1, _ = cluster.nodes
    assert roles(n1) == {"0": "voter", "1": "voter", "2": "voter"}
    n3 = cluster.new_node(3)
    body = json.dumps({"id": 3, "query_loc": f"127.0.0.1:{n3.query_port}", "raft_loc": f"127.0.0.1:{n3.raft_port}"})
    status, reply = curl(n1, "/api/v1/members", KEY_NAME, KEY_SECRET, "POST", body)
    assert status == 200, reply
    n3.start(["--join", f"127.0.0.1:{n0.raft_port}"])
    cluster.wait_until(lambda: roles(n0).get("3") == "voter", 30, "node 3 promoted")
    assert n0.command("ADD: via-http.example.com A 192.0.2.7").startswith("OK")
    cluster.wait_all_answer("via-http.example.com.", {"192.0.2.7"})

    # Adding it again is a harmless retry; the same id elsewhere is refused, with the reason.
    assert curl(n1, "/api/v1/members", KEY_NAME, KEY_SECRET, "POST", body)[0] == 200
    moved = json.dumps({"id": 3, "query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"})
    status, reply = curl(n1, "/api/v1/members", KEY_NAME, KEY_SECRET, "POST", moved)
    assert status == 409 and "already a member" in reply, (status, reply)

    def removed():
        status, reply = curl(n0, "/api/v1/members/3", KEY_NAME, KEY_SECRET, "DELETE")
        return status == 200
    cluster.wait_until(removed, 20, "DELETE /api/v1/members/3 accepted")
    cluster.wait_until(lambda: "3" not in roles(n0), 30, "node 3 removed")
    cluster.wait_until(lambda: n3.status().get("removed") is True, 15, "node 3 knows it was removed")


def test_membership_changes_need_an_admin_key(cluster):
    n0 = cluster.nodes[0]
    body = json.dumps({"id": 7, "query_loc": "127.0.0.1:1", "raft_loc": "127.0.0.1:2"})
    assert curl(n0, "/api/v1/members", method="POST", data=body)[0] == 401
    assert curl(n0, "/api/v1/members", KEY_NAME, base64.b64encode(b"wrong").decode(), "POST", body)[0] == 401
    status, reply = curl(n0, "/api/v1/members", LIMITED_NAME, LIMITED_SECRET, "POST", body)
    assert status == 403 and "admin" in reply, reply
    status, reply = curl(n0, "/api/v1/members", KEY_NAME, KEY_SECRET, "POST",
                         json.dumps({"id": 7, "query_loc": "not-an-address", "raft_loc": "127.0.0.1:2"}))
    assert status == 400 and "not-an-address" in reply, reply
    assert curl(n0, "/api/v1/members/nine", KEY_NAME, KEY_SECRET, "DELETE")[0] == 400
    assert curl(n0, "/api/v1/members/9", KEY_NAME, KEY_SECRET, "DELETE")[0] == 409
    assert sorted(roles(n0)) == ["0", "1", "2"]
