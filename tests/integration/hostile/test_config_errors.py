"""Every configuration error is one clear message naming what to fix, a
non-zero exit, and no listener left bound."""
import json
import os
import socket

import pytest

from node_harness import ZONE_DIR, free_port, run_to_exit


SECRET = "config-errors-test-secret-0123456789"  # long enough: these cases are about other fields


def two_nodes(q0, r0, q1, r1, cluster=None):
    cfg = {"nodes": {"0": {"query_loc": f"127.0.0.1:{q0}", "raft_loc": f"127.0.0.1:{r0}"},
                     "1": {"query_loc": f"127.0.0.1:{q1}", "raft_loc": f"127.0.0.1:{r1}"}}}
    if cluster is not None:
        cfg["cluster"] = cluster
    return json.dumps(cfg)


def one_node(q, r, **fields):
    entry = {"query_loc": f"127.0.0.1:{q}", "raft_loc": f"127.0.0.1:{r}"}
    entry.update(fields)
    return json.dumps({"nodes": {"0": {k: v for k, v in entry.items() if v is not None}}})


def with_block(text, key, value):
    cfg = json.loads(text)
    cfg[key] = value
    return json.dumps(cfg)


# (case id, config text built from four free ports, node id, words the message must contain)
CASES = [
    ("not-json", lambda q, r, q1, r1: '{"nodes": {"0": {"query_loc": "127.0.0.1:%d" "raft_loc": 1}}}' % q,
     "0", ["cfg.json:1:", "not valid JSON"]),
    ("truncated-json", lambda q, r, q1, r1: '{"nodes": {', "0", ["not valid JSON"]),
    ("unknown-node-id", lambda q, r, q1, r1: one_node(q, r), "3", ['node "3" is not in the configuration']),
    ("bad-port-range", lambda q, r, q1, r1: one_node(q, r, query_loc="127.0.0.1:65536"), "0", ["bad port", "65536"]),
    ("bad-port-text", lambda q, r, q1, r1: one_node(q, r, raft_loc="127.0.0.1:http"), "0", ["raft_loc", "http"]),
    ("missing-query-loc", lambda q, r, q1, r1: json.dumps({"nodes": {"0": {"raft_loc": f"127.0.0.1:{r}"}}}),
     "0", ["query_loc", "missing"]),
    ("duplicate-query-address", lambda q, r, q1, r1: two_nodes(q, r, q, r1, {"secret": SECRET}), "0", ["already used by"]),
    ("duplicate-raft-address", lambda q, r, q1, r1: two_nodes(q, r, q1, r, {"secret": SECRET}), "0", ["already used by"]),
    ("multi-node-without-secret", lambda q, r, q1, r1: two_nodes(q, r, q1, r1), "0",
     ["needs a shared secret", "--insecure-peers"]),
    ("nodes-not-an-object", lambda q, r, q1, r1: '{"nodes": [1, 2]}', "0", ["nodes"]),
    ("tcp-message-timeout-zero", lambda q, r, q1, r1: with_block(one_node(q, r), "tcp", {"message_timeout_ms": 0}),
     "0", ["tcp.message_timeout_ms", "out of range", "1-3600000"]),
    ("tcp-message-timeout-text", lambda q, r, q1, r1: with_block(one_node(q, r), "tcp", {"message_timeout_ms": "5s"}),
     "0", ["tcp.message_timeout_ms", "whole number"]),
    ("tcp-idle-timeout-too-long", lambda q, r, q1, r1: with_block(one_node(q, r), "tcp", {"idle_timeout_ms": 3600001}),
     "0", ["tcp.idle_timeout_ms", "out of range"]),
    ("election-timeout-below-two-heartbeats",
     lambda q, r, q1, r1: with_block(one_node(q, r), "cluster", {"heartbeat_ms": 500, "election_timeout_ms": 100}),
     "0", ["cluster.election_timeout_ms", "at least twice", "heartbeat_ms (500)"]),
    ("rrl-slip-out-of-range", lambda q, r, q1, r1: with_block(one_node(q, r), "rrl",
                                                               {"responses_per_second": 20, "slip": 99}),
     "0", ["rrl.slip", "0 to 10"]),
    ("rrl-window-zero", lambda q, r, q1, r1: with_block(one_node(q, r), "rrl", {"responses_per_second": 5, "window": 0}),
     "0", ["rrl.window"]),
    ("tsig-unknown-algorithm", lambda q, r, q1, r1: with_block(one_node(q, r), "tsig_keys", [
        {"name": "k.", "algorithm": "hmac-md4", "secret": "AAAA"}]), "0", ["tsig_keys[0].algorithm", "hmac-md4"]),
    ("tsig-secret-not-base64", lambda q, r, q1, r1: with_block(one_node(q, r), "tsig_keys", [
        {"name": "k.", "algorithm": "hmac-sha256", "secret": "not base64!!"}]), "0", ["tsig_keys[0].secret", "base64"]),
    ("tsig-bad-grant", lambda q, r, q1, r1: with_block(one_node(q, r), "tsig_keys", [
        {"name": "k.", "algorithm": "hmac-sha256", "secret": "AAAA", "policy": [{"grant": "nonsense"}]}]),
     "0", ["tsig_keys[0].policy[0].grant", "nonsense"]),
    ("update-bad-network", lambda q, r, q1, r1: with_block(one_node(q, r), "update",
                                                            {"allow_unsigned_from": ["300.1.2.3/8"]}),
     "0", ["update.allow_unsigned_from[0]", "300.1.2.3/8"]),
    ("udp-threads-out-of-range", lambda q, r, q1, r1: with_block(one_node(q, r), "udp_threads", 1000),
     "0", ["udp_threads", "out of range"]),
    ("tcp-not-an-object", lambda q, r, q1, r1: with_block(one_node(q, r), "tcp", 5000), "0", ["tcp", "must be an object"]),
]


@pytest.mark.parametrize("case, make, node_id, words", CASES, ids=[c[0] for c in CASES])
def test_config_error_is_clear_and_binds_nothing(tmp_path, case, make, node_id, words):
    ports = [free_port() for _ in range(4)]
    cfg = tmp_path / "cfg.json"
    cfg.write_text(make(*ports))
    rc, out, err = run_to_exit(["-n", node_id, "-c", str(cfg), "-z", os.path.join(ZONE_DIR, "zf0.txt"),
                                "--data-dir", str(tmp_path / "data")], tmp_path)
    assert rc != 0, err
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one message, got:\n{err}"
    for w in words:
        assert w in lines[0], f"{case}: {w!r} missing from: {lines[0]}"
    assert "serving" not in err
    # Nothing is left bound and no data was written.
    for p in ports:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("127.0.0.1", p))
    assert not (tmp_path / "data" / "raft").exists()
