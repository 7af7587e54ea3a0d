"""IXFR edges (RFC 1995): a secondary whose serial is older than the journal
gets the whole zone in IXFR form (§4; NSD does not fall back to AXFR on an
error), IXFR over UDP gets the SOA alone, and a zone's serial policy from the
config numbers every node's versions alike."""
import subprocess
import time

import dns.flags
import dns.message
import dns.opcode
import dns.query
import pytest

from xfr_harness import Nsd, axfr_lines, have, soa_serial, wait_serial, xfr_cluster

ZONE = "example.com."


def send_notify(port, zone):
    """A NOTIFY (RFC 1996) as a primary sends it, from the test itself."""
    n = dns.message.make_query(zone, "SOA")
    n.set_opcode(dns.opcode.NOTIFY)
    n.flags |= dns.flags.AA
    dns.query.udp(n, "127.0.0.1", port=port, timeout=2)


@pytest.mark.skipif(not have("nsd"), reason="needs nsd")
def test_a_secondary_older_than_the_journal_gets_the_whole_zone_through_ixfr(tmp_path):
    cluster = xfr_cluster(tmp_path, size=1, journal={"max_entries": 4})
    node = cluster.nodes[0]
    # NSD is not notified by the cluster: it falls behind while running.
    nsd = Nsd(tmp_path, [("127.0.0.1", node.query_port)], [ZONE])
    cluster.start()
    try:
        nsd.start()
        wait_serial(nsd.port, ZONE, soa_serial(node.query_port, ZONE), timeout=20)
        # One change NSD follows by IXFR from the journal.
        assert node.command("ADD: first.example.com 300 A 192.0.2.1").startswith("OK")
        send_notify(nsd.port, ZONE)
        wait_serial(nsd.port, ZONE, soa_serial(node.query_port, ZONE), timeout=10)
        behind = soa_serial(nsd.port, ZONE)
        # Far more changes than the journal keeps.
        for i in range(12):
            reply = node.command(f"ADD: away{i}.example.com 300 A 192.0.2.{i + 10}")
            assert reply.startswith("OK"), reply
            if i % 3 == 2:
                assert node.command(f"REMOVE: away{i - 1}.example.com A").startswith("OK")
        current = soa_serial(node.query_port, ZONE)
        assert soa_serial(nsd.port, ZONE) == behind
        send_notify(nsd.port, ZONE)
        wait_serial(nsd.port, ZONE, current, timeout=20)
        with open(node.log_path) as f:
            log = f.read()
        assert f"IXFR of example.com. from 127.0.0.1: 1 diffs from serial {behind - 1} to {behind}" in log, log[-3000:]
        assert f"serial {behind} is older than the journal, sending the whole zone" in log, log[-3000:]
        # NSD asked IXFR only (it does not fall back to AXFR).
        assert "AXFR of example.com." not in log.split(f"from serial {behind - 1}")[1], log[-3000:]
        got, _ = axfr_lines(nsd.port, ZONE)
        want, _ = axfr_lines(node.query_port, ZONE)
        assert got == want
    finally:
        nsd.stop()
        cluster.stop()


def test_ixfr_over_udp_gets_the_soa_alone(tmp_path):
    cluster = xfr_cluster(tmp_path, size=1, http=False)
    node = cluster.nodes[0]
    cluster.start()
    try:
        assert node.command("ADD: a.example.com 300 A 192.0.2.1").startswith("OK")
        assert node.command("ADD: b.example.com 300 A 192.0.2.2").startswith("OK")
        serial = soa_serial(node.query_port, ZONE)
        out = subprocess.run(["dig", "-p", str(node.query_port), "@127.0.0.1", ZONE, f"IXFR={serial - 2}", "+notcp",
                              "+noall", "+answer", "+tries=1", "+time=2"], capture_output=True, text=True, timeout=10)
        records = [line.split() for line in out.stdout.splitlines() if line.strip() and not line.startswith(";")]
        assert len(records) == 1, out.stdout
        assert records[0][3] == "SOA" and int(records[0][6]) == serial, out.stdout
        # Over TCP the same request gets the two diffs (RFC 1995 §4 form).
        out = subprocess.run(["dig", "-p", str(node.query_port), "@127.0.0.1", ZONE, f"IXFR={serial - 2}",
                              "+noall", "+answer", "+tries=1", "+time=5"], capture_output=True, text=True, timeout=10)
        types = [line.split()[3] for line in out.stdout.splitlines() if line.strip() and not line.startswith(";")]
        assert types == ["SOA", "SOA", "SOA", "A", "SOA", "SOA", "A", "SOA"], out.stdout
    finally:
        cluster.stop()


def test_a_serial_policy_from_the_config_numbers_every_nodes_versions_alike(tmp_path):
    cluster = xfr_cluster(tmp_path, size=3, http=False, zones={ZONE: {"serial_policy": "unixtime"}})
    cluster.start()
    try:
        node = cluster.nodes[1]
        # The settings reach the replicated state once the nodes have seeded;
        # a change after that takes the proposer's clock as its serial.
        deadline = time.time() + 15
        serial = None
        while time.time() < deadline:
            before = int(time.time())
            assert node.command(f"ADD: t{int(time.time() * 1000)}.example.com 300 A 192.0.2.7").startswith("OK")
            serial = soa_serial(node.query_port, ZONE)
            if before - 5 <= serial <= int(time.time()) + 5:
                break
            time.sleep(0.2)
        assert before - 5 <= serial <= int(time.time()) + 5, serial
        for n in cluster.nodes:
            wait_serial(n.query_port, ZONE, serial, timeout=5)
            assert soa_serial(n.query_port, ZONE) == serial
    finally:
        cluster.stop()
