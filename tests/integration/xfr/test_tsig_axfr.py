"""A TSIG-signed AXFR of a 100,000-record zone is signed on every message
(RFC 8945 §5.3.1) and verifies in dig and kdig; where the ACL requires a
key, an unsigned request is REFUSED and a bad signature NOTAUTH."""
import os
import subprocess

from xfr_harness import XFR_KEY, XFR_SECRET, axfr_lines, xfr_cluster

ZONE = "example.com."
RECORDS = 100_000


def test_a_signed_axfr_of_100000_records_verifies_in_dig_and_kdig(tmp_path):
    extra = "".join(f"r{i}.example.com A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n" for i in range(RECORDS))
    cluster = xfr_cluster(tmp_path, size=1, http=False, transfer={"keys": [XFR_KEY]}, zone_extra={0: extra})
    node = cluster.nodes[0]
    cluster.start()
    try:
        key = (XFR_KEY, XFR_SECRET)
        lines, out = axfr_lines(node.query_port, ZONE, key=key, tool="dig")
        assert "failed" not in out.stdout.lower() and "couldn't verify" not in out.stderr.lower(), out.stdout[-2000:]
        assert len(lines) >= RECORDS + 4, (len(lines), out.stdout[-2000:], out.stderr[-2000:])
        # dig checks each message's TSIG; count them: one per message, more than one message.
        tsigs = [l for l in out.stdout.splitlines() if l.split()[3:4] == ["TSIG"]]
        assert len(tsigs) > 10, len(tsigs)
        klines, kout = axfr_lines(node.query_port, ZONE, key=key, tool="kdig")
        assert "failed" not in kout.stdout.lower() and "error" not in kout.stderr.lower(), kout.stderr[-2000:]
        assert klines == lines
        assert len([l for l in kout.stdout.splitlines() if l.split()[3:4] == ["TSIG"]]) == len(tsigs)
        # Unsigned where the key is required: REFUSED.
        refused = subprocess.run(["dig", "-p", str(node.query_port), "@127.0.0.1", ZONE, "AXFR", "+tries=1", "+time=5"],
                                 capture_output=True, text=True, timeout=20)
        assert "Transfer failed" in refused.stdout and len(refused.stdout) < 2000, refused.stdout[-2000:]
        out = subprocess.run(["kdig", "-p", str(node.query_port), "@127.0.0.1", ZONE, "AXFR", "+retry=0"],
                             capture_output=True, text=True, timeout=20)
        assert "REFUSED" in out.stdout + out.stderr, out.stdout + out.stderr
        # Signed with the wrong secret: NOTAUTH (BADSIG).
        wrong = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
        out = subprocess.run(["kdig", "-p", str(node.query_port), "@127.0.0.1", ZONE, "AXFR", "+retry=0",
                              "-y", f"hmac-sha256:{XFR_KEY}:{wrong}"], capture_output=True, text=True, timeout=20)
        assert "NOTAUTH" in out.stdout + out.stderr or "BADSIG" in out.stdout + out.stderr, out.stdout + out.stderr
    finally:
        cluster.stop()
