"""BIND's nsupdate with TSIG (a key file, as operators keep it): add,
delete, and prerequisites that hold and that fail, on every node."""
import subprocess

from clients_harness import KEY_NAME, KEY_SECRET, need, wait_everywhere


def nsupdate(tmp_path, node, script, tcp=False):
    key = tmp_path / "ddns.key"
    key.write_text(f'key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{KEY_SECRET}"; }};\n')
    text = f"server 127.0.0.1 {node.query_port}\nzone example.com.\n{script}\nsend\n"
    args = ["nsupdate", "-k", str(key)] + (["-v"] if tcp else [])
    return subprocess.run(args, input=text, capture_output=True, text=True, timeout=30)


def test_add_then_delete(cluster, tmp_path):
    need("nsupdate")
    r = nsupdate(tmp_path, cluster.nodes[1], "update add ns-add.example.com. 60 A 192.0.2.41\n"
                                             "update add ns-add.example.com. 60 TXT \"added by nsupdate\"")
    assert r.returncode == 0, r.stderr
    wait_everywhere(cluster, "ns-add.example.com.", "A", {"192.0.2.41"})
    wait_everywhere(cluster, "ns-add.example.com.", "TXT", {'"added by nsupdate"'})
    r = nsupdate(tmp_path, cluster.nodes[2], "update delete ns-add.example.com. A", tcp=True)
    assert r.returncode == 0, r.stderr
    wait_everywhere(cluster, "ns-add.example.com.", "A", set())
    wait_everywhere(cluster, "ns-add.example.com.", "TXT", {'"added by nsupdate"'})
    r = nsupdate(tmp_path, cluster.nodes[0], "update delete ns-add.example.com.")
    assert r.returncode == 0, r.stderr
    wait_everywhere(cluster, "ns-add.example.com.", "TXT", set())


def test_prerequisites(cluster, tmp_path):
    need("nsupdate")
    # nxdomain holds: the name is new.
    r = nsupdate(tmp_path, cluster.nodes[0], "prereq nxdomain ns-pre.example.com.\n"
                                             "update add ns-pre.example.com. 60 A 192.0.2.42")
    assert r.returncode == 0, r.stderr
    wait_everywhere(cluster, "ns-pre.example.com.", "A", {"192.0.2.42"})
    # nxdomain fails now: YXDOMAIN, nothing changes.
    r = nsupdate(tmp_path, cluster.nodes[1], "prereq nxdomain ns-pre.example.com.\n"
                                             "update add ns-pre.example.com. 60 A 192.0.2.43")
    assert r.returncode != 0 and "YXDOMAIN" in r.stdout + r.stderr, r.stdout + r.stderr
    # yxrrset with a value: replace only if the address is still the one we know.
    r = nsupdate(tmp_path, cluster.nodes[2], "prereq yxrrset ns-pre.example.com. A 192.0.2.42\n"
                                             "update delete ns-pre.example.com. A\n"
                                             "update add ns-pre.example.com. 60 A 192.0.2.44")
    assert r.returncode == 0, r.stderr
    wait_everywhere(cluster, "ns-pre.example.com.", "A", {"192.0.2.44"})
    r = nsupdate(tmp_path, cluster.nodes[0], "prereq yxrrset ns-pre.example.com. A 192.0.2.42\n"
                                             "update delete ns-pre.example.com. A")
    assert r.returncode != 0 and "NXRRSET" in r.stdout + r.stderr, r.stdout + r.stderr
    wait_everywhere(cluster, "ns-pre.example.com.", "A", {"192.0.2.44"})


def test_a_wrong_key_is_refused(cluster, tmp_path):
    need("nsupdate")
    key = tmp_path / "wrong.key"
    key.write_text(f'key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "d3JvbmcgZDNJdmJtYyBzZWNyZXQ="; }};\n')
    text = f"server 127.0.0.1 {cluster.nodes[0].query_port}\nzone example.com.\n" \
           "update add ns-bad.example.com. 60 A 192.0.2.45\nsend\n"
    r = subprocess.run(["nsupdate", "-k", str(key)], input=text, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stdout + r.stderr
    wait_everywhere(cluster, "ns-bad.example.com.", "A", set())
