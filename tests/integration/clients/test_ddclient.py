"""ddclient 3.10 (dyndns2) against the HTTP API: two hostnames in one
request, `nochg` when it runs again with the same address, and an IPv6
address making an AAAA record, on every node."""
import os
import signal
import subprocess

from clients_harness import KEY_NAME, KEY_SECRET, need, wait_everywhere


def ddclient(cluster, tmp_path, conf_name, hosts, ip, force=False):
    node = cluster.nodes[1]
    conf = tmp_path / conf_name
    conf.write_text("daemon=0\nsyslog=no\nssl=no\nprotocol=dyndns2\n"
                    f"server=127.0.0.1:{node.http_port}\n"
                    f"login={KEY_NAME}\npassword='{KEY_SECRET}'\n"
                    f"use=ip, ip={ip}\n"
                    f"{','.join(hosts)}\n")
    conf.chmod(0o600)  # ddclient refuses a config others may read
    pid_file = tmp_path / (conf_name + ".pid")
    # -daemon=0 on the command line: run once (the config's daemon=0 alone
    # does not stop ddclient 3.10 from staying in the background).
    args = ["ddclient", "-daemon=0", "-file", str(conf), "-cache", str(tmp_path / (conf_name + ".cache")),
            "-pid", str(pid_file), "-verbose", "-noquiet"] + (["-force"] if force else [])
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if pid_file.exists():  # it went to the background after all: end it, and fail
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
        raise AssertionError("ddclient stayed in the background:\n" + r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_two_hostnames_in_one_request_then_nochg(cluster, tmp_path):
    need("ddclient")
    hosts = ["dd1.example.com", "dd2.example.com"]
    out = ddclient(cluster, tmp_path, "v4.conf", hosts, "198.51.100.7")
    # One request for both names, each answered good.
    assert out.count("SENDING:  GET /nic/update?") == 1, out
    assert "hostname=dd1.example.com,dd2.example.com&myip=198.51.100.7" in out, out
    for h in hosts:
        assert f"SUCCESS:  updating {h}: good: IP address set to 198.51.100.7" in out, out
        wait_everywhere(cluster, h + ".", "A", {"198.51.100.7"})
    # Run again (forced past its cache, as after a restart): nothing changes.
    out = ddclient(cluster, tmp_path, "v4.conf", hosts, "198.51.100.7", force=True)
    for h in hosts:
        assert f"updating {h}: nochg" in out, out
    # A new address replaces the old one (a fresh cache: ddclient itself
    # waits 30 s between two updates of a name).
    out = ddclient(cluster, tmp_path, "v4-new.conf", hosts, "198.51.100.8")
    for h in hosts:
        assert f"SUCCESS:  updating {h}: good: IP address set to 198.51.100.8" in out, out
        wait_everywhere(cluster, h + ".", "A", {"198.51.100.8"})


def test_an_ipv6_address_makes_an_aaaa_record(cluster, tmp_path):
    need("ddclient")
    out = ddclient(cluster, tmp_path, "v6.conf", ["dd6.example.com"], "2001:db8::7")
    assert "SUCCESS:  updating dd6.example.com: good: IP address set to 2001:db8::7" in out, out
    wait_everywhere(cluster, "dd6.example.com.", "AAAA", {"2001:db8::7"})
    wait_everywhere(cluster, "dd6.example.com.", "A", set())
