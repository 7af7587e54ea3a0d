"""The real clients people use, against a three-node cluster serving the
HTTP API and TSIG-signed UPDATE: one file per client (ddclient, inadyn,
nsupdate, knsupdate, certbot, lego, promtool). A client that is not
installed skips its file; scripts/install-deps.sh installs them all."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from clients_harness import http_cluster  # noqa: E402

# UPDATE's prerequisites and removals need the zone: every node seeds
# example.com (harness.ZONE_HEAD); names below are free for the clients.


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three nodes with http_loc and the TSIG key KEY_NAME (may change any name)."""
    c = http_cluster(tmp_path_factory.mktemp("cluster"), 3).start()
    yield c
    c.stop()
