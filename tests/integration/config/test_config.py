"""Startup errors: a bad config, an unknown node, a busy port or a missing
zone file give one clear message and a non-zero exit before serving."""
import json
import os
import socket

import pytest

from node_harness import ZONE_DIR, config_for, free_port, rrset_texts, run_to_exit


def run_with_config(tmp_path, text, node_id="0"):
    path = tmp_path / "cfg.json"
    path.write_text(text)
    return run_to_exit(["-n", node_id, "-c", str(path), "-z", os.path.join(ZONE_DIR, "zf0.txt")], tmp_path)


def fail_message(rc, stdout, stderr):
    assert rc != 0, stderr
    assert stdout == ""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr  # one clear message
    assert "serving" not in stderr
    return lines[0]


def test_not_json_names_line_and_column(tmp_path):
    msg = fail_message(*run_with_config(tmp_path, '{"nodes": {\n  "0": {"query_loc": "127.0.0.1:1",}\n}}'))
    assert "cfg.json:2:" in msg and "not valid JSON" in msg


@pytest.mark.parametrize("node_fields, expect", [
    ('{"query_loc": "127.0.0.1:20001"}', 'nodes."0".raft_loc: missing'),
    ('{"query_loc": "127.0.0.1", "raft_loc": "127.0.0.1:20002"}', 'nodes."0".query_loc: address \'127.0.0.1\' has no port'),
    ('{"query_loc": "127.0.0.1:70000", "raft_loc": "127.0.0.1:20002"}', "bad port '70000'"),
    ('{"query_loc": "somehost:53", "raft_loc": "127.0.0.1:20002"}', "not an IPv4 address"),
    ('{"query_loc": 10053, "raft_loc": "127.0.0.1:20002"}', "query_loc: must be a string"),
    ('{"query_loc": "127.0.0.1:20002", "raft_loc": "127.0.0.1:20002"}', "already used by"),
])
def test_bad_node_entries(tmp_path, node_fields, expect):
    msg = fail_message(*run_with_config(tmp_path, '{"nodes": {"0": ' + node_fields + "}}"))
    assert expect in msg, msg


def test_wrong_field_type(tmp_path):
    cfg = config_for(extra={"tcp": {"idle_timeout_ms": "ten seconds"}})
    msg = fail_message(*run_with_config(tmp_path, json.dumps(cfg)))
    assert "tcp.idle_timeout_ms: must be a whole number" in msg


def test_unknown_node_id(tmp_path):
    msg = fail_message(*run_with_config(tmp_path, json.dumps(config_for()), node_id="7"))
    assert 'node "7" is not in the configuration (nodes: 0)' in msg


def test_missing_config_file(tmp_path):
    rc, out, err = run_to_exit(["-n", "0", "-c", str(tmp_path / "nope.json")], tmp_path)
    msg = fail_message(rc, out, err)
    assert "nope.json: cannot read" in msg


def test_bad_config_does_not_bind(tmp_path):
    port = free_port()
    cfg = config_for(query_port=port, extra={"udp_threads": "many"})
    fail_message(*run_with_config(tmp_path, json.dumps(cfg)))
    # Nothing was left bound: the port is still free for us.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_STREAM])
def test_port_in_use(tmp_path, kind):
    port = free_port()
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind(("127.0.0.1", port))
        if kind == socket.SOCK_STREAM:
            holder.listen()
        msg = fail_message(*run_with_config(tmp_path, json.dumps(config_for(query_port=port))))
    proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
    assert f"cannot listen on {proto} 127.0.0.1:{port}" in msg, msg
    assert "in use" in msg


def test_missing_zone_file(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(config_for()))
    rc, out, err = run_to_exit(["-n", "0", "-c", str(path), "-z", str(tmp_path / "zf9.txt")], tmp_path)
    assert rc != 0
    assert "zf9.txt: cannot open zone file" in err


def test_usage_errors_and_help(tmp_path):
    rc, out, err = run_to_exit(["-c", "x.json"], tmp_path)
    assert rc == 2 and "--node" in err
    rc, out, err = run_to_exit(["-n", "0", "--unreliable", "drop=7"], tmp_path)
    assert rc == 2 and "drop must be in [0,1]" in err
    rc, out, err = run_to_exit(["--help"], tmp_path)
    assert rc == 0 and "--zone" in out and "--data-dir" in out
    rc, out, err = run_to_exit(["--version"], tmp_path)
    assert rc == 0 and out.startswith("dns-node ")


def test_bad_zone_lines_warn_and_the_rest_loads(start_node):
    zone = ("example.com SOA [\"ns1.example.com\", \"hostmaster.example.com\"]\n"
            "www.example.com A 192.0.2.10\n"
            "bad.example.com A 999.1.1.1\n"
            "other.example.net A 192.0.2.11\n"
            "mail.example.com A 192.0.2.25\n")
    node = start_node(zones={"zf0.txt": zone})
    assert rrset_texts(node.query("mail.example.com.", "A")) == ["mail.example.com. A 192.0.2.25"]
    err = node.stderr
    assert "zf0.txt:3:" in err  # the line that did not parse, with its number
    assert "rejected adding other.example.net." in err  # the record outside every zone, with the reason
