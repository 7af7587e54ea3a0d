"""A dns-node cluster acting as the primary of real secondaries (BIND 9,
Knot DNS, NSD), each started on loopback high ports with its own config in
the test's directory, and helpers to drive changes and compare zones."""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update

from harness import Cluster, free_port

XFR_KEY = "xfr-key."
XFR_SECRET = base64.b64encode(b"a transfer key secret of 32 byte").decode()
ADMIN_KEY = "admin-key."
ADMIN_SECRET = base64.b64encode(b"an admin key for the http api 32").decode()


def xfr_cluster(workdir, size=3, transfer=None, zones=None, catalog=None, journal=None, zone_extra=None, http=True):
    """A Cluster whose config gives each node an http_loc, TSIG keys for
    transfers and the HTTP API, unsigned UPDATE from loopback, and the given
    transfer settings."""
    c = Cluster(workdir, size, zone_extra=zone_extra)
    with open(c.config_path) as f:
        config = json.load(f)
    for n in c.nodes:
        n.http_port = free_port() if http else None
        if http:
            config["nodes"][str(n.id)]["http_loc"] = f"127.0.0.1:{n.http_port}"
    config["tsig_keys"] = [{"name": XFR_KEY, "algorithm": "hmac-sha256", "secret": XFR_SECRET},
                           {"name": ADMIN_KEY, "algorithm": "hmac-sha256", "secret": ADMIN_SECRET, "role": "admin"}]
    config["update"] = {"allow_unsigned_from": ["127.0.0.0/8"]}
    # RRL is on by default: the secondaries query from 127.0.0.2-4, the test from 127.0.0.1.
    config["rrl"] = {"exempt_clients": ["127.0.0.0/8", "::1/128"]}
    config["transfer"] = transfer or {"allow": ["127.0.0.0/8"]}
    if zones:
        config["zones"] = zones
    if catalog:
        config["catalog"] = catalog
    if journal:
        config["journal"] = journal
    with open(c.config_path, "w") as f:
        json.dump(config, f, indent=1)
    return c


def set_notify(cluster, targets):
    """Rewrites the cluster's transfer.notify (before start)."""
    with open(cluster.config_path) as f:
        config = json.load(f)
    config.setdefault("transfer", {})["notify"] = targets
    with open(cluster.config_path, "w") as f:
        json.dump(config, f, indent=1)


def soa_serial(port, zone, timeout=1.0, host="127.0.0.1"):
    """The SOA serial a server on host:port answers for zone (over UDP), or None."""
    try:
        r = dns.query.udp(dns.message.make_query(zone, "SOA"), host, port=port, timeout=timeout)
    except Exception:
        return None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def axfr_lines(port, zone, key=None, tool="dig", timeout=60, host="127.0.0.1"):
    """The zone as a server on host:port sends it by AXFR, as sorted
    'name ttl class type rdata' lines (the SOA once), with `tool` dig or kdig."""
    if tool == "dig":
        args = ["dig", "-p", str(port), f"@{host}", zone, "AXFR", "+nocmd", "+nostats", "+nocomments", "+onesoa",
                "+tries=1", f"+time={timeout}"]
        if key:
            args += ["-y", f"hmac-sha256:{key[0]}:{key[1]}"]
    else:
        args = ["kdig", "-p", str(port), f"@{host}", zone, "AXFR", "+nostats", "+nocomments",
                f"+time={timeout}", "+retry=0"]
        if key:
            args += ["-y", f"hmac-sha256:{key[0]}:{key[1]}"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 10)
    lines = set()
    soas = 0
    for line in out.stdout.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        fields = line.split(None, 4)
        if len(fields) < 5:
            continue
        if fields[3] == "TSIG":
            continue
        if fields[3] == "SOA":
            soas += 1
        lines.add(" ".join([fields[0].lower(), fields[1], fields[2], fields[3], fields[4]]))
    return sorted(lines), out


