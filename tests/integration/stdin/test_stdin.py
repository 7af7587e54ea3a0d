"""Stdin commands: ADD and REMOVE reach the answers before OK is printed,
bad lines get one ERROR line with the reason, stdout carries only replies."""
import json
import signal
import time

import dns.rcode

from node_harness import rrset_texts


def test_add_then_query_sees_it(node):
    reply = node.command("ADD:  newdomain.example.com \t A  1.3.3.7  ")
    assert reply.startswith("OK"), reply
    # OK is printed after the change is applied: no waiting needed.
    assert rrset_texts(node.query("newdomain.example.com.", "A")) == ["newdomain.example.com. A 1.3.3.7"]
    assert rrset_texts(node.query("newdomain.example.com.", "A", tcp=True)) == ["newdomain.example.com. A 1.3.3.7"]


def test_add_with_ttl_and_master_syntax(node):
    assert node.command("ADD: example.com 600 MX 30 mail3.example.com.").startswith("OK")
    r = node.query("example.com.", "MX")
    assert "example.com. MX 30 mail3.example.com." in rrset_texts(r)
    mx = [rs for rs in r.answer if rs.rdtype == dns.rdatatype.MX][0]
    assert mx.ttl == 600  # the RRset's TTL is the last one given


def test_add_mx_as_json_list(node):
    assert node.command('ADD: example.org MX ["mx.example.org", 5]').startswith("OK")
    assert rrset_texts(node.query("example.org.", "MX")) == ["example.org. MX 5 mx.example.org."]


def test_remove_one_record_then_the_rrset(node):
    assert node.command("ADD: multi.example.com A 10.0.0.1").startswith("OK")
    assert node.command("ADD: multi.example.com A 10.0.0.2").startswith("OK")
    assert node.command("REMOVE: multi.example.com A 10.0.0.1").startswith("OK")
    assert rrset_texts(node.query("multi.example.com.", "A")) == ["multi.example.com. A 10.0.0.2"]
    assert node.command("ADD: multi.example.com TXT hello").startswith("OK")
    assert node.command("REMOVE: multi.example.com A").startswith("OK")
    r = node.query("multi.example.com.", "A")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer  # the name still has its TXT
    assert node.command("REMOVE: multi.example.com TXT hello").startswith("OK")
    assert node.query("multi.example.com.", "A").rcode() == dns.rcode.NXDOMAIN


def test_bad_lines_get_one_error_each(node):
    cases = [
        ("ADD: x.example.com AX 1.2.3.4", "ERROR: line 1: unknown type 'AX'"),
        ("ADD: x.example.com A 1.2.3", "ERROR: line 2: bad A value '1.2.3'"),
        ("ADD: x.example.com A", "ERROR: line 3: missing value"),
        ("FROB", "ERROR: line 4: unknown command 'FROB'"),
        ("ADD: foo.invalid A 1.2.3.4", "ERROR: "),
        ("ADD: www.example.com CNAME elsewhere.example.com", "ERROR: "),
    ]
    for line, expected in cases:
        reply = node.command(line)
        assert reply.startswith(expected), (line, reply)
    assert "no zone for foo.invalid." in node.command("ADD: foo.invalid A 1.2.3.4")
    reply = node.command("ADD: www.example.com CNAME elsewhere.example.com")
    assert "CNAME" in reply and "www.example.com." in reply, reply
    # Nothing of that reached the answers.
    assert node.query("foo.invalid.", "A").rcode() == dns.rcode.REFUSED
    assert rrset_texts(node.query("www.example.com.", "A")) == ["www.example.com. A 192.0.2.10"]


def test_status_and_help(node):
    status = node.command("STATUS")
    assert status.startswith("OK {")
    obj = json.loads(status[3:])
    assert obj["node"] == "0"
    assert obj["role"] == "leader"
    assert obj["records"] > 10
    assert obj["applied_index"] >= 1
    before = obj["applied_index"]
    node.command("ADD: s.example.com A 10.9.9.9")
    assert json.loads(node.command("STATUS")[3:])["applied_index"] > before
    helptext = node.command("HELP")
    assert helptext.startswith("OK ") and "ADD:" in helptext and "REMOVE:" in helptext


def test_stdout_carries_only_replies(start_node):
    node = start_node(args=["--log-level", "debug", "--query-log"])
    for line in ["HELP", "ADD: a.example.com A 10.1.1.1", "bad", "", "STATUS"]:
        node.command(line)
        node.query("a.example.com.", "A")
    node.proc.stdin.close()
    time.sleep(0.3)
    assert node.stop() == 0
    rest = []
    while not node.lines.empty():
        line = node.lines.get()
        if line is not None:
            rest.append(line)
    assert rest == [], rest
    assert "query udp" in node.stderr  # the logs went to stderr


def test_eof_on_stdin_keeps_serving_and_sigterm_exits_zero(node):
    node.proc.stdin.close()
    time.sleep(0.5)
    assert node.proc.poll() is None
    assert rrset_texts(node.query("www.example.com.", "A")) == ["www.example.com. A 192.0.2.10"]
    assert node.stop(signal.SIGTERM) == 0


def test_sigint_exits_zero(node):
    assert node.stop(signal.SIGINT) == 0
    assert "shutting down" in node.stderr
