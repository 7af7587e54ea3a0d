"""Helpers shared by the client tests (imported by name: every test folder
has a conftest.py, so `from conftest import ...` would find another folder's)."""
import os
import shutil
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "http"))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))

from http_harness import KEY_NAME, KEY_SECRET, http_cluster  # noqa: E402,F401


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
