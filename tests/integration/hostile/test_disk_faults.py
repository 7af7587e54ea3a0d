"""Disk faults under a single node: a corrupted WAL record or checkpoint
makes the node refuse to start with a message naming the file and offset
(serving nothing), and a full disk makes it refuse changes with a clear
message while it keeps answering queries, losing nothing acknowledged."""
import glob
import os
import queue
import re
import signal
import subprocess

import dns.message
import dns.query
import pytest

from node_harness import DnsNode, config_for, run_to_exit

ZONE = {"zf.txt": 'example.com SOA ["ns1.example.com", "hostmaster.example.com"]\n'
                  "example.com NS ns1.example.com\nns1.example.com A 192.0.2.53\n"}


def start(workdir, config):
    os.makedirs(workdir, exist_ok=True)
    zone = os.path.join(workdir, "zf.txt")
    with open(zone, "w") as f:
        f.write(ZONE["zf.txt"])
    return DnsNode(workdir, config, [zone]).wait_ready()


def fill(node, count, prefix="r"):
    acked = []
    for i in range(count):
        name = f"{prefix}{i}.example.com"
        reply = node.command(f"ADD: {name} A 10.1.{i // 250}.{i % 250 + 1}")
        assert reply.startswith("OK"), reply
        acked.append((name, f"10.1.{i // 250}.{i % 250 + 1}"))
    return acked


def answers(node, name):
    r = dns.query.udp(dns.message.make_query(name, "A"), node.host, port=node.port, timeout=2)
    return {rd.address for rrset in r.answer for rd in rrset}


def restart_expect_refusal(workdir, config):
    """Starts the node on its (damaged) data directory; it must exit by itself."""
    cfg = os.path.join(workdir, "dns-config.json")
    rc, out, err = run_to_exit(["-n", "0", "-c", cfg, "--data-dir", os.path.join(workdir, "data"),
                                "-z", os.path.join(workdir, "zf.txt")], workdir, timeout=20)
    return rc, err


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def test_corrupted_wal_record_in_the_middle_refuses_to_start_naming_file_and_offset(tmp_path):
    workdir = str(tmp_path / "n")
    config = config_for(extra={"cluster": {"checkpoint_every_entries": 100000}})
    node = start(workdir, config)
    fill(node, 60)
    assert node.stop() == 0
    segments = sorted(glob.glob(os.path.join(workdir, "data", "raft", "wal-*.log")))
    assert segments, os.listdir(os.path.join(workdir, "data", "raft"))
    seg = segments[-1]
    size = os.path.getsize(seg)
    offset = size // 2
    flip_byte(seg, offset)
    rc, err = restart_expect_refusal(workdir, config)
    assert rc != 0, err
    assert os.path.basename(seg) in err, err
    m = re.search(r"byte (\d+)", err)
    assert m, f"no byte offset in: {err}"
    assert int(m.group(1)) <= offset, "the offset must point at (or before) the damaged byte"
    assert "serving" not in err, err


def test_corrupted_checkpoint_refuses_to_start_naming_the_file(tmp_path):
    workdir = str(tmp_path / "n")
    config = config_for(extra={"cluster": {"checkpoint_every_entries": 20}})
    node = start(workdir, config)
    fill(node, 50)
    assert node.stop() == 0
    snaps = glob.glob(os.path.join(workdir, "data", "raft", "snap-*.snap"))
    assert snaps, f"no checkpoint written: {os.listdir(os.path.join(workdir, 'data', 'raft'))}"
    snap = snaps[0]
    flip_byte(snap, os.path.getsize(snap) // 2)
    rc, err = restart_expect_refusal(workdir, config)
    assert rc != 0, err
    assert os.path.basename(snap) in err, err
    assert "serving" not in err, err


def test_intact_restart_keeps_everything(tmp_path):
    """The control case for the two above: undamaged files restart cleanly."""
    workdir = str(tmp_path / "n")
    config = config_for(extra={"cluster": {"checkpoint_every_entries": 20}})
    node = start(workdir, config)
    acked = fill(node, 50)
    assert node.stop() == 0
    node = start(workdir, config)
    try:
        for name, addr in acked[::7]:
            assert answers(node, name + ".") == {addr}
    finally:
        node.stop()


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "n" / "data"
    mnt.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield str(mnt)
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(next(line.split()[1] for line in f if line.startswith("VmRSS"))) // 1024
    except (OSError, StopIteration):
        return -1


def test_full_disk_refuses_changes_keeps_answering_and_loses_nothing(tmp_path, small_tmpfs):
    workdir = str(tmp_path / "n")
    config = config_for(extra={"cluster": {"checkpoint_every_entries": 200}})
    node = start(workdir, config)
    blob = " ".join('"' + ("x%03d" % j) * 60 + '"' for j in range(8))  # ~2 KB of TXT per record
    acked, refusal = [], None
    try:
        for i in range(3000):
            try:
                reply = node.command(f"ADD: big{i}.example.com TXT {blob}", timeout=5)
            except queue.Empty:
                reply = None
            if reply is None:
                stderr_mb = os.path.getsize(node.stderr_path) // (1 << 20)
                pytest.fail(f"no reply to a change within 5 s once the disk filled (after {len(acked)} changes); "
                            f"resident memory {rss_mb(node.proc.pid)} MB, stderr {stderr_mb} MB")
            if reply.startswith("OK"):
                acked.append(f"big{i}.example.com.")
                continue
            refusal = reply
            break
        assert refusal is not None, "2 MiB never filled up"
        assert refusal.startswith("ERROR: "), refusal
        # Later changes are refused too, with a message that says why, and queries are still answered.
        try:
            again = node.command("ADD: after-full.example.com A 192.0.2.99", timeout=5)
        except queue.Empty:
            again = None
        assert again is not None, (
            f"first refusal {refusal!r}, then no reply within 5 s to the next change; resident memory "
            f"{rss_mb(node.proc.pid)} MB, stderr {os.path.getsize(node.stderr_path) // (1 << 20)} MB")
        assert again.startswith("ERROR: "), again
        assert any(w in again for w in ("storage", "disk", "space")), again
        assert node.proc.poll() is None, "the node must keep serving queries, not exit"
        # Over TCP: ~2 KB of TXT does not fit a plain UDP answer.
        r = dns.query.tcp(dns.message.make_query(acked[-1], "TXT"), node.host, port=node.port, timeout=2)
        assert r.answer, "an acknowledged record is no longer served after the disk filled"
    finally:
        node.stop(signal.SIGKILL)
    subprocess.run(["mount", "-o", "remount,size=64m", small_tmpfs], check=True)
    node = start(workdir, config)
    try:
        missing = [n for n in acked
                   if not dns.query.tcp(dns.message.make_query(n, "TXT"), node.host, port=node.port,
                                        timeout=2).answer]
        assert not missing, f"{len(missing)} acknowledged changes lost after the disk filled: {missing[:5]}"
        assert node.command("ADD: after-space.example.com A 192.0.2.98").startswith("OK")
    finally:
        node.stop()
