"""Knot's knsupdate with TSIG: add, delete, and prerequisites that hold and
that fail, on every node."""
import subprocess

from clients_harness import KEY_NAME, KEY_SECRET, need, wait_everywhere


def knsupdate(node, script):
    text = f"server 127.0.0.1 {node.query_port}\nzone example.com.\norigin example.com.\n{script}\nsend\nanswer\n"
    return subprocess.run(["knsupdate", "-y", f"hmac-sha256:{KEY_NAME}:{KEY_SECRET}"], input=text,
                          capture_output=True, text=True, timeout=30)


def test_add_then_delete(cluster):
    need("knsupdate")
    r = knsupdate(cluster.nodes[2], "add kn-add 60 A 192.0.2.51\nadd kn-add 60 AAAA 2001:db8::51")
    assert r.returncode == 0 and "NOERROR" in r.stdout, r.stdout + r.stderr
    wait_everywhere(cluster, "kn-add.example.com.", "A", {"192.0.2.51"})
    wait_everywhere(cluster, "kn-add.example.com.", "AAAA", {"2001:db8::51"})
    r = knsupdate(cluster.nodes[0], "del kn-add A 192.0.2.51")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_everywhere(cluster, "kn-add.example.com.", "A", set())
    wait_everywhere(cluster, "kn-add.example.com.", "AAAA", {"2001:db8::51"})


def test_prerequisites(cluster):
    need("knsupdate")
    r = knsupdate(cluster.nodes[1], "prereq nxdomain kn-pre\nadd kn-pre 60 TXT \"first\"")
    assert r.returncode == 0 and "NOERROR" in r.stdout, r.stdout + r.stderr
    wait_everywhere(cluster, "kn-pre.example.com.", "TXT", {'"first"'})
    # The name exists now: the same update is refused and changes nothing.
    r = knsupdate(cluster.nodes[2], "prereq nxdomain kn-pre\nadd kn-pre 60 TXT \"second\"")
    assert "YXDOMAIN" in r.stdout + r.stderr, r.stdout + r.stderr
    # yxdomain holds: replace the TXT.
    r = knsupdate(cluster.nodes[0], "prereq yxdomain kn-pre\ndel kn-pre TXT\nadd kn-pre 60 TXT \"third\"")
    assert r.returncode == 0 and "NOERROR" in r.stdout, r.stdout + r.stderr
    wait_everywhere(cluster, "kn-pre.example.com.", "TXT", {'"third"'})
    # nxrrset fails: there is a TXT.
    r = knsupdate(cluster.nodes[1], "prereq nxrrset kn-pre TXT\nadd kn-pre 60 TXT \"fourth\"")
    assert "YXRRSET" in r.stdout + r.stderr, r.stdout + r.stderr
    wait_everywhere(cluster, "kn-pre.example.com.", "TXT", {'"third"'})
