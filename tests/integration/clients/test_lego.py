"""lego's rfc2136 provider issues a certificate from pebble through DNS-01:
the TXT is added with a TSIG-signed UPDATE to one node, pebble validates
through another only once every node serves it, and lego's cleanup removes
it everywhere."""
import os
import subprocess

from acme_harness import ChallengeGate, Pebble, certificate_names
from clients_harness import KEY_NAME, KEY_SECRET, need, wait_everywhere


def test_lego_dns01_through_rfc2136(cluster, tmp_path):
    need("lego")
    need("pebble")
    updated, validated = cluster.nodes[2], cluster.nodes[0]
    gate = ChallengeGate(cluster, validated)
    pebble = Pebble(tmp_path, gate.port)
    try:
        env = dict(os.environ, LEGO_CA_CERTIFICATES=pebble.ca,
                   RFC2136_NAMESERVER=f"127.0.0.1:{updated.query_port}", RFC2136_TSIG_KEY=KEY_NAME,
                   RFC2136_TSIG_SECRET=KEY_SECRET, RFC2136_TSIG_ALGORITHM="hmac-sha256.",
                   RFC2136_PROPAGATION_TIMEOUT="30", RFC2136_POLLING_INTERVAL="1")
        # The zone is found through the node; lego's own check of the zone's
        # NS servers would query them on port 53, so the gate stands in for it.
        r = subprocess.run(
            ["lego", "--server", pebble.directory, "--email", "admin@example.com", "--accept-tos", "--dns", "rfc2136",
             "--dns.resolvers", f"127.0.0.1:{updated.query_port}", "--dns.disable-cp",
             "--domains", "lego.example.com", "--path", str(tmp_path / "lego"), "run"],
            capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stdout + r.stderr + "\npebble:\n" + pebble.log()
    finally:
        pebble.stop()
        gate.close()
    cert = tmp_path / "lego" / "certificates" / "lego.example.com.crt"
    assert certificate_names(str(cert)) == ["lego.example.com"]
    seen = gate.seen.get("_acme-challenge.lego.example.com.")
    assert seen, "pebble never asked for the challenge"
    assert all(all(values.values()) for values in seen), seen
    wait_everywhere(cluster, "_acme-challenge.lego.example.com.", "TXT", set())
