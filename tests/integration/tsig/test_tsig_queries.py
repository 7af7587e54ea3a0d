"""TSIG on queries (RFC 8945), with real clients: dig -y and kdig -y get
verified signed answers over UDP and TCP, for hmac-sha256 and hmac-md5 (the
default of certbot and cert-manager); an unknown key gets NOTAUTH/BADKEY, a
wrong secret NOTAUTH/BADSIG, a stale clock a signed NOTAUTH/BADTIME that
carries the server's time."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from unittest import mock

import dns.message
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import pytest

from node_harness import ZONE_DIR, DnsNode, config_for, free_port

SECRET = "c2lnbmVkLXF1ZXJ5LXRlc3Qta2V5LXNlY3JldC0zMmI="
OTHER_SECRET = "b3RoZXItc2VjcmV0LW9mLXRoaXJ0eS10d28tYnl0ZXM="
KEYS = [
    {"name": "query-key.", "algorithm": "hmac-sha256", "secret": SECRET},
    {"name": "certbot-key.", "algorithm": "hmac-md5", "secret": SECRET},
    {"name": "sha512-key.", "algorithm": "hmac-sha512", "secret": SECRET},
]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One node for the module: example.com (zf0) and a TXT RRset of about
    4 KB, big.example.com, that only TCP carries whole; /metrics on n.http_port."""
    workdir = tmp_path_factory.mktemp("tsig")
    big = workdir / "big.txt"
    big.write_text("".join(f'big.example.com TXT "{i:02d}{"x" * 200}"\n' for i in range(20)))
    cfg = config_for(extra={"tsig_keys": KEYS})
    http_port = free_port()
    cfg["nodes"]["0"]["http_loc"] = f"127.0.0.1:{http_port}"
    n = DnsNode(workdir, cfg, [os.path.join(ZONE_DIR, "zf0.txt"), str(big)])
    n.http_port = http_port
    n.wait_ready()
    yield n
    n.stop(signal.SIGKILL)


