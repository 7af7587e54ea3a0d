"""Least privilege on the HTTP API: key roles (update, admin, none), reads
without a key only from http.open_reads_from, HTTPS on http_loc, and the
warning when basic auth crosses a network in clear."""
import base64
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from harness import BIN, ZONE_HEAD, free_port
from http_harness import KEY_NAME, KEY_SECRET, LIMITED_NAME, LIMITED_SECRET, curl, http_cluster

ADMIN_NAME = "admin-key."
ADMIN_SECRET = base64.b64encode(b"the cluster administrator's key!").decode()
NOROLE_NAME = "norole-key."
NOROLE_SECRET = base64.b64encode(b"a key that was given no role yet").decode()

KEYS = [
    {"name": ADMIN_NAME, "secret": ADMIN_SECRET, "role": "admin"},
    {"name": KEY_NAME, "secret": KEY_SECRET, "role": "update"},
    {"name": LIMITED_NAME, "secret": LIMITED_SECRET, "role": "update",
     "policy": [{"grant": "subdomain", "name": "dyn.example.com.", "types": ["A", "AAAA"]}]},
    {"name": NOROLE_NAME, "secret": NOROLE_SECRET},
]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """One node whose reads are open to 127.0.0.1 only (not the rest of 127/8)."""
    c = http_cluster(tmp_path_factory.mktemp("httpsec"), 1, tsig_keys=KEYS,
                     http={"open_reads_from": ["127.0.0.1/32"]})
    c.start()
    yield c.nodes[0]
    c.stop()


FROM_OTHER = ["--interface", "127.0.0.2"]  # a loopback address outside open_reads_from


def test_update_keys_get_403_on_every_members_endpoint(node):
    body = json.dumps({"id": 5, "query_loc": f"127.0.0.1:{free_port()}", "raft_loc": f"127.0.0.1:{free_port()}"})
    for user, secret in ((KEY_NAME, KEY_SECRET), (LIMITED_NAME, LIMITED_SECRET), (NOROLE_NAME, NOROLE_SECRET)):
        for method, path, data in (("GET", "/api/v1/members", None), ("POST", "/api/v1/members", body),
                                   ("DELETE", "/api/v1/members/0", None)):
            status, reply = curl(node, path, user, secret, method, data)
            assert status == 403 and "admin" in reply, (user, method, status, reply)
    # Without a key, even from an open network: 401.
    assert curl(node, "/api/v1/members")[0] == 401
    # Nothing changed: the admin still sees one member.
    status, reply = curl(node, "/api/v1/members", ADMIN_NAME, ADMIN_SECRET)
    assert status == 200 and sorted(json.loads(reply)["members"]) == ["0"], reply
    # The admin passes the check; the node's own refusal (no member 9) is what answers.
    assert curl(node, "/api/v1/members/9", ADMIN_NAME, ADMIN_SECRET, "DELETE")[0] == 409


def test_a_key_without_a_role_changes_nothing_over_http(node):
    status, reply = curl(node, "/api/v1/zones/example.com/records", NOROLE_NAME, NOROLE_SECRET, "POST",
                         json.dumps({"name": "norole", "type": "A", "data": "192.0.2.9"}))
    assert status == 403 and "role" in reply, reply
    assert curl(node, "/nic/update?hostname=norole.example.com&myip=192.0.2.9", NOROLE_NAME, NOROLE_SECRET) == \
        (200, "nohost")
    assert node.addresses("norole.example.com.") is None
    # It may still read from where reads need a key.
    status, _ = curl(node, "/api/v1/zones/example.com/records", NOROLE_NAME, NOROLE_SECRET, options=FROM_OTHER)
    assert status == 200


def test_update_and_admin_keys_change_what_their_role_allows(node):
    assert curl(node, "/nic/update?hostname=pc.dyn.example.com&myip=192.0.2.10", LIMITED_NAME, LIMITED_SECRET) == \
        (200, "good 192.0.2.10")
    assert curl(node, "/nic/update?hostname=www.example.com&myip=192.0.2.10", LIMITED_NAME, LIMITED_SECRET) == \
        (200, "nohost")
    status, reply = curl(node, "/api/v1/zones/example.com/records", ADMIN_NAME, ADMIN_SECRET, "POST",
                         json.dumps({"name": "admin-made", "type": "TXT", "data": "by the admin"}))
    assert status == 201, reply
    assert node.addresses("pc.dyn.example.com.") == {"192.0.2.10"}


def test_unauthenticated_reads_answer_only_open_reads_from(node):
    for path in ("/metrics", "/health"):
        status, body = curl(node, path, options=FROM_OTHER)
        assert status == 403, (path, status, body)
        assert "open_reads_from" in body
        # /health no longer hands the term and commit index to anyone.
        assert "term" not in body and "commit" not in body, body
        assert curl(node, path, options=["--interface", "127.0.0.1"])[0] == 200
        # A key (any role) opens them from elsewhere, for a scraper that authenticates.
        assert curl(node, path, NOROLE_NAME, NOROLE_SECRET, options=FROM_OTHER)[0] == 200
    status, body = curl(node, "/api/v1/zones/example.com/records", options=FROM_OTHER)
    assert status == 401, body


