"""The status page at / in a real browser (headless Chromium): a phone-sized
screenshot, the rendered DOM naming the nodes, zones and serials, and a
change made while the page is open appearing on it without a reload."""
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

import dns.rdatatype
import pytest

from http_harness import KEY_NAME, KEY_SECRET, curl, get_json, http_cluster, url

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE = (412, 892)  # CSS pixels, scale 1: a common phone's viewport

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (scripts/install-deps.sh installs it)")


def chromium_args(profile):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
            f"--user-data-dir={profile}"]


def run_chromium(extra, timeout=45):
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        out = subprocess.run(chromium_args(profile) + extra, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
    return out


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def serial(node):
    r = node.query("example.com.", "SOA")
    return next(rd.serial for rrset in r.answer if rrset.rdtype == dns.rdatatype.SOA for rd in rrset)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = http_cluster(tmp_path_factory.mktemp("statuspage"), 3)
    c.start()
    yield c
    c.stop()


def leader_of(cluster):
    deadline = time.time() + 15
    while time.time() < deadline:
        status, health = get_json(cluster.nodes[0], "/health")
        if status == 200 and health.get("leader") is not None:
            return cluster.nodes[int(health["leader"])]
        time.sleep(0.1)
    raise AssertionError("no leader")


class DevTools:
    """Chromium driven over --remote-debugging-pipe (the DevTools protocol:
    NUL-terminated JSON messages on fds 3 and 4)."""

    def __init__(self, profile, width, height):
        def high(fd):  # above 4, so that placing the pipes at 3 and 4 cannot clobber one of them
            moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            return moved
        cmd_r, cmd_w = os.pipe()
        resp_r, resp_w = os.pipe()
        cmd_r, self.cmd_w, self.resp_r, resp_w = high(cmd_r), high(cmd_w), high(resp_r), high(resp_w)
        args = chromium_args(profile) + ["--remote-debugging-pipe", f"--window-size={width},{height}", "about:blank"]
        self.log_path = profile + ".log"
        with open(self.log_path, "w") as log:
            # Chromium reads commands from fd 3 and writes answers to fd 4.
            place = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); " \
                    "os.execv(sys.argv[3], sys.argv[3:])"
            self.proc = subprocess.Popen([sys.executable, "-c", place, str(cmd_r), str(resp_w)] + args,
                                         pass_fds=(cmd_r, resp_w), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log)
        os.close(cmd_r)
        os.close(resp_w)
        self.buffer = b""
        self.next_id = 0
        self.session = None

    def call(self, method, params=None, timeout=20, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    assert "error" not in reply, reply
                    return reply["result"]
            left = deadline - time.time()
            assert left > 0, f"no answer to {method}"
            ready, _, _ = select.select([self.resp_r], [], [], left)
            if ready:
                chunk = os.read(self.resp_r, 1 << 16)
                if not chunk:
                    with open(self.log_path) as f:
                        log = [line for line in f if "dbus" not in line]
                    raise AssertionError("chromium closed the pipe:\n" + "".join(log[-30:]))
                self.buffer += chunk

    def open(self, page):
        target = self.call("Target.createTarget", {"url": page}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

    def wait_text(self, needles, timeout=15):
        deadline = time.time() + timeout
        text = ""
        while time.time() < deadline:
            text = self.evaluate("document.body ? document.body.innerText : ''") or ""
            if all(n in text for n in needles):
                return text
            time.sleep(0.25)
        raise AssertionError(f"the page never showed {needles}; it shows:\n{text}")

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.cmd_w)
        os.close(self.resp_r)


def test_the_page_renders_the_cluster_zones_changes_and_hosts(cluster, tmp_path):
    leader = leader_of(cluster)
    assert curl(leader, "/nic/update?hostname=home.example.com&myip=198.51.100.7", KEY_NAME, KEY_SECRET) == \
        (200, "good 198.51.100.7")
    # Every node's seed is in; the serial the page must show is the one queries give.
    soa_serial = serial(leader)
    page = url(leader, "/")

    # A phone-sized screenshot after the page's script has run.
    shot = str(tmp_path / "status-phone.png")
    out = run_chromium([f"--screenshot={shot}", f"--window-size={PHONE[0]},{PHONE[1]}",
                        "--virtual-time-budget=4000", page])
    assert os.path.exists(shot), out.stderr[-2000:]
    assert png_size(shot) == PHONE
    assert os.path.getsize(shot) > 10000, "an empty page compresses to almost nothing"
    # Kept for a person to look at, when asked for.
    if os.environ.get("DNSNODE_SCREENSHOT_DIR"):
        shutil.copy(shot, os.environ["DNSNODE_SCREENSHOT_DIR"])

    out = run_chromium(["--dump-dom", "--virtual-time-budget=4000", f"--window-size={PHONE[0]},{PHONE[1]}", page])
    dom = out.stdout
    assert "<tbody id=\"nodes\">" in dom, out.stderr[-2000:]
    for n in cluster.nodes:
        assert f'<td data-label="node" class="mono">{n.id}</td>' in dom or f">{n.id}</a></td>" in dom, \
            f"node {n.id} missing:\n{dom}"
        assert f"127.0.0.1:{n.query_port}" in dom
    assert '<td data-label="zone" class="mono">example.com.</td>' in dom, dom
    assert f'<td data-label="serial" class="num mono">{soa_serial}</td>' in dom, (soa_serial, dom)
    assert "home.example.com." in dom and "198.51.100.7" in dom
    assert ">DynDNS<" in dom and ">zone file<" in dom
    assert ">leader<" in dom and ">follower<" in dom
    assert "Cannot refresh" not in dom or 'id="error" class="wide" hidden' in dom


def test_a_change_made_while_the_page_is_open_appears_on_it(cluster, tmp_path):
    leader = leader_of(cluster)
    browser = DevTools(str(tmp_path / "profile"), 1280, 900)
    try:
        browser.open(url(leader, "/"))
        browser.wait_text(["Cluster", "example.com."])
        # A mark in the document: still there afterwards means no reload.
        browser.evaluate("window.statusPageMark = 'same document'")
        assert "live.example.com." not in browser.evaluate("document.body.innerText")
        status, reply = curl(leader, "/api/v1/zones/example.com/records", KEY_NAME, KEY_SECRET, "POST",
                             json.dumps({"name": "live", "type": "A", "data": "192.0.2.99"}))
        assert status == 201, reply
        changed = time.time()
        text = browser.wait_text(["add live.example.com. 3600 A 192.0.2.99", "REST", str(serial(leader))])
        # It refreshes every 2 s: the change shows within a few seconds, without a reload.
        assert time.time() - changed < 10
        assert browser.evaluate("window.statusPageMark") == "same document"
        assert "Cannot refresh" not in text
        shot = browser.call("Page.captureScreenshot", {"format": "png"})["data"]
        assert len(shot) > 10000
        if os.environ.get("DNSNODE_SCREENSHOT_DIR"):
            import base64
            with open(os.path.join(os.environ["DNSNODE_SCREENSHOT_DIR"], "status-desktop.png"), "wb") as f:
                f.write(base64.b64decode(shot))
    finally:
        browser.close()
