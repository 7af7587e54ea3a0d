"""inadyn with a custom provider against the HTTP API's DynDNS2 endpoint:
both hostnames set on every node, a forced second run accepted, and a new
address replacing the old one."""
import subprocess

from clients_harness import KEY_NAME, KEY_SECRET, need, wait_everywhere


def inadyn(cluster, tmp_path, ip, force=False):
    node = cluster.nodes[2]
    conf = tmp_path / "inadyn.conf"
    conf.write_text("period = 300\n"
                    "custom dnsnode {\n"
                    "    ssl = false\n"
                    f"    username = \"{KEY_NAME}\"\n"
                    f"    password = \"{KEY_SECRET}\"\n"
                    f"    checkip-command = \"/bin/echo {ip}\"\n"
                    f"    ddns-server = \"127.0.0.1:{node.http_port}\"\n"
                    "    ddns-path = \"/nic/update?hostname=%h&myip=%i\"\n"
                    "    hostname = { \"in1.example.com\", \"in2.example.com\" }\n"
                    "}\n")
    conf.chmod(0o600)
    args = ["inadyn", "--once", "--foreground", "-f", str(conf), f"--cache-dir={tmp_path / 'cache'}",
            "-P", str(tmp_path / "inadyn.pid"), "-l", "debug"] + (["--force"] if force else [])
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_custom_provider_updates_both_names(cluster, tmp_path):
    need("inadyn")
    out = inadyn(cluster, tmp_path, "198.51.100.20")
    for h in ("in1.example.com", "in2.example.com"):
        assert f"good 198.51.100.20" in out and f"Successful alias table update for {h}" in out, out
        wait_everywhere(cluster, h + ".", "A", {"198.51.100.20"})
    out = inadyn(cluster, tmp_path, "198.51.100.20", force=True)
    assert out.count("nochg 198.51.100.20") == 2, out
    out = inadyn(cluster, tmp_path, "198.51.100.21")
    for h in ("in1.example.com", "in2.example.com"):
        wait_everywhere(cluster, h + ".", "A", {"198.51.100.21"})
