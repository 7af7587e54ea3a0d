"""Prometheus's own checker accepts every node's /metrics."""
import subprocess
import urllib.request

from clients_harness import need


def test_promtool_check_metrics_passes_on_every_node(cluster):
    need("promtool")
    # Some traffic first, so that labelled series (per type, rcode, peer) exist.
    for n in cluster.nodes:
        n.query("example.com.", "SOA")
        n.query("nothing.example.com.", "A")
        n.query("example.com.", "MX", tcp=True)
    for n in cluster.nodes:
        with urllib.request.urlopen(f"http://127.0.0.1:{n.http_port}/metrics", timeout=10) as r:
            text = r.read()
        assert b"dnsnode_queries_total" in text
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30)
        assert r.returncode == 0, f"node {n.id}:\n" + r.stdout.decode() + r.stderr.decode()
        assert r.stdout.decode().strip() == "" and r.stderr.decode().strip() == "", r.stdout + r.stderr
