"""Shared fixtures for the integration tests (helpers in node_harness.py)."""
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from node_harness import ZONE_DIR, DnsNode, config_for  # noqa: E402


@pytest.fixture
def start_node(tmp_path):
    """Factory: start_node(config=None, zones=None, args=(), host=...) -> a ready DnsNode.
    `zones` is a list of paths or {filename: text}; by default the shipped zf0 and zf1."""
    nodes = []

    def start(config=None, zones=None, args=(), host="127.0.0.1", wait=True):
        workdir = tmp_path / f"node{len(nodes)}"
        workdir.mkdir()
        if zones is None:
            zone_paths = [os.path.join(ZONE_DIR, "zf0.txt"), os.path.join(ZONE_DIR, "zf1.txt")]
        elif isinstance(zones, dict):
            zone_paths = []
            for name, text in zones.items():
                p = workdir / name
                p.write_text(text)
                zone_paths.append(str(p))
        else:
            zone_paths = list(zones)
        node = DnsNode(workdir, config or config_for(host), zone_paths, args)
        nodes.append(node)
        return node.wait_ready() if wait else node

    yield start
    for n in nodes:
        n.stop(signal.SIGKILL)


@pytest.fixture
def node(start_node):
    """A node serving the shipped zf0.txt and zf1.txt (example.com, example.org)."""
    return start_node()
