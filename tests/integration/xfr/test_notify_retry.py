"""NOTIFY (RFC 1996) to a stopped secondary is retried with backoff; when the
secondary starts again, it answers the next attempt and catches up."""
import time

import pytest

from xfr_harness import Knot, have, set_notify, soa_serial, wait_serial, xfr_cluster

ZONE = "example.com."


@pytest.mark.skipif(not have("knot"), reason="needs knotd")
def test_notify_to_a_stopped_secondary_is_retried_until_it_answers(tmp_path):
    cluster = xfr_cluster(tmp_path, size=1, http=False)
    node = cluster.nodes[0]
    knot = Knot(tmp_path, [("127.0.0.1", node.query_port)], [ZONE])
    set_notify(cluster, [f"127.0.0.1:{knot.port}"])
    cluster.start()
    try:
        knot.start()
        wait_serial(knot.port, ZONE, soa_serial(node.query_port, ZONE), timeout=20)
        knot.stop()
        assert node.command("ADD: while-away.example.com 300 A 192.0.2.9").startswith("OK")
        serial = soa_serial(node.query_port, ZONE)

        def log():
            with open(node.log_path) as f:
                return f.read()
        deadline = time.time() + 10
        while "no answer to attempt 2" not in log() and time.time() < deadline:
            time.sleep(0.1)
        assert "no answer to attempt 2" in log(), log()[-2000:]
        knot.start()
        # Knot's own refresh timer is 300 s at least (refresh-min-interval),
        # so catching up within the retry's backoff comes from the NOTIFY.
        wait_serial(knot.port, ZONE, serial, timeout=15)
        deadline = time.time() + 15
        while "answered after" not in log() and time.time() < deadline:
            time.sleep(0.1)
        assert f"serial {serial} to 127.0.0.1:{knot.port}: answered after" in log(), log()[-2000:]
    finally:
        knot.stop()
        cluster.stop()