def signed_query_counts(node):
    """dnsnode_signed_queries_total by TSIG outcome, from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {o: int(n) for o, n in re.findall(r'^dnsnode_signed_queries_total\{tsig="(\w+)"\} (\d+)', text, re.M)}


def test_metrics_count_signed_queries_by_outcome(node):
    before = signed_query_counts(node)
    run("dig", node, "-y", f"hmac-sha256:query-key.:{SECRET}", "www.example.com", "A")
    run("dig", node, "-y", f"hmac-sha256:stranger-key.:{SECRET}", "www.example.com", "A")
    after = signed_query_counts(node)
    assert after.get("verified", 0) - before.get("verified", 0) == 1, (before, after)
    assert after.get("BADKEY", 0) - before.get("BADKEY", 0) == 1, (before, after)


def run(tool, node, *args):
    path = shutil.which(tool) or f"/usr/bin/{tool}"
    once = ["+tries=1", "+time=3"] if tool == "dig" else ["+retry=0", "+timeout=3"]
    r = subprocess.run([path, f"@{node.host}", "-p", str(node.port), *once, *args],
                       capture_output=True, text=True, timeout=20)
    return r.stdout + r.stderr


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
@pytest.mark.parametrize("key", ["hmac-sha256:query-key.", "hmac-md5:certbot-key.", "hmac-sha512:sha512-key."])
def test_dig_gets_a_verified_signed_answer(node, transport, key):
    out = run("dig", node, "-y", f"{key}:{SECRET}", transport, "www.example.com", "A")
    assert "status: NOERROR" in out, out
    assert re.search(r"^www\.example\.com\.\s+\d+\s+IN\s+A\s+192\.0\.2\.10", out, re.M), out
    assert "TSIG PSEUDOSECTION" in out, out
    assert "Couldn't verify" not in out and "expected a TSIG" not in out, out


def test_dig_with_an_unknown_key_gets_notauth_badkey(node):
    out = run("dig", node, "-y", f"hmac-sha256:stranger-key.:{SECRET}", "www.example.com", "A")
    assert "status: NOTAUTH" in out, out
    assert "BADKEY" in out, out
    assert not re.search(r"^www\.example\.com\.\s+\d+\s+IN\s+A", out, re.M), out


def test_dig_with_a_wrong_secret_gets_notauth_badsig(node):
    out = run("dig", node, "-y", f"hmac-sha256:query-key.:{OTHER_SECRET}", "www.example.com", "A")
    assert "status: NOTAUTH" in out, out
    assert "BADSIG" in out, out
    assert not re.search(r"^www\.example\.com\.\s+\d+\s+IN\s+A", out, re.M), out


def test_dig_with_the_wrong_algorithm_for_a_known_key_gets_badkey(node):
    out = run("dig", node, "-y", f"hmac-sha1:query-key.:{SECRET}", "www.example.com", "A")
    assert "status: NOTAUTH" in out and "BADKEY" in out, out


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
def test_kdig_gets_a_verified_signed_answer(node, transport):
    out = run("kdig", node, "-y", f"hmac-sha256:query-key.:{SECRET}", transport, "www.example.com", "A")
    assert "status: NOERROR" in out, out
    assert re.search(r"^www\.example\.com\.\s+\d+\s+IN\s+A\s+192\.0\.2\.10", out, re.M), out
    assert "TSIG PSEUDOSECTION" in out, out
    assert "WARNING" not in out and "failed" not in out.lower(), out


def test_kdig_with_a_wrong_secret_is_told_badsig(node):
    # kdig shows the TSIG error as the status (NOTAUTH extended by BADSIG).
    out = run("kdig", node, "-y", f"hmac-sha256:query-key.:{OTHER_SECRET}", "www.example.com", "A")
    assert "status: BADSIG" in out and "ANSWER: 0" in out, out


def test_truncated_answer_is_signed(node):
    out = run("dig", node, "-y", f"hmac-sha256:query-key.:{SECRET}", "+ignore", "big.example.com", "TXT")
    assert re.search(r";; flags: [a-z ]*\btc\b", out), out
    assert int(re.search(r";; MSG SIZE\s+rcvd: (\d+)", out).group(1)) <= 1232, out
    assert "TSIG PSEUDOSECTION" in out, out
    assert "Couldn't verify" not in out, out
    # Over TCP the whole RRset comes back, signed.
    out = run("dig", node, "-y", f"hmac-sha256:query-key.:{SECRET}", "+tcp", "big.example.com", "TXT")
    assert len(re.findall(r"^big\.example\.com\.\s+\d+\s+IN\s+TXT", out, re.M)) == 20, out
    assert "Couldn't verify" not in out and "TSIG PSEUDOSECTION" in out, out


def signed_query(sign_time, tcp=False, node=None):
    """A dnspython query signed as if the clock read `sign_time`; returns
    (raw answer, request MAC)."""
    ring = dns.tsigkeyring.from_text({"query-key.": ("hmac-sha256", SECRET)})
    q = dns.message.make_query("www.example.com.", "A")
    q.use_tsig(ring, keyname="query-key.")
    with mock.patch("time.time", return_value=sign_time):
        wire = q.to_wire()
    if tcp:
        with socket.create_connection((node.host, node.port), timeout=5) as s:
            s.sendall(len(wire).to_bytes(2, "big") + wire)
            head = s.recv(2, socket.MSG_WAITALL)
            data = s.recv(int.from_bytes(head, "big"), socket.MSG_WAITALL)
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(wire, (node.host, node.port))
            data, _ = s.recvfrom(65535)
    return data, q.mac, ring


@pytest.mark.parametrize("tcp", [False, True])
def test_stale_clock_gets_a_signed_badtime_with_the_servers_time(node, tcp):
    stale = int(time.time()) - 3600
    data, mac, ring = signed_query(stale, tcp, node)
    assert data[3] & 0x0F == dns.rcode.NOTAUTH
    # dnspython checks the answer's MAC, then reports the server's BADTIME.
    with mock.patch("time.time", return_value=stale):
        with pytest.raises(dns.tsig.PeerBadTime):
            dns.message.from_wire(data, keyring=ring, request_mac=mac)
    # RFC 8945 §5.2.3: Other Data (the message's last octets) is the server's clock.
    assert data[-8:-6] == b"\x00\x06"
    server_time = int.from_bytes(data[-6:], "big")
    assert abs(server_time - time.time()) < 60


@pytest.mark.parametrize("tcp", [False, True])
def test_dnspython_verifies_a_signed_answer(node, tcp):
    data, mac, ring = signed_query(int(time.time()), tcp, node)
    r = dns.message.from_wire(data, keyring=ring, request_mac=mac)  # raises unless it verifies
    assert r.rcode() == dns.rcode.NOERROR
    assert r.had_tsig
    assert [str(rd) for rd in r.answer[0]] == ["192.0.2.10"]
