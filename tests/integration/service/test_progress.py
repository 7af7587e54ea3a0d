"""Long work shows progress: loading a zone logs its size, time and rate,
and the commit of its records logs its time and rate."""
import re

from node_harness import DnsNode, config_for


def test_zone_load_logs_its_rate(tmp_path):
    # 100,000 records and more are a large zone: its load is logged at info level.
    zone = tmp_path / "big.zone"
    lines = ["$ORIGIN big.test.", "$TTL 300", "@ SOA ns1 hostmaster 1 3600 900 604800 300", "@ NS ns1", "ns1 A 192.0.2.1"]
    lines += [f"h{i} A 10.0.{i >> 8 & 255}.{i & 255}" for i in range(100000)]
    zone.write_text("\n".join(lines) + "\n")
    work = tmp_path / "node"
    work.mkdir()
    node = DnsNode(work, config_for(), [str(zone)]).wait_ready(timeout=30)
    try:
        log = node.stderr
    finally:
        node.stop()
    assert re.search(r"zone file .*big\.zone: 100003 records \(\d\.\d MB\) in \d+\.\d\d s \(\d+ records/s\)", log), log
    assert re.search(r"zone files: proposing 0 removals and 100003 additions", log), log
    assert re.search(r"zone files: 100003 changes committed, 0 rejected, 0 lines skipped, in \d+\.\d\d s "
                     r"\(\d+ records/s\)", log), log
