"""dns-nodectl against a running node: the stdin commands and replies over
the control socket, exit statuses 0/1/2, --json, the zone commands, and the
socket's access mode and connection bound."""
import json
import os
import signal
import socket
import stat
import subprocess
import time

import pytest

from harness import Cluster
from node_harness import BIN, DnsNode, config_for, rrset_texts

CTL = os.environ.get("DNSNODECTL_BIN", os.path.join(os.path.dirname(BIN), "..", "ctl", "dns-nodectl"))


def ctl(node, *args, input=None, timeout=30):
    sock = os.path.join(node.workdir, "data", "control.sock")
    return subprocess.run([CTL, "-s", sock, *args], capture_output=True, text=True, input=input, timeout=timeout)


def test_each_stdin_command_gives_the_same_reply_on_the_socket(node):
    r = ctl(node, "add", "ctl.example.com", "300", "A", "192.0.2.55")
    assert (r.returncode, r.stdout) == (0, "OK added ctl.example.com. 300 IN A 192.0.2.55\n"), r.stderr
    assert rrset_texts(node.query("ctl.example.com.", "A")) == ["ctl.example.com. A 192.0.2.55"]
    # The same node, the same state: stdin and the socket answer alike.
    for args, line in [(["digest"], "DIGEST"), (["members"], "MEMBERS")]:
        r = ctl(node, *args)
        assert r.returncode == 0
        assert r.stdout == node.command(line) + "\n"
    r = ctl(node, "member", "remove", "9")
    assert r.returncode == 1
    assert r.stdout == node.command("MEMBER REMOVE 9") + "\n"
    status = ctl(node, "status")
    assert status.returncode == 0 and status.stdout.startswith("OK {")
    assert json.loads(status.stdout[3:])["role"] == "leader"
    r = ctl(node, "remove", "ctl.example.com", "A")
    assert (r.returncode, r.stdout) == (0, "OK removed ctl.example.com. A\n")
    assert node.query("ctl.example.com.", "A").answer == []
    # stdin still works beside the socket.
    assert node.command("ADD: stdin.example.com A 192.0.2.56") == "OK added stdin.example.com. 3600 IN A 192.0.2.56"


def test_a_value_that_looks_like_an_option_is_part_of_the_record(node):
    # "remove NAME TXT -all" must remove that one record: were "-all" taken
    # for an option and dropped, the line would remove the whole RRset.
    for value in ("-all", "keep"):
        r = ctl(node, "add", "dash.example.com", "TXT", value)
        assert r.returncode == 0, r.stdout + r.stderr
    r = ctl(node, "remove", "dash.example.com", "TXT", "-all")
    assert (r.returncode, r.stdout) == (0, 'OK removed dash.example.com. TXT "-all"\n'), r.stdout + r.stderr
    assert rrset_texts(node.query("dash.example.com.", "TXT")) == ['dash.example.com. TXT "keep"']
    r = ctl(node, "remove", "dash.example.com")
    assert r.returncode == 2 and "usage: dns-nodectl remove NAME TYPE [VALUE]" in r.stderr


