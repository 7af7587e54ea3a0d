"""Online signing on a three-node cluster, checked by real validators: the
leader makes the zone's keys once, every node signs its answers, and unbound
(with the zone's DS as its trust anchor and the cluster as a stub zone) and
delv validate them: AD on existing names, on compact-denial answers for names
and types that do not exist, on wildcard answers, after records are added
and removed, across zone-signing key rolls (the test rolls the ZSK every 20
seconds), across a key-signing key roll (KSK ROLL, the parent's DS swapped,
KSK SUBMITTED) and after the leader is killed.

Run: DNSNODE_BIN=build/src/node/dns-node /usr/bin/python3 -m pytest -q tests/integration/dnssec
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cluster"))
from harness import BIN, Cluster, free_port  # noqa: E402

ZONE = "example.com."
ZONE_EXTRA = {0: "www.example.com A 192.0.2.80\n*.wild.example.com A 192.0.2.99\nweb.example.com TXT hello\n"}


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # a node or unbound may be restarting
            last = e
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout}s (last error: {last})")


def dnskey_rrset(node):
    r = node.query(ZONE, "DNSKEY")
    return sorted(rd.to_text() for rrset in r.answer for rd in rrset if rrset.rdtype == dns.rdatatype.DNSKEY)


class Unbound:
    """A validating unbound on a loopback port, trusting `ds` (one DS or a
    list, as a parent's DS RRset) for the zone and asking the cluster's nodes
    for it."""

    def __init__(self, workdir, ds, nodes, check_ready=True):
        anchors = "".join(f'  trust-anchor: "{ZONE} DS {d}"\n' for d in ([ds] if isinstance(ds, str) else ds))
        self.port = free_port()
        self.dir = os.path.join(workdir, "unbound")  # one validator per workdir
        os.makedirs(self.dir)
        stubs = "".join(f"  stub-addr: 127.0.0.1@{n.query_port}\n" for n in nodes)
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
  interface: 127.0.0.1
  port: {self.port}
  do-ip6: no
  do-not-query-localhost: no
  chroot: ""
  username: ""
  directory: "{self.dir}"
  pidfile: "{self.dir}/unbound.pid"
  use-syslog: no
  logfile: "{self.dir}/unbound.log"
  verbosity: 1
  val-log-level: 2
  module-config: "validator iterator"
{anchors}  qname-minimisation: no
  cache-max-ttl: 0
  cache-max-negative-ttl: 0
  infra-host-ttl: 1
stub-zone:
  name: "{ZONE}"
{stubs}remote-control:
  control-enable: no
""")
        self.proc = subprocess.Popen([shutil.which("unbound") or "/usr/sbin/unbound", "-d", "-c", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if check_ready:
            wait_for(lambda: self.ask("www." + ZONE, "A") is not None, 20, "unbound answering")

    def ask(self, name, rdtype):
        q = dns.message.make_query(name, rdtype, want_dnssec=True)
        q.flags |= dns.flags.AD
        # As a stub resolver does, ask again when no answer came: with a
        # killed node among its servers, unbound may spend the first
        # attempt's time waiting on that node before trying another.
        for attempt in range(3):
            try:
                return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=3)
            except dns.exception.Timeout:
                if attempt == 2:
                    raise

    def log(self):
        with open(os.path.join(self.dir, "unbound.log")) as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    for tool in ("unbound", "delv", "dnssec-dsfromkey"):
        if not (shutil.which(tool) or os.path.exists(f"/usr/sbin/{tool}")):
            pytest.skip(f"{tool} is not installed")
    work = tmp_path_factory.mktemp("online")
    cluster = Cluster(work, 3, zone_extra=ZONE_EXTRA,
                      extra_config={"zones": {ZONE: {"dnssec": {"policy": "online", "algorithm": "ecdsap256sha256",
                                                                "zsk_lifetime": 20, "roll_wait": 3}}}})
    unbound = None
    state = None
    try:
        cluster.start()
        # The leader makes the keys; every node then publishes the same DNSKEY RRset.
        wait_for(lambda: all(len(dnskey_rrset(n)) >= 2 for n in cluster.nodes), 30, "DNSKEY on every node")
        cds = wait_for(lambda: cluster.nodes[1].query(ZONE, "CDS").answer, 10, "CDS")
        ds = cds[0][0].to_text()
        unbound = Unbound(str(work), ds, cluster.nodes)
        state = {"cluster": cluster, "unbound": unbound, "ds": ds, "work": str(work), "validators": [unbound]}
        yield state
    finally:
        for u in (state["validators"] if state else [unbound] if unbound else []):
            u.stop()
        cluster.stop()


def addresses(r):
    return [rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset]


def assert_validated(unbound, name, rdtype, rcode=dns.rcode.NOERROR):
    r = unbound.ask(name, rdtype)
    assert r.rcode() == rcode, f"{name} {rdtype}: {dns.rcode.to_text(r.rcode())}; unbound log:\n{unbound.log()}"
    assert r.flags & dns.flags.AD, f"{name} {rdtype}: not validated (no AD); unbound log:\n{unbound.log()}"
    return r


def same_keys_everywhere(nodes):
    keys = [dnskey_rrset(n) for n in nodes]
    return keys[0] if all(k == keys[0] for k in keys) else None


def ksk_of(keys):
    return next(k for k in keys if k.startswith("257 "))


def test_every_node_publishes_the_same_keys_and_the_cds_matches_them(signed):
    cluster = signed["cluster"]
    keys = wait_for(lambda: same_keys_everywhere(cluster.nodes), 10, "the same DNSKEY RRset on every node")
    ksk = ksk_of(keys)
    # The CDS the cluster publishes is the DS BIND computes from the KSK.
    keyfile = os.path.join(signed["work"], "ksk.key")
    with open(keyfile, "w") as f:
        f.write(f"{ZONE} 3600 IN DNSKEY {ksk}\n")
    out = subprocess.run(["dnssec-dsfromkey", "-2", "-f", keyfile, ZONE], capture_output=True, text=True, check=True)
    assert out.stdout.upper().split()[-4:] == signed["ds"].upper().split(), (out.stdout, signed["ds"])
    # The private keys are never answered.
    r = cluster.nodes[0].query(ZONE, "TYPE65300")
    assert not r.answer


def test_answers_denials_and_wildcards_validate(signed):
    u = signed["unbound"]
    r = assert_validated(u, "www." + ZONE, "A")
    assert addresses(r) == ["192.0.2.80"]
    # Compact denial (RFC 9824): a name that does not exist answers NOERROR.
    r = assert_validated(u, "nothere." + ZONE, "A")
    assert not r.answer
    assert_validated(u, "www." + ZONE, "TXT")  # NODATA
    r = assert_validated(u, "host.wild." + ZONE, "A")  # a wildcard answer
    assert addresses(r) == ["192.0.2.99"]
    assert_validated(u, "host.wild." + ZONE, "AAAA")  # wildcard NODATA
    assert_validated(u, ZONE, "DNSKEY")
    assert_validated(u, ZONE, "SOA")


def test_added_and_removed_records_validate(signed):
    cluster, u = signed["cluster"], signed["unbound"]
    node = cluster.nodes[2]
    assert node.command(f"ADD: fresh.{ZONE} 60 A 192.0.2.7").startswith("OK")
    wait_for(lambda: assert_validated(u, "fresh." + ZONE, "A").answer, 15, "the new record validated")
    assert node.command(f"REMOVE: fresh.{ZONE} A 192.0.2.7").startswith("OK")
    wait_for(lambda: not assert_validated(u, "fresh." + ZONE, "A").answer, 15, "the removal validated")


def test_still_validated_across_a_zsk_roll(signed):
    cluster, u = signed["cluster"], signed["unbound"]
    zsks = lambda: sorted(k for k in dnskey_rrset(cluster.nodes[0]) if k.startswith("256 "))  # noqa: E731
    first = zsks()
    seen = set(first)
    # Through publication (two ZSKs), activation and removal, answers validate.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        now = zsks()
        seen.update(now)
        assert_validated(u, "www." + ZONE, "A")
        assert_validated(u, "nothere." + ZONE, "A")
        if len(now) == 1 and now != first:
            break
        time.sleep(0.5)
    assert len(seen) >= 2 and zsks() != first, f"no ZSK roll completed: {first} -> {zsks()}"
    assert same_keys_everywhere(cluster.nodes) or wait_for(lambda: same_keys_everywhere(cluster.nodes), 10, "keys agree")


def ksks(node):
    return [k for k in dnskey_rrset(node) if k.startswith("257 ")]


def cds_rrset(node):
    r = node.query(ZONE, "CDS")
    return sorted(rd.to_text() for rrset in r.answer for rd in rrset if rrset.rdtype == dns.rdatatype.CDS)


def dnskey_signers(node):
    """The key tags of the RRSIGs over the DNSKEY RRset, asked with DO."""
    q = dns.message.make_query(ZONE, "DNSKEY", want_dnssec=True)
    r = dns.query.udp(q, "127.0.0.1", port=node.query_port, timeout=3)
    return sorted(rd.key_tag for rrset in r.answer if rrset.rdtype == dns.rdatatype.RRSIG for rd in rrset
                  if rd.type_covered == dns.rdatatype.DNSKEY)


def test_a_ksk_roll_waits_for_the_parents_ds_and_validates_throughout(signed):
    """KSK ROLL publishes a new KSK, then its CDS (the leader that started
    the roll is stopped at once, so the next one takes the step); a validator
    holding the old DS, both, or the new one only validates; KSK SUBMITTED
    retires the old KSK, which leaves the DNSKEY RRset of every node."""
    cluster, old_unbound = signed["cluster"], signed["unbound"]
    nodes = cluster.nodes
    old_ds, old_ksk = signed["ds"], ksks(nodes[0])
    assert len(old_ksk) == 1
    leader = cluster.leader()
    reply = leader.command(f"KSK ROLL {ZONE}")
    assert reply.startswith(f"OK zone {ZONE}: KSK roll started"), reply
    # The leader that started the roll stops at once: the next one carries
    # the roll on from the state in the key records.
    leader.stop()
    rest = [n for n in nodes if n is not leader]
    phase_after_the_stop = rest[0].command(f"KSK STATUS {ZONE}")
    wait_for(lambda: cluster.leader(among=rest), 30, "a new leader")
    assert rest[1].command(f"KSK ROLL {ZONE}").startswith("ERROR: zone example.com.: a KSK roll is already under way")
    # Published, then ready: the CDS names the new KSK alone, on every node.
    wait_for(lambda: all(len(ksks(n)) == 2 for n in rest), 15, "the new KSK in the DNSKEY RRset")
    new_ksk = [k for k in ksks(rest[0]) if k not in old_ksk]
    assert len(new_ksk) == 1
    wait_for(lambda: '"ksk_roll":"waiting for DS"' in rest[1].command(f"KSK STATUS {ZONE}"), 20,
             f"the new KSK ready under the new leader (after the stop: {phase_after_the_stop})")
    leader.start()

    def cds_names_the_new_key():
        cds = [cds_rrset(n) for n in nodes]
        return cds[0] if len(cds[0]) == 1 and cds[0] != [old_ds] and all(c == cds[0] for c in cds) else None
    new_ds = wait_for(cds_names_the_new_key, 20, "the CDS naming the new KSK on every node")[0]
    status = nodes[0].command(f"KSK STATUS {ZONE}")
    assert '"ksk_roll":"waiting for DS"' in status, status
    # Both KSKs sign the DNSKEY RRset, so either DS validates.
    assert len(dnskey_signers(nodes[2])) == 2
    assert_validated(old_unbound, "www." + ZONE, "A")
    assert_validated(old_unbound, ZONE, "DNSKEY")
    # The parent publishes the new DS beside the old one, then alone.
    both = Unbound(os.path.join(signed["work"], "both-ds"), [old_ds, new_ds], nodes)
    signed["validators"].append(both)
    assert_validated(both, "www." + ZONE, "A")
    new_unbound = Unbound(os.path.join(signed["work"], "new-ds"), new_ds, nodes)
    signed["validators"].append(new_unbound)
    assert_validated(new_unbound, "www." + ZONE, "A")
    assert_validated(new_unbound, "nothere." + ZONE, "A")
    time.sleep(5)  # well past roll_wait: without the confirmation the old KSK stays
    assert all(len(ksks(n)) == 2 for n in nodes)

    # The confirmation goes through the control socket, as an operator's would.
    ctl = os.environ.get("DNSNODECTL_BIN", os.path.join(os.path.dirname(BIN), "..", "ctl", "dns-nodectl"))
    out = subprocess.run([ctl, "-d", nodes[0].data_dir, "ksk", "submitted", ZONE], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0 and out.stdout.startswith(f"OK zone {ZONE}: the new KSK is active"), out
    deadline = time.monotonic() + 30
    while not all(ksks(n) == new_ksk for n in nodes):
        assert time.monotonic() < deadline, f"the old KSK still published: {[ksks(n) for n in nodes]}"
        assert_validated(new_unbound, "www." + ZONE, "A")
        time.sleep(0.3)
    assert all(cds_rrset(n) == [new_ds] for n in nodes)
    assert dnskey_signers(nodes[1]) == [int(new_ds.split()[0])]
    for name, rdtype in (("www." + ZONE, "A"), ("nothere." + ZONE, "A"), (ZONE, "DNSKEY"), (ZONE, "CDS")):
        assert_validated(new_unbound, name, rdtype)
    # The control: the old DS alone no longer leads to a key of the zone.
    r = wait_for(lambda: old_unbound.ask("www." + ZONE, "A"), 10, "the old validator answering")
    assert r.rcode() == dns.rcode.SERVFAIL and not r.flags & dns.flags.AD, r
    assert nodes[2].command(f"KSK SUBMITTED {ZONE}") == \
        f"ERROR: zone {ZONE}: no KSK roll is in progress (KSK ROLL starts one)"
    # The tests after this one validate with the new DS.
    signed["unbound"], signed["ds"] = new_unbound, new_ds


def test_delv_agrees(signed):
    cluster = signed["cluster"]
    anchors = os.path.join(signed["work"], "anchors.conf")
    tag, alg, digest_type, digest = signed["ds"].split()
    with open(anchors, "w") as f:
        f.write(f'trust-anchors {{ "{ZONE}" static-ds {tag} {alg} {digest_type} "{digest}"; }};\n')
    out = subprocess.run(["delv", "-a", anchors, f"+root={ZONE}", "-p", str(cluster.nodes[0].query_port),
                          "@127.0.0.1", "www." + ZONE, "A"], capture_output=True, text=True, timeout=30)
    assert "fully validated" in out.stdout + out.stderr, out.stdout + out.stderr


def test_still_validated_after_the_leader_is_killed(signed):
    cluster, u = signed["cluster"], signed["unbound"]
    before = ksk_of(dnskey_rrset(cluster.nodes[0]))
    leader = cluster.leader()
    leader.kill()
    rest = cluster.live()
    wait_for(lambda: cluster.leader(among=rest), 30, "a new leader")
    # The new leader does not make new keys: the cluster already has them.
    time.sleep(2)
    assert all(ksk_of(dnskey_rrset(n)) == before for n in rest)
    assert_validated(u, "www." + ZONE, "A")
    assert_validated(u, "nothere." + ZONE, "A")
    assert rest[0].command(f"ADD: after.{ZONE} 60 A 192.0.2.8").startswith("OK")
    wait_for(lambda: assert_validated(u, "after." + ZONE, "A").answer, 15, "a record added after the kill validated")


def test_a_validator_with_another_anchor_refuses_the_answers(signed):
    """The control: the AD bits above come from validation, not from trust.
    With a DS that matches no key of the zone, unbound answers SERVFAIL."""
    tag, alg, digest_type, digest = signed["ds"].split()
    wrong = f"{tag} {alg} {digest_type} {'0' * len(digest)}"
    work = os.path.join(signed["work"], "wrong")
    os.mkdir(work)
    u = Unbound(work, wrong, signed["cluster"].live(), check_ready=False)
    try:
        r = wait_for(lambda: u.ask("www." + ZONE, "A"), 20, "unbound answering")
        assert r.rcode() == dns.rcode.SERVFAIL, dns.rcode.to_text(r.rcode())
        assert not r.flags & dns.flags.AD
    finally:
        u.stop()


def test_a_record_altered_on_one_nodes_disk_is_detected_never_served_as_valid(signed):
    """A byte of a record's data flipped in a stopped node's log: the node
    refuses to start, naming the file, rather than serve the altered record
    (which it would sign, and a validator would then accept)."""
    cluster, u = signed["cluster"], signed["unbound"]
    live = cluster.live()
    victim = live[-1]
    address = bytes([192, 0, 2, 123])
    assert victim.command(f"ADD: tampered.{ZONE} 60 A 192.0.2.123").startswith("OK")
    victim.stop()
    hits = []
    for path in glob.glob(os.path.join(victim.data_dir, "raft", "*")):
        with open(path, "rb") as f:
            data = f.read()
        if data.count(address) == 1:
            hits.append((path, data.index(address)))
    assert len(hits) == 1, f"the record's data is not in exactly one file of {victim.data_dir}: {hits}"
    path, offset = hits[0]
    with open(path, "r+b") as f:
        f.seek(offset + 3)
        f.write(bytes([124]))  # 192.0.2.123 becomes 192.0.2.124
    before = os.path.getsize(victim.log_path)
    victim.start(wait=False)
    try:
        victim.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the node started on an altered log; it answers {victim.addresses('tampered.' + ZONE)}")
    assert victim.proc.returncode != 0
    with open(victim.log_path) as f:
        f.seek(before)
        log = f.read()
    assert os.path.basename(path) in log, log
    assert "serving" not in log, log
    # The other nodes still serve the record as it was committed, validated.
    wait_for(lambda: assert_validated(u, "tampered." + ZONE, "A").answer, 15, "the committed record validated")
    assert addresses(assert_validated(u, "tampered." + ZONE, "A")) == ["192.0.2.123"]
