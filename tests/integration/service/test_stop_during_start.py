"""SIGTERM and SIGINT stop a node at any moment of its start, not only once it
serves: a node whose zone files' changes cannot commit (no quorum) retries
them until stopped, and a stop signal must end that at once, cleanly, with
the exit code of an ordinary stop."""
import json
import signal
import time

import pytest

from node_harness import DnsNode, config_for, free_port

ZONE = ('example.com SOA ["ns1.example.com", "hostmaster.example.com"]\n'
        "example.com NS ns1.example.com\nns1.example.com A 192.0.2.53\n")
RETRYING = "zone file changes not committed yet"
STOP_WITHIN_S = 5.0


def wait_for_log(node, text, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert node.proc.poll() is None, f"dns-node exited with {node.proc.returncode}:\n{node.stderr}"
        if text in node.stderr:
            return
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in the log after {timeout}s:\n{node.stderr}")


def stop_and_time(node, sig):
    """Sends `sig` and returns (exit code, seconds to exit); a node still
    running after STOP_WITHIN_S is killed (exit code -9)."""
    started = time.monotonic()
    rc = node.stop(sig, timeout=STOP_WITHIN_S)
    return rc, time.monotonic() - started


def start_seeding_node(tmp_path, config, args=()):
    work = tmp_path / "node"
    (work / "data").mkdir(parents=True, exist_ok=True)
    zone = work / "zf.txt"
    zone.write_text(ZONE)
    return DnsNode(work, config, [str(zone)], args=args)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_lone_node_stops_while_its_seed_waits_for_a_quorum(tmp_path, sig):
    # A node alone commits its zone files' records before it serves. Its data
    # directory says the cluster began with two voters (Raft ids 1 and 2:
    # config ids 0 and 1), as one that ran in a two-node cluster before its
    # config was cut to one node: no quorum, so the seed retries for ever.
    data = tmp_path / "node" / "data"
    data.mkdir(parents=True)
    (data / "cluster-bootstrap.json").write_text(json.dumps({"voters": [1, 2]}))
    node = start_seeding_node(tmp_path, config_for())
    wait_for_log(node, RETRYING)
    rc, took = stop_and_time(node, sig)
    log = node.stderr
    assert rc == 0, f"exit code {rc} after {took:.1f}s:\n{log}"
    assert took < STOP_WITHIN_S, log
    assert f"{sig.name} received, shutting down" in log, log
    assert "stopped after 0 udp and 0 tcp queries" in log, log
    # Asked to stop before its records were in, it never announced serving.
    assert " serving " not in log, log


def test_a_cluster_node_stops_while_its_seed_waits_for_a_quorum(tmp_path):
    # In a cluster the seed waits for a quorum while the node serves; the peer
    # here is never started.
    config = config_for()
    config["nodes"]["1"] = {"query_loc": f"127.0.0.1:{free_port()}", "raft_loc": f"127.0.0.1:{free_port()}"}
    node = start_seeding_node(tmp_path, config, args=("--insecure-peers",))
    wait_for_log(node, RETRYING)
    rc, took = stop_and_time(node, signal.SIGTERM)
    log = node.stderr
    assert rc == 0, f"exit code {rc} after {took:.1f}s:\n{log}"
    assert took < STOP_WITHIN_S, log
    assert "SIGTERM received, shutting down" in log, log