def test_exit_status_is_1_on_error_and_2_when_the_node_cannot_be_asked(node, tmp_path):
    r = ctl(node, "add", "bad.example.com", "A", "300.1.1.1")
    assert r.returncode == 1
    assert r.stdout.startswith("ERROR: line 1: bad A value '300.1.1.1'")
    r = ctl(node, "add", "outside.example.net", "A", "192.0.2.1")
    assert r.returncode == 1 and r.stdout.startswith("ERROR: "), r.stdout
    r = subprocess.run([CTL, "-s", str(tmp_path / "nothing.sock"), "status"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "is the node running?" in r.stderr
    r = subprocess.run([CTL, "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2
    r = subprocess.run([CTL, "add", "too.example.com"], capture_output=True, text=True)
    assert r.returncode == 2
    r = subprocess.run([CTL, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "zone" in r.stdout


def test_json_output(node):
    s = json.loads(ctl(node, "--json", "status").stdout)
    assert s["role"] == "leader" and s["node"] == "0"
    d = json.loads(ctl(node, "--json", "digest").stdout)
    assert node.command("DIGEST") == f"OK {d['digest']} {d['applied_index']} {d['records']}"
    a = ctl(node, "--json", "add", "j.example.com", "A", "192.0.2.7")
    assert json.loads(a.stdout) == {"ok": True, "message": "added j.example.com. 3600 IN A 192.0.2.7"}
    e = ctl(node, "--json", "add", "j.example.com", "A", "nope")
    assert e.returncode == 1
    assert json.loads(e.stdout)["ok"] is False
    zones = json.loads(ctl(node, "--json", "zones").stdout)
    assert {z["zone"] for z in zones} == {"example.com.", "example.org."}
    assert all(isinstance(z["serial"], int) and z["records"] > 0 for z in zones)


def test_zone_export_is_a_master_file_that_dns_node_loads(node, start_node, tmp_path):
    r = ctl(node, "zone", "export", "example.com")
    assert r.returncode == 0
    text = r.stdout
    assert "$ORIGIN example.com.\n" in text
    assert "\nwww.example.com. 3600 IN A 192.0.2.10\n" in text
    exported = tmp_path / "example.com.zone"
    exported.write_text(text)
    other = start_node(zones=[str(exported)])
    assert ctl(other, "zone", "show", "example.com").stdout == ctl(node, "zone", "show", "example.com").stdout
    assert ctl(other, "zone", "export", "example.com").stdout == text


def test_zone_import_applies_the_difference_as_one_change(node, tmp_path):
    text = ctl(node, "zone", "export", "example.com").stdout
    before = json.loads(ctl(node, "--json", "status").stdout)["applied_index"]
    edited = text.replace("www.example.com. 3600 IN A 192.0.2.10\n", "www.example.com. 3600 IN A 192.0.2.11\n")
    edited += "imported.example.com. 60 IN TXT \"from a file\"\n"
    f = tmp_path / "edited.zone"
    f.write_text(edited)
    r = ctl(node, "zone", "import", str(f))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("OK imported example.com.: 2 added, 1 removed; serial "), r.stdout
    # The progress line: what was parsed, at what rate, and what is committed.
    assert "records/s" in r.stderr and "2 to add, 1 to remove: committing as one change" in r.stderr, r.stderr
    assert json.loads(ctl(node, "--json", "status").stdout)["applied_index"] == before + 1
    assert rrset_texts(node.query("www.example.com.", "A")) == ["www.example.com. A 192.0.2.11"]
    assert rrset_texts(node.query("imported.example.com.", "TXT")) == ['imported.example.com. TXT "from a file"']
    # Again: nothing to do; from standard input too.
    r = ctl(node, "zone", "import", "-", input=edited)
    assert r.returncode == 0 and "unchanged" in r.stdout
    r = ctl(node, "zone", "import", "-", input="not a zone\n")
    assert r.returncode == 1 and r.stdout.startswith("ERROR: nothing imported"), r.stdout


def test_socket_is_for_the_nodes_user_and_group_only(node):
    mode = stat.S_IMODE(os.stat(os.path.join(node.workdir, "data", "control.sock")).st_mode)
    assert mode == 0o660


def test_connections_are_bounded_and_an_overlong_line_is_refused(node):
    path = os.path.join(node.workdir, "data", "control.sock")
    held = []
    try:
        for _ in range(16):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.sendall(b"STATUS\n")
            assert s.makefile().readline().startswith("OK {")
            held.append(s)
        r = ctl(node, "status")
        assert r.returncode == 2
        assert "too many control connections (at most 16)" in r.stderr
        held.pop().close()
        deadline = time.time() + 5
        while ctl(node, "status").returncode != 0:
            assert time.time() < deadline, "a closed connection never made room"
            time.sleep(0.05)
        s = held[0]
        s.sendall(b"ADD: " + b"x" * 70000 + b"\nSTATUS\n")
        f = s.makefile()
        assert f.readline().startswith("ERROR: line 2: line longer than 65536 bytes")
        assert f.readline().startswith("OK {")
    finally:
        for s in held:
            s.close()


def test_a_socket_left_by_a_killed_node_is_replaced(start_node):
    n = start_node()
    n.proc.send_signal(signal.SIGKILL)
    n.proc.wait()
    sock = os.path.join(n.workdir, "data", "control.sock")
    assert os.path.exists(sock)
    again = DnsNode(n.workdir, n.config, []).wait_ready()
    try:
        assert ctl(n, "status").returncode == 0
    finally:
        again.stop()
    assert not os.path.exists(sock)  # a clean stop removes it


def test_a_change_through_a_followers_socket_reaches_every_node(tmp_path):
    c = Cluster(tmp_path, 3).start()
    try:
        follower = c.follower()
        sock = os.path.join(follower.data_dir, "control.sock")
        r = subprocess.run([CTL, "-d", follower.data_dir, "add", "via-ctl.example.com", "A", "192.0.2.77"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        c.wait_all_answer("via-ctl.example.com.", {"192.0.2.77"})
        text = subprocess.run([CTL, "-s", sock, "zone", "export", "example.com"], capture_output=True,
                              text=True).stdout
        text += "imported.example.com. 60 IN A 192.0.2.78\n"
        r = subprocess.run([CTL, "-s", sock, "zone", "import", "-"], input=text, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0 and "1 added, 0 removed" in r.stdout, r.stdout + r.stderr
        c.wait_all_answer("imported.example.com.", {"192.0.2.78"})
    finally:
        c.stop()


def test_a_data_directory_deeper_than_a_socket_address_holds(tmp_path):
    # A sockaddr_un holds 107 octets; the node and dns-nodectl both reach
    # the socket through its directory.
    work = tmp_path / ("w" * 60) / ("v" * 60)
    work.mkdir(parents=True)
    n = DnsNode(work, config_for(), []).wait_ready()
    try:
        sock = os.path.join(n.workdir, "data", "control.sock")
        assert len(sock) > 107
        r = subprocess.run([CTL, "-s", sock, "status"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith("OK {"), r.stdout + r.stderr
    finally:
        n.stop()