def wait_serial(port, zone, serial, timeout, host="127.0.0.1"):
    """Waits until the server answers `serial` (RFC 1982: or newer) for zone; returns seconds taken."""
    start = time.time()
    last = None
    while time.time() - start < timeout:
        last = soa_serial(port, zone, timeout=0.3, host=host)
        if last is not None and (last == serial or 0 < ((last - serial) % 2**32) < 2**31):
            return time.time() - start
        time.sleep(0.02)
    raise AssertionError(f"serial {serial} of {zone} not on port {port} within {timeout}s (last {last})")


class Secondary:
    """One outside secondary server process, listening and sending its
    queries from its own loopback address (`addr`), so the primary's log
    tells its transfers apart from another secondary's."""

    kind = "?"

    # BIND listens only on addresses its interface scan finds (127.0.0.1 on
    # lo), though it sends from any address it is given.
    listens_on_any_loopback = True

    def __init__(self, workdir, primaries, zones, catalog=None, key=None, addr="127.0.0.1"):
        self.addr = addr  # where its queries and transfers come from
        self.listen = addr if self.listens_on_any_loopback else "127.0.0.1"
        self.dir = os.path.join(str(workdir), f"{self.kind}-{free_port()}")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port(self.listen)
        self.primaries = primaries  # [(host, port)]
        self.zones = zones
        self.catalog = catalog
        self.key = key  # (name, secret) to sign transfer requests, or None
        self.proc = None
        self.log_path = os.path.join(self.dir, "log.txt")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def serial(self, zone):
        return soa_serial(self.port, zone, host=self.listen)

    def wait_serial(self, zone, serial, timeout):
        return wait_serial(self.port, zone, serial, timeout, host=self.listen)

    def axfr_lines(self, zone):
        return axfr_lines(self.port, zone, host=self.listen)[0]

    @property
    def target(self):
        """This secondary as a NOTIFY target ("addr:port")."""
        return f"{self.listen}:{self.port}"

    def start(self):
        self.write_config()
        self.log_file = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.command(), stdout=self.log_file, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                dns.query.udp(dns.message.make_query("probe.invalid.", "A"), self.listen, port=self.port, timeout=0.2)
                return self
            except Exception:
                time.sleep(0.1)
        raise AssertionError(f"{self.kind} not answering on {self.port}:\n{self.log()[-3000:]}")

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log_file.close()


class Bind(Secondary):
    kind = "bind"
    listens_on_any_loopback = False

    def write_config(self):
        key = ""
        if self.key:
            key = f'key "{self.key[0].rstrip(".")}" {{ algorithm hmac-sha256; secret "{self.key[1]}"; }};\n'
        prims = " ".join(f"{h} port {p}" + (f' key "{self.key[0].rstrip(".")}"' if self.key else "") + ";"
                         for h, p in self.primaries)
        zones = ""
        for z in self.zones:
            zones += (f'zone "{z}" {{ type secondary; primaries {{ {prims} }}; file "{z}db"; '
                      f'allow-notify {{ 127.0.0.1; }}; }};\n')
        catalog = ""
        if self.catalog:
            zones += (f'zone "{self.catalog}" {{ type secondary; primaries {{ {prims} }}; file "{self.catalog}db"; '
                      f'allow-notify {{ 127.0.0.1; }}; }};\n')
            catalog = (f'catalog-zones {{ zone "{self.catalog}" default-primaries {{ {prims} }} '
                       f'zone-directory "{self.dir}" in-memory no; }};\n')
        conf = f"""{key}options {{
  directory "{self.dir}";
  pid-file "{self.dir}/named.pid";
  session-keyfile "{self.dir}/session.key";
  managed-keys-directory "{self.dir}";
  listen-on port {self.port} {{ {self.listen}; }};
  transfer-source {self.addr};
  query-source address {self.addr};

  listen-on-v6 {{ none; }};
  recursion no;
  notify no;
  allow-transfer {{ 127.0.0.0/8; }};
  dnssec-validation no;
  ixfr-from-differences no;
  transfers-in 10;
  serial-query-rate 1000;
  startup-notify-rate 1000;
  min-refresh-time 300;
  {catalog}
}};
controls {{ }};
logging {{ category default {{ default_stderr; }}; category xfer-in {{ default_stderr; }}; category notify {{ default_stderr; }};
  channel default_stderr {{ stderr; severity info; print-time yes; }}; }};
{zones}"""
        self.conf = os.path.join(self.dir, "named.conf")
        with open(self.conf, "w") as f:
            f.write(conf)

    def command(self):
        return ["named", "-g", "-c", self.conf, "-n", "1"]


