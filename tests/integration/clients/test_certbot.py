"""certbot with its rfc2136 plugin (python3-certbot-dns-rfc2136) issues a
certificate from pebble through DNS-01: the plugin adds the _acme-challenge
TXT with a TSIG-signed UPDATE to one node, pebble validates through another
only once every node serves it, and the plugin's cleanup removes it everywhere."""
import os
import subprocess

from acme_harness import ChallengeGate, Pebble, certificate_names
from clients_harness import KEY_NAME, KEY_SECRET, need, wait_everywhere


def test_certbot_dns01_through_rfc2136(cluster, tmp_path):
    need("certbot")
    need("pebble")
    updated, validated = cluster.nodes[0], cluster.nodes[1]
    gate = ChallengeGate(cluster, validated)
    pebble = Pebble(tmp_path, gate.port)
    try:
        ini = tmp_path / "rfc2136.ini"
        ini.write_text(f"dns_rfc2136_server = 127.0.0.1\n"
                       f"dns_rfc2136_port = {updated.query_port}\n"
                       f"dns_rfc2136_name = {KEY_NAME}\n"
                       f"dns_rfc2136_secret = {KEY_SECRET}\n"
                       f"dns_rfc2136_algorithm = HMAC-SHA256\n")
        ini.chmod(0o600)
        r = subprocess.run(
            ["certbot", "certonly", "--non-interactive", "--agree-tos", "-m", "admin@example.com", "--no-eff-email",
             "--server", pebble.directory, "--authenticator", "dns-rfc2136", "--dns-rfc2136-credentials", str(ini),
             "--dns-rfc2136-propagation-seconds", "1", "-d", "certbot.example.com", "-d", "*.certbot.example.com",
             "--config-dir", str(tmp_path / "config"), "--work-dir", str(tmp_path / "work"),
             "--logs-dir", str(tmp_path / "logs")],
            capture_output=True, text=True, timeout=120, env=dict(os.environ, REQUESTS_CA_BUNDLE=pebble.ca))
        assert r.returncode == 0, r.stdout + r.stderr + "\npebble:\n" + pebble.log()
    finally:
        pebble.stop()
        gate.close()
    cert = tmp_path / "config" / "live" / "certbot.example.com" / "fullchain.pem"
    assert certificate_names(str(cert)) == ["*.certbot.example.com", "certbot.example.com"]
    # Pebble asked for the challenge, and at that moment every node served it.
    seen = gate.seen.get("_acme-challenge.certbot.example.com.")
    assert seen, "pebble never asked for the challenge"
    assert all(all(values.values()) for values in seen), seen
    # Cleaned up: the TXT is gone from every node.
    wait_everywhere(cluster, "_acme-challenge.certbot.example.com.", "TXT", set())
