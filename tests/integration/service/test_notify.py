"""Running under systemd: Type=notify readiness sent once the node answers
queries (and dns-nodectl can connect), STOPPING=1 on SIGTERM, and log lines
shaped for the journal when stderr is the journal."""
import os
import signal
import socket
import subprocess
import time

import dns.message
import dns.query

from node_harness import BIN, ZONE_DIR, config_for

CTL = os.path.join(os.path.dirname(BIN), "..", "ctl", "dns-nodectl")


def start(tmp_path, env_extra, args=()):
    import json
    cfg = config_for()
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    env = dict(os.environ, **env_extra)
    stderr = open(tmp_path / "stderr.log", "w")
    proc = subprocess.Popen([BIN, "-n", "0", "-c", str(tmp_path / "c.json"), "-z", os.path.join(ZONE_DIR, "zf0.txt"),
                             "--data-dir", str(tmp_path / "data"), *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    host, port = cfg["nodes"]["0"]["query_loc"].rsplit(":", 1)
    return proc, host, int(port), stderr


def test_ready_once_queries_are_answered_and_stopping_on_sigterm(tmp_path):
    # An abstract socket, as systemd may hand out ('@' stands for the leading NUL).
    name = f"dns-node-test-{os.getpid()}-{time.time_ns()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    listener.settimeout(10)
    proc, host, port, stderr = start(tmp_path, {"NOTIFY_SOCKET": "@" + name})
    try:
        # Status lines while it starts, then READY=1.
        statuses = []
        while True:
            msg = listener.recv(4096).decode()
            if "READY=1" in msg.split("\n"):
                break
            statuses.append(msg)
        assert statuses[0] == "STATUS=reading the zone files", statuses
        assert "STATUS=committing the zone files' records" in statuses, statuses
        assert f"STATUS=serving {host}:{port}" in msg
        # Ready means ready: the first query and dns-nodectl succeed at once.
        r = dns.query.udp(dns.message.make_query("www.example.com.", "A"), host, port=port, timeout=1)
        assert r.answer
        c = subprocess.run([CTL, "-d", str(tmp_path / "data"), "status"], capture_output=True, text=True)
        assert c.returncode == 0, c.stderr
        proc.send_signal(signal.SIGTERM)
        assert listener.recv(4096).decode() == "STOPPING=1"
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        listener.close()
        stderr.close()


def test_journal_lines_carry_a_priority_and_no_timestamp(tmp_path):
    # JOURNAL_STREAM names stderr's device and inode: auto picks the journal's shape.
    log = tmp_path / "stderr.log"
    log.write_text("")
    st = os.stat(log)
    proc, host, port, stderr = start(tmp_path, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    try:
        deadline = time.time() + 10
        while "serving" not in log.read_text():
            assert time.time() < deadline and proc.poll() is None, log.read_text()
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        stderr.close()
    lines = log.read_text().splitlines()
    assert lines and all(line.startswith(("<6>node 0: ", "<4>node 0: ", "<7>node 0: ")) for line in lines), lines
    assert any(line.startswith("<6>node 0: dns-node ") and "serving" in line for line in lines)


def test_text_lines_keep_their_timestamp_when_journal_stream_is_someone_elses(tmp_path):
    proc, host, port, stderr = start(tmp_path, {"JOURNAL_STREAM": "1:1"})
    try:
        deadline = time.time() + 10
        while "serving" not in (tmp_path / "stderr.log").read_text():
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        stderr.close()
    first = (tmp_path / "stderr.log").read_text().splitlines()[0]
    assert first[:4].isdigit() and " info node 0: " in first, first