class Knot(Secondary):
    kind = "knot"

    def write_config(self):
        remotes = "".join(f"  - id: p{i}\n    address: {h}@{p}\n    via: {self.addr}\n" +
                          (f"    key: {self.key[0]}\n" if self.key else "")
                          for i, (h, p) in enumerate(self.primaries))
        ids = ", ".join(f"p{i}" for i in range(len(self.primaries)))
        keys = ""
        if self.key:
            keys = f"key:\n  - id: {self.key[0]}\n    algorithm: hmac-sha256\n    secret: {self.key[1]}\n"
        zones = "".join(f"  - domain: {z}\n    master: [{ids}]\n    acl: notify_in\n" for z in self.zones)
        catalog_tpl = ""
        if self.catalog:
            zones += (f"  - domain: {self.catalog}\n    master: [{ids}]\n    acl: notify_in\n"
                      f"    catalog-role: interpret\n    catalog-template: member\n")
            catalog_tpl = (f"  - id: member\n    master: [{ids}]\n    acl: notify_in\n"
                           f"    storage: {self.dir}\n    zonefile-sync: -1\n    journal-content: all\n")
        conf = f"""server:
  rundir: {self.dir}
  listen: {self.addr}@{self.port}
log:
  - target: stdout
    any: info
database:
  storage: {self.dir}
{keys}remote:
{remotes}acl:
  - id: notify_in
    address: 127.0.0.0/8
    action: [notify, transfer]
template:
  - id: default
    storage: {self.dir}
    zonefile-sync: -1
    journal-content: all
    refresh-min-interval: 300
{catalog_tpl}zone:
{zones}"""
        self.conf = os.path.join(self.dir, "knot.conf")
        with open(self.conf, "w") as f:
            f.write(conf)

    def command(self):
        return ["knotd", "-c", self.conf]


class Nsd(Secondary):
    kind = "nsd"

    def write_config(self):
        key = ""
        keyname = "NOKEY"
        if self.key:
            key = f'key:\n  name: "{self.key[0]}"\n  algorithm: hmac-sha256\n  secret: "{self.key[1]}"\n'
            keyname = self.key[0]
        zones = ""
        for z in self.zones:
            zones += f"zone:\n  name: {z}\n  zonefile: {z}zone\n  outgoing-interface: {self.addr}\n"
            for h, p in self.primaries:
                zones += f"  request-xfr: {h}@{p} {keyname}\n  allow-notify: {h} NOKEY\n"
            zones += "  provide-xfr: 127.0.0.0/8 NOKEY\n"
        conf = f"""server:
  ip-address: {self.addr}@{self.port}
  port: {self.port}
  zonesdir: "{self.dir}"
  database: ""
  zonelistfile: "{self.dir}/zone.list"
  xfrdfile: "{self.dir}/xfrd.state"
  xfrdir: "{self.dir}"
  pidfile: "{self.dir}/nsd.pid"
  username: ""
  chroot: ""
  verbosity: 2
  logfile: "{self.log_path}"
  xfrd-reload-timeout: 0
remote-control:
  control-enable: no
{key}{zones}"""
        self.conf = os.path.join(self.dir, "nsd.conf")
        with open(self.conf, "w") as f:
            f.write(conf)

    def command(self):
        return ["nsd", "-d", "-c", self.conf]


SERVERS = {"bind": Bind, "knot": Knot, "nsd": Nsd}


def have(kind):
    return shutil.which({"bind": "named", "knot": "knotd", "nsd": "nsd"}[kind]) is not None