def test_a_browser_on_another_sites_page_changes_nothing(node):
    # What a browser sends for an <img> or a form of another site, with the key it keeps for this node.
    for fetch_site in ("cross-site", "same-site"):
        status, reply = curl(node, "/nic/update?hostname=csrf.example.com&myip=192.0.2.13", KEY_NAME, KEY_SECRET,
                             options=["-H", f"Sec-Fetch-Site: {fetch_site}"])
        assert status == 403 and "cross-origin" in reply, (status, reply)
    status, reply = curl(node, "/api/v1/zones/example.com/records", ADMIN_NAME, ADMIN_SECRET, "POST",
                         json.dumps({"name": "csrf", "type": "TXT", "data": "a=b"}),
                         options=["-H", "Origin: http://attacker.example"])
    assert status == 403, reply
    assert node.addresses("csrf.example.com.") is None
    # The node's own page, or a client that is no browser, goes through.
    assert curl(node, "/nic/update?hostname=csrf.example.com&myip=192.0.2.13", KEY_NAME, KEY_SECRET,
                options=["-H", "Sec-Fetch-Site: same-origin"]) == (200, "good 192.0.2.13")


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 made with openssl; returns (cert, key) paths."""
    cert, key = os.path.join(directory, "http.pem"), os.path.join(directory, "http.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=dns-node test",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    return cert, key


def test_https_when_a_certificate_is_configured(tmp_path):
    cert, key = make_certificate(str(tmp_path))
    c = http_cluster(tmp_path, 1, tsig_keys=KEYS, http={"tls": {"cert": cert, "key": key}})
    c.start()
    try:
        node = c.nodes[0]
        status, body = curl(node, "/health", scheme="https", options=["--cacert", cert])
        assert status == 200 and json.loads(body)["healthy"] is True, body
        status, reply = curl(node, "/nic/update?hostname=tls.example.com&myip=192.0.2.11", KEY_NAME, KEY_SECRET,
                             scheme="https", options=["--cacert", cert])
        assert (status, reply) == (200, "good 192.0.2.11")
        # TLS 1.2 is the oldest spoken: 1.1 is refused by the server (the
        # client is allowed every version and cipher, so the refusal is not its own).
        status, _ = curl(node, "/health", scheme="https", options=["--cacert", cert, "--tlsv1.2", "--tls-max", "1.2"])
        assert status == 200
        for version, accepted in (("-tls1_1", False), ("-tls1_2", True)):
            out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{node.http_port}", version,
                                  "-cipher", "DEFAULT@SECLEVEL=0"], input="", capture_output=True, text=True,
                                 timeout=15)
            assert ("Cipher is (NONE)" not in out.stdout) == accepted, (version, out.stdout[-800:], out.stderr[-800:])
        # Keep-alive inside TLS: two requests, one connection.
        out = subprocess.run(["curl", "-sS", "-v", "--max-time", "10", "--cacert", cert, "-o", "/dev/null",
                              "-o", "/dev/null", f"https://127.0.0.1:{node.http_port}/health",
                              f"https://127.0.0.1:{node.http_port}/metrics"], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        assert out.stderr.count("< HTTP/1.1 200") == 2 and "Re-using existing connection" in out.stderr, out.stderr
        # An unknown certificate is refused by the client: it is really TLS.
        out = subprocess.run(["curl", "-sS", "--max-time", "5", f"https://127.0.0.1:{node.http_port}/health"],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode != 0 and "certificate" in out.stderr, out.stderr
        # Plain HTTP is not served on that port: no HTTP answer at all.
        out = subprocess.run(["curl", "-sS", "--max-time", "5", "-o", "-", "-w", "%{http_code}",
                              f"http://127.0.0.1:{node.http_port}/health"], capture_output=True, text=True, timeout=10)
        assert out.returncode != 0 and out.stdout.strip() in ("", "000"), (out.returncode, out.stdout, out.stderr)
        # The node is still serving HTTPS after that.
        assert curl(node, "/health", scheme="https", options=["--cacert", cert])[0] == 200
    finally:
        c.stop()


def test_a_renewed_certificate_is_used_without_a_restart(tmp_path):
    cert, key = make_certificate(str(tmp_path))
    c = http_cluster(tmp_path, 1, tsig_keys=KEYS, http={"tls": {"cert": cert, "key": key}})
    c.start()
    try:
        node = c.nodes[0]
        old = str(tmp_path / "old.pem")
        shutil.copy(cert, old)
        assert curl(node, "/health", scheme="https", options=["--cacert", old])[0] == 200
        # A half-done renewal (a new certificate, the old key) is not taken: the old pair keeps serving.
        (tmp_path / "new").mkdir()
        new_cert, new_key = make_certificate(str(tmp_path / "new"))
        shutil.copy(new_cert, cert)
        time.sleep(1.2)  # the files are looked at once a second at most
        assert curl(node, "/health", scheme="https", options=["--cacert", old])[0] == 200
        # Once the key follows, new connections get the new certificate.
        shutil.copy(new_key, key)
        def trusted_with(ca):
            return subprocess.run(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "--cacert", ca,
                                   f"https://127.0.0.1:{node.http_port}/health"], capture_output=True,
                                  timeout=10).returncode == 0
        deadline = time.time() + 10
        while not trusted_with(new_cert):
            assert time.time() < deadline, node.tail_log()
            time.sleep(0.3)
        assert not trusted_with(old), "the old certificate is still served"
        log = node.tail_log(200)
        assert "the changed certificate or key is not used" in log and "certificate reloaded" in log, log
    finally:
        c.stop()


def test_a_certificate_that_cannot_be_loaded_stops_the_node_with_the_field(tmp_path):
    cert, key = make_certificate(str(tmp_path))
    (tmp_path / "other").mkdir()
    _, other_key = make_certificate(str(tmp_path / "other"))
    cases = (({"cert": cert, "key": str(tmp_path / "missing.key")}, "http.tls.key: cannot load"),
             ({"cert": str(tmp_path / "missing.pem"), "key": key}, "http.tls.cert: cannot load"),
             ({"cert": cert, "key": other_key}, "http.tls.key: the private key"))
    for i, (tls, expect) in enumerate(cases):
        (tmp_path / str(i)).mkdir()
        c = http_cluster(tmp_path / str(i), 1, tsig_keys=KEYS, http={"tls": tls})
        node = c.nodes[0]
        node.start(wait=False)
        try:
            node.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.stop()
            raise AssertionError(f"the node started with http.tls {tls}")
        node.log.close()
        assert node.proc.returncode != 0
        log = node.tail_log()
        assert expect in log, log


def run_in_netns(args, netns_pid, timeout=10):
    return subprocess.run(["nsenter", f"--net=/proc/{netns_pid}/ns/net"] + args, capture_output=True, text=True,
                          timeout=timeout)


def can_make_network_namespaces():
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10).returncode == 0


@pytest.mark.skipif(not can_make_network_namespaces(), reason="needs root and unshare/nsenter for a network namespace")
def test_basic_auth_over_plain_http_from_afar_is_warned(tmp_path):
    # A node in a network namespace of its own, serving HTTP on a documentation
    # address (192.0.2.1, RFC 5737) that exists only there: a client there
    # reaches it from a non-loopback address, without touching the host's network.
    port = 8053
    zone = tmp_path / "zone.txt"
    zone.write_text(ZONE_HEAD.format(n=0))
    config = {"nodes": {"0": {"query_loc": "127.0.0.1:10053", "raft_loc": "127.0.0.1:4321",
                              "http_loc": f"192.0.2.1:{port}"}},
              "tsig_keys": [{"name": KEY_NAME, "secret": KEY_SECRET, "role": "update"}]}
    (tmp_path / "dns-config.json").write_text(json.dumps(config))
    log_path = tmp_path / "node.log"
    script = ("ip link set lo up && ip addr add 192.0.2.1/32 dev lo && exec \"$@\"")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["unshare", "--net", "sh", "-c", script, "sh", BIN, "-n", "0", "-c",
                                 str(tmp_path / "dns-config.json"), "-z", str(zone), "--data-dir",
                                 str(tmp_path / "data")], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=log)
    try:
        base = f"http://192.0.2.1:{port}"
        deadline = time.time() + 15
        while True:
            assert proc.poll() is None, log_path.read_text()
            out = run_in_netns(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1",
                                "-u", f"{KEY_NAME}:{KEY_SECRET}", f"{base}/api/v1/zones/example.com/records"], proc.pid)
            if out.stdout == "200":
                break
            assert time.time() < deadline, f"no answer in the namespace: {out.stdout} {out.stderr}"
            time.sleep(0.2)
        out = run_in_netns(["curl", "-sS", "--max-time", "5", "-u", f"{KEY_NAME}:{KEY_SECRET}",
                            f"{base}/nic/update?hostname=afar.example.com&myip=192.0.2.12"], proc.pid)
        assert out.stdout == "good 192.0.2.12\n", out.stdout + out.stderr
        # Without a key, the non-loopback client is refused where loopback reads freely.
        out = run_in_netns(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{base}/metrics"], proc.pid)
        assert out.stdout == "403"
        text = log_path.read_text()
        assert "over plain HTTP from a non-loopback address" in text and "192.0.2.1" in text, text
        assert text.count("over plain HTTP from a non-loopback address") == 1, "the warning is rate limited"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
