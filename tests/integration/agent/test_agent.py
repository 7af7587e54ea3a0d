"""dns-register against a three-node cluster: a signed UPDATE moves a name and
every node answers the new address; bad keys and refused names exit non-zero
with a clear message; address changes reported by the kernel are followed."""
import os
import statistics
import subprocess
import time

import pytest

from harness import REPO, free_port
from http_harness import KEY_NAME, KEY_SECRET, LIMITED_NAME, LIMITED_SECRET, http_cluster, metrics

AGENT = os.environ.get("DNSREGISTER_BIN",
                       os.path.join(os.path.dirname(os.environ.get("DNSNODE_BIN", os.path.join(
                           REPO, "build", "src", "node", "dns-node"))), "..", "agent", "dns-register"))

KEYS = [
    {"name": KEY_NAME, "algorithm": "hmac-sha256", "secret": KEY_SECRET},
    # May change only A/AAAA below dyn.example.com.
    {"name": LIMITED_NAME, "algorithm": "hmac-sha512", "secret": LIMITED_SECRET,
     "policy": [{"grant": "subdomain", "name": "dyn.example.com.", "types": ["A", "AAAA"]}]},
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = http_cluster(tmp_path_factory.mktemp("agent"), 3, tsig_keys=KEYS)
    c.start()
    yield c
    c.stop()


def servers(cluster, nodes=None):
    args = []
    for n in nodes or cluster.nodes:
        args += ["--server", f"127.0.0.1:{n.query_port}"]
    return args


def register(*args, key=(KEY_NAME, KEY_SECRET), timeout=30):
    cmd = [AGENT, "--once"] + list(args)
    if key:
        cmd += ["--key-name", key[0], "--key-secret", key[1]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_once_with_ip_moves_the_name_and_every_node_answers_it(cluster):
    follower = cluster.follower()
    r = register("--name", "desk.example.com", "--ip", "198.51.100.7", *servers(cluster, [follower]))
    assert r.returncode == 0, r.stderr
    assert "198.51.100.7" in r.stderr  # it logs what it published
    assert "is in zone example.com." in r.stderr  # found by an SOA query
    # NOERROR comes once the follower has applied the change.
    assert follower.addresses("desk.example.com.") == {"198.51.100.7"}
    cluster.wait_all_answer("desk.example.com.", {"198.51.100.7"}, timeout=5)

    r = register("--name", "desk.example.com", "--zone", "example.com", "--ip", "198.51.100.8", *servers(cluster))
    assert r.returncode == 0, r.stderr
    cluster.wait_all_answer("desk.example.com.", {"198.51.100.8"}, timeout=5)
    # The follower counted the committed UPDATE in /metrics.
    _, samples = metrics(follower)
    assert samples.get('dnsnode_updates_total{source="rfc2136",result="NOERROR"}', 0) >= 1


def test_unreachable_servers_are_skipped(cluster):
    dead = free_port()
    r = register("--name", "desk2.example.com", "--zone", "example.com", "--ip", "198.51.100.9", "--timeout", "500",
                 "--server", f"127.0.0.1:{dead}", *servers(cluster, [cluster.nodes[2]]))
    assert r.returncode == 0, r.stderr
    assert f"127.0.0.1:{dead}" in r.stderr
    cluster.wait_all_answer("desk2.example.com.", {"198.51.100.9"}, timeout=5)


def test_no_server_answering_exits_1(cluster):
    r = register("--name", "desk3.example.com", "--zone", "example.com", "--ip", "198.51.100.9", "--timeout", "300",
                 "--server", f"127.0.0.1:{free_port()}")
    assert r.returncode == 1, r.stderr
    assert "no server committed" in r.stderr


def test_wrong_secret_exits_2_and_changes_nothing(cluster):
    r = register("--name", "seed1.example.com", "--zone", "example.com", "--ip", "198.51.100.66",
                 *servers(cluster), key=(KEY_NAME, "d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldA=="))
    assert r.returncode == 2, r.stderr
    assert "BADSIG" in r.stderr and "secret" in r.stderr, r.stderr
    r = register("--name", "seed1.example.com", "--zone", "example.com", "--ip", "198.51.100.66",
                 *servers(cluster), key=("unknown-key.", KEY_SECRET))
    assert r.returncode == 2, r.stderr
    assert "BADKEY" in r.stderr, r.stderr
    for n in cluster.nodes:
        assert n.addresses("seed1.example.com.") == {"10.0.0.2"}


def test_refused_name_exits_3(cluster):
    r = register("--name", "www.example.com", "--zone", "example.com", "--ip", "198.51.100.66",
                 "--algorithm", "hmac-sha512", *servers(cluster), key=(LIMITED_NAME, LIMITED_SECRET))
    assert r.returncode == 3, r.stderr
    assert "REFUSED" in r.stderr, r.stderr
    r = register("--name", "pc.dyn.example.com", "--zone", "example.com", "--ip", "198.51.100.67",
                 "--algorithm", "hmac-sha512", *servers(cluster), key=(LIMITED_NAME, LIMITED_SECRET))
    assert r.returncode == 0, r.stderr
    cluster.wait_all_answer("pc.dyn.example.com.", {"198.51.100.67"}, timeout=5)


def test_key_file_in_bind_format(cluster, tmp_path):
    key_file = tmp_path / "ddns.key"
    key_file.write_text(f'key "{KEY_NAME}" {{\n\talgorithm hmac-sha256;\n\tsecret "{KEY_SECRET}";\n}};\n')
    r = register("--name", "kf.example.com", "--ip", "2001:db8::42", "--key-file", str(key_file),
                 *servers(cluster), key=None)
    assert r.returncode == 0, r.stderr
    cluster.wait_until(lambda: all(
        {rd.address for rrset in n.query("kf.example.com.", "AAAA").answer for rd in rrset} == {"2001:db8::42"}
        for n in cluster.nodes), 5, "AAAA on every node")


def can_add_addresses():
    probe = "198.51.100.250/32"
    r = subprocess.run(["ip", "addr", "add", probe, "dev", "lo"], capture_output=True)
    if r.returncode != 0:
        return False
    subprocess.run(["ip", "addr", "del", probe, "dev", "lo"], capture_output=True)
    return True


def test_daemon_follows_addresses_the_kernel_reports(cluster, tmp_path):
    """Global addresses added to and removed from lo are reported through
    rtnetlink; the agent publishes each change at once, without waiting for
    its interval. Prints the time from the change to every node answering."""
    if not can_add_addresses():
        pytest.skip("needs CAP_NET_ADMIN to add an address")
    runs = int(os.environ.get("ADDRESS_CHANGE_RUNS", "10"))
    log = open(tmp_path / "agent.log", "w")
    agent = subprocess.Popen([AGENT, "--name", "moving.example.com", "--zone", "example.com", "--interval", "3600",
                              "--key-name", KEY_NAME, "--key-secret", KEY_SECRET] + servers(cluster),
                             stderr=log)
    added, times = [], []
    try:
        cluster.wait_until(lambda: cluster.nodes[0].addresses("moving.example.com.") is not None, 10,
                           "the first registration")
        for i in range(runs):
            addr = f"198.51.100.{200 + i}"
            assert addr not in cluster.nodes[0].addresses("moving.example.com.")
            start = time.perf_counter()
            subprocess.run(["ip", "addr", "add", f"{addr}/32", "dev", "lo"], check=True)
            added.append(addr)
            cluster.wait_until(lambda: all(addr in (n.addresses("moving.example.com.") or ())
                                           for n in cluster.nodes), 10, f"{addr} on every node")
            times.append(time.perf_counter() - start)
            # Withdrawn again when the address goes.
            start = time.perf_counter()
            subprocess.run(["ip", "addr", "del", f"{addr}/32", "dev", "lo"], check=True)
            added.remove(addr)
            cluster.wait_until(lambda: all(addr not in (n.addresses("moving.example.com.") or ())
                                           for n in cluster.nodes), 10, f"{addr} withdrawn on every node")
            times.append(time.perf_counter() - start)
    finally:
        for addr in added:
            subprocess.run(["ip", "addr", "del", f"{addr}/32", "dev", "lo"], capture_output=True)
        agent.terminate()
        agent.wait(timeout=10)
        log.close()
    assert "address change" in open(tmp_path / "agent.log").read()
    times.sort()
    print(f"\naddress added/removed on the host -> every node answering ({len(times)} changes): "
          f"p50 {statistics.median(times) * 1000:.1f} ms, "
          f"p99 {times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))] * 1000:.1f} ms")


def test_propagation_time_p50_p99(cluster):
    """Prints (does not assert) the time from starting `dns-register --once`
    to every node answering the new address, over 50 runs."""
    runs = int(os.environ.get("PROPAGATION_RUNS", "50"))
    times = []
    for i in range(runs):
        ip = f"198.51.100.{100 + i % 100}"
        start = time.perf_counter()
        r = register("--name", "timed.example.com", "--zone", "example.com", "--ip", ip, *servers(cluster))
        assert r.returncode == 0, r.stderr
        while not all(n.addresses("timed.example.com.", timeout=0.5) == {ip} for n in cluster.nodes):
            time.sleep(0.001)
        times.append(time.perf_counter() - start)
    times.sort()
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    print(f"\ndns-register --once -> every node answering ({runs} runs): "
          f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms")
