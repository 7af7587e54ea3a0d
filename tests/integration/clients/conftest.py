"""The real clients people use, against a three-node cluster serving the
HTTP API and TSIG-signed UPDATE: one file per client (ddclient, inadyn,
nsupdate, knsupdate, certbot, lego, promtool). A client that is not
installed skips its file; scripts/install-deps.sh installs them all."""
import os
import shutil
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "http"))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))

from http_harness import KEY_NAME, KEY_SECRET, http_cluster  # noqa: E402

# UPDATE's prerequisites and removals need the zone: every node seeds
# example.com (harness.ZONE_HEAD); names below are free for the clients.


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three nodes with http_loc and the TSIG key KEY_NAME (may change any name)."""
    c = http_cluster(tmp_path_factory.mktemp("cluster"), 3).start()
    yield c
    c.stop()


def need(program):
    """Skips the calling test when `program` is not installed."""
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (scripts/install-deps.sh installs it)")


def all_values(cluster, name, rdtype):
    """The rdata texts of name/rdtype on every live node: {node id: set}."""
    out = {}
    for n in cluster.live():
        r = n.query(name, rdtype)
        out[n.id] = {rd.to_text() for rrset in r.answer if rrset.rdtype == _rdtype(rdtype) for rd in rrset}
    return out


def _rdtype(text):
    import dns.rdatatype
    return dns.rdatatype.from_text(text)


def wait_everywhere(cluster, name, rdtype, expected, timeout=15):
    """Waits until every live node answers name/rdtype with exactly `expected` (a set of rdata texts)."""
    cluster.wait_until(lambda: all(v == expected for v in all_values(cluster, name, rdtype).values()), timeout,
                       f"every node answering {name} {rdtype} with {expected}")


__all__ = ["KEY_NAME", "KEY_SECRET", "need", "all_values", "wait_everywhere"]
